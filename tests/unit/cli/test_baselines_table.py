"""`kubegym tasks baseline --all | --suite | NAMES`: one table, JSON or Markdown, Ctrl-C safe.

The tasks are real (kubegym's example tasks and one-change variants, built by
`tests.unit.local.baseline_catalog`) and run through the real sandbox and evaluator.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubegym.api import baselines as baselines_api
from kubegym.cli import main
from kubegym.local import baselines
from kubegym.tasks import catalog
from tests.unit.local import baseline_catalog

FIXTURES = ["polyfit", "xor-blobs", "polyfit-unpreparable", "polyfit-gpu"]


def checkout_tasks() -> list[str]:
    """The tasks of this checkout's task_images/, which a unit test must not run."""
    return sorted(catalog.discover([Path(__file__).resolve().parents[3] / "task_images"]))


def test_all_writes_one_table_past_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = baseline_catalog.build(tmp_path, FIXTURES)
    monkeypatch.setenv("KUBEGYM_TASK_PATH", str(folder))
    monkeypatch.chdir(tmp_path)
    skips = [f"--skip={name}=not a unit test's job" for name in checkout_tasks()]
    out = tmp_path / "table.json"
    result = CliRunner().invoke(
        main, ["tasks", "baseline", "--all", "--json", "--out", str(out), *skips]
    )
    assert result.exit_code == 1, result.output  # one task could not run: not all scored
    table = baselines_api.BaselineTable.model_validate_json(result.stdout)
    assert out.read_text() == result.stdout  # --out holds the same table
    rows = {row.task: row for row in table.rows}
    assert set(rows) == {*FIXTURES, *checkout_tasks()}
    assert rows["polyfit"].status == rows["xor-blobs"].status == "measured"
    assert rows["polyfit-unpreparable"].status == "error"
    assert "the source is gone" in (rows["polyfit-unpreparable"].reason or "")
    if not baselines.find_gpus():
        assert rows["polyfit-gpu"].status == "skipped"
        assert "this machine has none" in (rows["polyfit-gpu"].reason or "")
    for name in checkout_tasks():
        assert (rows[name].status, rows[name].reason) == ("skipped", "not a unit test's job")
    assert table.budget == 1.0 and table.machine.cpus >= 1 and not table.interrupted
    assert table.kubegym_commit is None or len(table.kubegym_commit.split("+")[0]) == 40
    # Progress went to stderr, one line per task's end, and the data to stdout only.
    assert "[1/" in result.stderr and "polyfit: r2 0.4416" in result.stderr
    assert "[1/" not in result.stdout


def test_a_suite_in_markdown_and_back_from_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = baseline_catalog.build(tmp_path, ["polyfit", "xor-blobs"], suite="two")
    (folder / "mlgym-baselines.yaml").write_text(
        "tasks:\n  polyfit: {mlgym_task: polyFit, metric: r2, score: 0.5}\n"
    )
    monkeypatch.setenv("KUBEGYM_TASK_PATH", str(folder))
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "two.json"
    ran = CliRunner().invoke(
        main, ["tasks", "baseline", "--suite", "two", "--validation", "test", "--out", str(out)]
    )
    assert ran.exit_code == 0, ran.output
    assert ran.stdout.splitlines()[1].startswith("polyfit: r2 0.4416")
    shown = CliRunner().invoke(main, ["tasks", "baseline", "--from", str(out), "--markdown"])
    assert shown.exit_code == 0, shown.output
    assert "| polyfit | r2 ↑ | 0.5000 | 0.4416 | 0.4416 | yes |" in shown.stdout
    assert "| xor-blobs |" in shown.stdout
    again = CliRunner().invoke(main, ["tasks", "baseline", "--from", str(out), "--json"])
    assert json.loads(again.stdout) == json.loads(out.read_text())
    assert json.loads(again.stdout)["validation"] == "test"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["tasks", "baseline"], "name the tasks, or give --all or --suite"),
        (
            ["tasks", "baseline", "--all", "--suite", "x"],
            "name the tasks, or give --all or --suite",
        ),
        (["tasks", "baseline", "--all", "--skip", "no-such-task"], "--skip names no chosen task"),
        (["tasks", "baseline", "--suite", "no-such-suite"], "unknown suite"),
        (["tasks", "baseline", "--all", "--budget", "0"], "--budget must be positive"),
        (["tasks", "baseline", "--all", "--json", "--markdown"], "choose one of --json"),
        (["tasks", "baseline", "--all", "--out", "/no/such/folder/t.json"], "no folder /no/such"),
    ],
)
def test_bad_options_get_one_clear_line(args: list[str], expected: str) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code != 0
    assert expected in result.stderr
    assert "Traceback" not in result.output


def test_ctrl_c_keeps_the_finished_rows(tmp_path: Path) -> None:
    folder = baseline_catalog.build(tmp_path, ["polyfit", "polyfit-slow", "xor-blobs"])
    out = tmp_path / "table.json"
    env = {**os.environ, "KUBEGYM_TASK_PATH": str(folder)}
    command = [sys.executable, "-m", "kubegym", "tasks", "baseline", "--suite", "fixture"]
    process = subprocess.Popen(
        [*command, "--json", "--out", str(out)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (out.is_file() and "polyfit" in out.read_text()):
        time.sleep(0.2)
    time.sleep(2)  # polyfit-slow is in its ten-minute sleep now
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-2000:]
    table = baselines_api.read(out)
    assert table.interrupted
    assert [(row.task, row.status) for row in table.rows] == [("polyfit", "measured")]
    assert json.loads(stdout) == json.loads(out.read_text())
    assert "interrupted" in stderr
