"""`kubegym validate` and `kubegym crds` from the command line."""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kubegym.cli import main
from tests.unit.api.samples import RUN, TASK, dump


def break_file(edit: Callable[[dict[str, Any], dict[str, Any]], None]) -> str:
    task, run = copy.deepcopy(TASK), copy.deepcopy(RUN)
    edit(task, run)
    return dump(task, run)


MALFORMED = {
    "missing primary metric": (
        lambda t, r: t["spec"]["evaluation"].pop("primaryMetric"),
        "Task/toy: spec.evaluation.primaryMetric: required field is missing",
    ),
    "seeds 0": (
        lambda t, r: r["spec"].update(seeds=0),
        "BenchmarkRun/demo: spec.seeds: Input should be greater than or equal to 1 (got 0)",
    ),
    "unknown field": (
        lambda t, r: r["spec"].update(paralellism=2),
        "BenchmarkRun/demo: spec.paralellism: unknown field (hint: did you mean 'parallelism'?)",
    ),
    "wrong type": (
        lambda t, r: r["spec"].update(budgetUsd="lots"),
        "BenchmarkRun/demo: spec.budgetUsd: Input should be a valid number",
    ),
    "two stores": (
        lambda t, r: r["spec"]["store"].update(s3={"bucket": "results"}),
        "BenchmarkRun/demo: spec.store: choose exactly one store: s3 or local",
    ),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_each_malformed_file_gets_one_clear_line(case: str, tmp_path: Path) -> None:
    edit, expected = MALFORMED[case]
    path = tmp_path / "run.yaml"
    path.write_text(break_file(edit))
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == "1 problem(s)"
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"{path}:")
    assert expected in lines[0]
    assert "Traceback" not in result.output


def test_a_good_file_says_ok(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(dump(TASK, RUN))
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"{path}: ok (Task/toy, BenchmarkRun/demo)"


def test_json_lists_problems(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(break_file(lambda t, r: r["spec"].update(seeds=0, parallelism=0)))
    result = CliRunner().invoke(main, ["validate", "--json", str(path)])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert sorted(p["field"] for p in report["problems"]) == ["spec.parallelism", "spec.seeds"]
    assert all(p["line"] for p in report["problems"])


def test_a_missing_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    assert "no such file" in result.stderr


def test_every_example_validates(repo: Path) -> None:
    examples = sorted((repo / "examples").glob("**/*.yaml"))
    assert examples
    result = CliRunner().invoke(main, ["validate", *map(str, examples)])
    assert result.exit_code == 0, result.output


def test_crds_check_catches_a_stale_file(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "crds"
    shutil.copytree(repo / "crds", out)
    assert CliRunner().invoke(main, ["crds", "--out", str(out), "--check"]).exit_code == 0
    stale = next(out.glob("*trials.yaml"))
    stale.write_text(stale.read_text().replace("Phase", "Stage"))
    result = CliRunner().invoke(main, ["crds", "--out", str(out), "--check"])
    assert result.exit_code == 1
    assert "stale CRDs" in result.stderr and stale.name in result.stderr


def test_crds_to_stdout_is_a_multi_document_stream() -> None:
    import yaml

    result = CliRunner().invoke(main, ["crds"])
    assert result.exit_code == 0
    docs = list(yaml.safe_load_all(result.stdout))
    assert [d["spec"]["names"]["kind"] for d in docs] == ["BenchmarkRun", "Task", "Trial"]
