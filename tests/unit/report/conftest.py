"""Runs for the report's tests: a real quickstart run (once per session) and the tiny hand-made run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubegym.cli import main
from tests.unit.report.tiny_run import write_tiny_run

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def quickstart_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The quickstart run by `kubegym run`, as a user would have it (12 trials, ~15 s)."""
    out = tmp_path_factory.mktemp("quickstart-run")
    result = CliRunner().invoke(
        main, ["run", str(REPO / "examples" / "quickstart.yaml"), "--out", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["phase"] == "Succeeded"
    return out


@pytest.fixture
def tiny_run(tmp_path: Path) -> Path:
    """The hand-made run of `tiny_run` in a fresh folder."""
    return write_tiny_run(tmp_path / "tiny")
