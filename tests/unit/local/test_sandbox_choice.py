"""Choosing the sandbox: bubblewrap by default, a clear stop without it, `process` as a loud opt-in."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubegym.cli import main


def small_run(tmp_path: Path, repo: Path) -> Path:
    (tmp_path / "tasks").symlink_to(repo / "examples" / "tasks")
    (tmp_path / "run.yaml").write_text(
        "apiVersion: kubegym.io/v1alpha1\nkind: BenchmarkRun\nmetadata: {name: choice}\n"
        "spec:\n  tasks: {names: [xor-blobs]}\n  agents: [{name: baseline, builtin: baseline}]\n"
        "  retryPolicy: {infraRetries: 0}\n"
    )
    return tmp_path / "run.yaml"


def test_without_bubblewrap_the_run_stops_with_the_install_command(
    tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_file = small_run(tmp_path, repo)
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no bwrap to be found
    result = CliRunner().invoke(main, ["run", str(run_file), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "apt-get install bubblewrap" in result.stderr
    assert "--sandbox process" in result.stderr
    assert not list((tmp_path / "out").glob("trials/*/results.json"))


def test_the_process_sandbox_runs_and_says_it_is_not_isolated(tmp_path: Path, repo: Path) -> None:
    run_file = small_run(tmp_path, repo)
    out = tmp_path / "out"
    with pytest.warns(UserWarning, match="WITHOUT isolation"):
        result = CliRunner().invoke(
            main, ["run", str(run_file), "--out", str(out), "--sandbox", "process", "--json"]
        )
    assert result.exit_code == 0, result.output
    (trial,) = json.loads(result.stdout)["trials"]
    assert trial["score"] == pytest.approx(0.56)
    (results,) = out.glob("trials/*/results.json")
    assert json.loads(results.read_text())["details"]["sandbox"]["isolated"] is False
    assert shutil.which("bwrap")  # the default stays isolated where bubblewrap exists
