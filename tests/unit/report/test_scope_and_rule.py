"""`kubegym report` scores a run under the best-submission rule the run recorded, and says
what its AUPs were computed over."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kubegym import rollups
from kubegym.cli import main
from tests.unit.rollups.test_best_submission_rule import VALIDATED, finish, never_submitted
from tests.unit.rollups.test_both_runtimes import local_run, records


@pytest.fixture
def mlgym_run(tmp_path: Path) -> tuple[Path, str, str]:
    """A local run under MLGym's rule whose first (task, agent) never submitted validly:
    its folder, and that task and agent."""
    run = local_run(tmp_path / "run")
    run.run.spec.best_submission = "last-score"
    task, agent, made = never_submitted(records(run))
    return finish(run, made), task, agent


def report(run: Path, out: Path) -> dict[str, Any]:
    result = CliRunner().invoke(main, ["report", str(run), "--format", "json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads((out / "report.json").read_text())
    return document


def test_the_report_reproduces_a_run_scored_under_mlgyms_rule(
    mlgym_run: tuple[Path, str, str], tmp_path: Path
) -> None:
    run, task, agent = mlgym_run
    recorded = json.loads((run / rollups.LEADERBOARD_JSON).read_text())
    document = report(run, tmp_path / "report")
    assert document["leaderboard"] == recorded
    assert recorded["scope"]["best_submission"] == "last-score"
    # The validate that ended the trials is their submission: the report used the run's rule.
    assert document["leaderboard"]["tasks"][task][agent]["best_submission"] == VALIDATED
    assert "reproduces the run's leaderboard.json exactly" in " ".join(document["notes"])
    caption = document["tables"]["scores_best_submission"]["caption"]
    assert "best submission (last-score)" in caption


def test_a_trial_cannot_switch_the_rule_the_report_uses(
    mlgym_run: tuple[Path, str, str], tmp_path: Path
) -> None:
    # Every results.json claims kubegym's rule: the report still scores the run's.
    run, task, agent = mlgym_run
    for path in (run / "trials").glob("*/results.json"):
        data = json.loads(path.read_text())
        data["best_submission"] = "final-submit"
        data["details"] = {"best_submission": "final-submit"}
        path.write_text(json.dumps(data))
    recorded = json.loads((run / rollups.LEADERBOARD_JSON).read_text())
    document = report(run, tmp_path / "report")
    assert document["leaderboard"] == recorded
    assert document["leaderboard"]["tasks"][task][agent]["best_submission"] == VALIDATED


def test_an_unknown_recorded_rule_is_a_clear_error(
    mlgym_run: tuple[Path, str, str], tmp_path: Path
) -> None:
    run, _, _ = mlgym_run
    path = run / rollups.LEADERBOARD_JSON
    board = json.loads(path.read_text())
    board["scope"]["best_submission"] = "best-ever"
    path.write_text(json.dumps(board))
    result = CliRunner().invoke(main, ["report", str(run), "--out", str(tmp_path / "report")])
    assert result.exit_code == 1
    assert "scope.best_submission: unknown best-submission rule 'best-ever'" in result.stderr


def test_the_report_states_the_scope(tiny_run: Path, tmp_path: Path) -> None:
    document = report(tiny_run, tmp_path / "report")
    scope = document["leaderboard"]["scope"]
    assert scope["methods"] == ["A", "B", "task-baseline"]
    assert scope["tasks"] == ["acc", "loss"]
    assert scope["best_submission"] == "final-submit"
    stated = [n for n in document["notes"] if n.startswith("Scope: ")]
    assert stated == [
        "Scope: 3 methods (A, B, task-baseline) over 2 tasks (acc, loss); reference "
        "task-baseline; best submission: final-submit; profile: none (kubegym's setting); "
        f"tau_max {scope['tau_max']:g}. An AUP is "
        "relative to the methods scored with it: compare it only with a leaderboard of the "
        "same scope (`kubegym aup --compare`)."
    ]


def test_a_run_that_recorded_no_scope_is_scored_under_kubegyms_rule(
    tiny_run: Path, tmp_path: Path
) -> None:
    # A leaderboard.json from before scopes were recorded: kubegym's rule, the only one then.
    path = tiny_run / rollups.LEADERBOARD_JSON
    old = json.loads(path.read_text())
    del old["scope"]
    path.write_text(json.dumps(old))
    document = report(tiny_run, tmp_path / "report")
    assert document["leaderboard"]["scope"]["best_submission"] == "final-submit"
    assert {k: v for k, v in document["leaderboard"].items() if k != "scope"} == old
    assert any(
        n.endswith("(scope): trials finished or changed after it was written?")
        for n in document["notes"]
    )


def test_the_report_keeps_the_profile_the_run_recorded(tiny_run: Path, tmp_path: Path) -> None:
    # A run of a suite profile: the report's recomputed leaderboard has the same scope
    # (so it reproduces the run's exactly) and states the profile.
    path = tiny_run / rollups.LEADERBOARD_JSON
    board = json.loads(path.read_text())
    board["scope"]["profile"] = "mlgym-bench"
    path.write_text(json.dumps(board))
    document = report(tiny_run, tmp_path / "report")
    assert document["leaderboard"]["scope"]["profile"] == "mlgym-bench"
    assert document["leaderboard"] == board
    assert any("profile: mlgym-bench;" in n for n in document["notes"] if n.startswith("Scope: "))
    board["scope"]["profile"] = {"name": "mlgym-bench"}
    path.write_text(json.dumps(board))
    result = CliRunner().invoke(main, ["report", str(tiny_run), "--out", str(tmp_path / "r2")])
    assert result.exit_code == 1 and "scope.profile: not a profile name" in result.stderr
