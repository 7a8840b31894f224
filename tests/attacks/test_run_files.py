"""Attacks with bad run files (issue 11, point 10): each is refused, naming the field, and nothing starts.

Every attack writes a run file that differs from a valid one (the polyfit task
of examples/tasks inline, plus a BenchmarkRun) in one hostile way, then goes
through the real command line: `kubegym validate FILE` must exit 1 with one
line naming the file, line and field; `kubegym run FILE --out OUT` must exit
non-zero before anything starts (OUT is never created) and print no traceback.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from kubegym.cli import main

REPO = Path(__file__).resolve().parents[2]
TASK: dict[str, Any] = yaml.safe_load(
    (REPO / "examples" / "tasks" / "polyfit" / "task.yaml").read_text(encoding="utf-8")
)
RUN: dict[str, Any] = {
    "apiVersion": "kubegym.io/v1alpha1",
    "kind": "BenchmarkRun",
    "metadata": {"name": "attack"},
    "spec": {
        "tasks": {"names": ["polyfit"]},
        "agents": [{"name": "baseline", "builtin": "baseline"}],
        "seeds": 1,
    },
}


def run_file(tmp_path: Path, edit: Callable[[dict[str, Any], dict[str, Any]], None]) -> Path:
    task, run = copy.deepcopy(TASK), copy.deepcopy(RUN)
    edit(task, run)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump_all([task, run], sort_keys=False), encoding="utf-8")
    return path


def refused(path: Path, tmp_path: Path, field: str) -> tuple[Result, Result]:
    """Assert validate and run both refuse `path` naming `field`; return both results."""
    checked = CliRunner().invoke(main, ["validate", str(path)])
    assert checked.exit_code == 1, checked.output
    assert checked.exception is None or isinstance(checked.exception, SystemExit)
    problems = checked.stderr.strip().splitlines()[:-1]
    assert any(line.startswith(f"{path}:") and f": {field}: " in line for line in problems), (
        problems
    )
    out = tmp_path / "out"
    started = CliRunner().invoke(main, ["run", str(path), "--out", str(out)])
    assert started.exit_code != 0, started.output
    assert isinstance(started.exception, SystemExit), started.exception  # no traceback
    assert "Traceback" not in started.output
    assert field in started.stderr
    assert not out.exists(), "the run started"
    return checked, started


def test_the_unchanged_file_is_valid(tmp_path: Path) -> None:
    """Control for the attacks below: the file they break passes `kubegym validate`."""
    path = run_file(tmp_path, lambda t, r: None)
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 0, result.output


def test_two_agents_with_one_name_are_refused(tmp_path: Path) -> None:
    """Attack 10: two agents named alike would share trial names and merge on the leaderboard.

    Guarantee: refused by validate and run, naming spec.agents[1].name; nothing starts.
    """

    def twin(task: dict[str, Any], run: dict[str, Any]) -> None:
        run["spec"]["agents"].append({"name": "baseline", "builtin": "replay", "replayPath": "x"})

    refused(run_file(tmp_path, twin), tmp_path, "spec.agents[1].name")


@pytest.mark.parametrize(
    ("where", "field"),
    [
        (("evaluation", "script"), "spec.evaluation.script"),
        (("starterCode", "path"), "spec.starterCode.path"),
        (("evaluation", "submission", "path"), "spec.evaluation.submission.path"),
        (("preparation", "script"), "spec.preparation.script"),
        (("datasets", 0, "path"), "spec.datasets[0].path"),
        (("validationData", 0, "path"), "spec.validationData[0].path"),
        (("evaluation", "testData", 0, "path"), "spec.evaluation.testData[0].path"),
    ],
)
@pytest.mark.parametrize("escape", ["../../../etc/passwd", "/etc/passwd", "data/../../x"])
def test_task_paths_that_leave_the_task_folder_are_refused(
    tmp_path: Path, where: tuple[str | int, ...], field: str, escape: str
) -> None:
    """Attack 10: a Task points its evaluation script, starter code, submission, preparation
    or data outside its folder (`..` or an absolute path), to run or read another file.

    Guarantee: refused by validate and run, naming the path's field; nothing starts.
    """

    def point_outside(task: dict[str, Any], run: dict[str, Any]) -> None:
        node: Any = task["spec"]
        for key in where[:-1]:
            node = node[key] if isinstance(key, int) else node.setdefault(key, {})
        node[where[-1]] = escape

    refused(run_file(tmp_path, point_outside), tmp_path, field)


def test_a_duplicate_yaml_key_is_refused_with_its_line(tmp_path: Path) -> None:
    """Attack 10: `seeds: 1` then `seeds: 100` — YAML silently keeps the last, so a reviewer
    reading the first is misled.

    Guarantee: refused naming spec.seeds and the second key's line; nothing starts.
    """
    path = run_file(tmp_path, lambda t, r: None)
    text = path.read_text(encoding="utf-8").replace("  seeds: 1\n", "  seeds: 1\n  seeds: 100\n")
    path.write_text(text, encoding="utf-8")
    line = text.splitlines().index("  seeds: 100") + 1
    checked, _ = refused(path, tmp_path, "spec.seeds")
    assert f"{path}:{line}: BenchmarkRun/attack: spec.seeds: the key 'seeds' appears twice" in (
        checked.stderr
    )


def test_a_file_that_is_not_utf8_gets_an_error_not_a_traceback(tmp_path: Path) -> None:
    """Attack 10: a Latin-1 byte in a run file crashed `kubegym validate` with a traceback.

    Guarantee: one clear line naming the file and line, exit 1; `kubegym run` starts nothing.
    """
    path = run_file(tmp_path, lambda t, r: None)
    data = path.read_bytes().replace(b"name: attack", b"name: attack # caf\xe9", 1)
    path.write_bytes(data)
    line = data[: data.index(b"\xe9")].count(b"\n") + 1
    checked = CliRunner().invoke(main, ["validate", str(path)])
    assert checked.exit_code == 1
    assert isinstance(checked.exception, SystemExit)
    assert f"{path}:{line}: not UTF-8 text: byte 0xe9" in checked.stderr
    out = tmp_path / "out"
    started = CliRunner().invoke(main, ["run", str(path), "--out", str(out)])
    assert started.exit_code == 1 and isinstance(started.exception, SystemExit)
    assert "not UTF-8" in started.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("resource", "value"),
    [("cpu", "-1"), ("cpu", -2), ("memory", "-1Gi"), ("ephemeralStorage", "0"), ("cpu", "0m")],
)
def test_a_negative_or_zero_quantity_is_refused(tmp_path: Path, resource: str, value: Any) -> None:
    """Attack 10: a negative (or zero) CPU, memory or disk request, which the local jail would
    turn into no limit at all.

    Guarantee: refused naming spec.resources.<field>; nothing starts.
    """

    def bad_quantity(task: dict[str, Any], run: dict[str, Any]) -> None:
        task["spec"].setdefault("resources", {})[resource] = value

    refused(run_file(tmp_path, bad_quantity), tmp_path, f"spec.resources.{resource}")


def test_an_empty_run_file_is_an_error(tmp_path: Path) -> None:
    """Attack 10: an empty run file (a truncated download, a wrong path) exited 0 as if it ran.

    Guarantee: validate and run exit non-zero and say the file is empty; nothing starts.
    """
    path = tmp_path / "run.yaml"
    path.write_text("# nothing here\n", encoding="utf-8")
    checked = CliRunner().invoke(main, ["validate", str(path)])
    assert checked.exit_code == 1
    assert "holds no Task or BenchmarkRun" in checked.stderr
    out = tmp_path / "out"
    started = CliRunner().invoke(main, ["run", str(path), "--out", str(out)])
    assert started.exit_code == 1 and isinstance(started.exception, SystemExit)
    assert "holds no Task or BenchmarkRun" in started.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        pytest.param(
            lambda t, r: r["spec"].update(budgetUsd=float("nan")), "spec.budgetUsd", id="nan-budget"
        ),
        pytest.param(
            lambda t, r: t["spec"]["baselineScores"].update(r2=float("-inf")),
            "spec.baselineScores.r2",
            id="inf-baseline",
        ),
        pytest.param(
            lambda t, r: r["spec"]["tasks"].update(names=["polyfit", "polyfit"]),
            "spec.tasks.names[1]",
            id="task-twice",
        ),
        pytest.param(
            lambda t, r: r["spec"]["agents"][0].update(sampling={"seed": -1}),
            "spec.agents[0].sampling.seed",
            id="negative-seed",
        ),
        pytest.param(
            lambda t, r: t["spec"]["evaluation"]["metrics"].append(
                {"name": "r2", "direction": "min"}
            ),
            "spec.evaluation.metrics[2].name",
            id="metric-twice",
        ),
        pytest.param(
            lambda t, r: t["spec"]["datasets"].append(dict(t["spec"]["datasets"][0])),
            "spec.datasets[2].name",
            id="dataset-twice",
        ),
    ],
)
def test_more_bad_values_are_refused(
    tmp_path: Path, edit: Callable[[dict[str, Any], dict[str, Any]], None], field: str
) -> None:
    """Attack 10 (more of the kind): NaN or infinite numbers (a NaN baseline makes every
    score feasible), a task listed twice (double weight in the AUP), a negative sampling
    seed, two metrics or datasets with one name (which one is scored?).

    Guarantee: refused naming the field; nothing starts.
    """
    refused(run_file(tmp_path, edit), tmp_path, field)


def test_a_document_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    """Attack 10 (more of the kind): a document that is a list or a string is not an object.

    Guarantee: validate names the document's line; run starts nothing.
    """
    path = run_file(tmp_path, lambda t, r: None)
    path.write_text(path.read_text(encoding="utf-8") + "---\n- kind: Task\n", encoding="utf-8")
    checked = CliRunner().invoke(main, ["validate", str(path)])
    assert checked.exit_code == 1
    line = path.read_text(encoding="utf-8").splitlines().index("- kind: Task") + 1
    assert f"{path}:{line}: a document must be a mapping" in checked.stderr
    out = tmp_path / "out"
    started = CliRunner().invoke(main, ["run", str(path), "--out", str(out)])
    assert started.exit_code == 1 and not out.exists()
