"""The quickstart runs offline to a leaderboard, and every trial leaves its evidence."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubegym.cli import main


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    repo = Path(__file__).resolve().parents[3]
    out = tmp_path_factory.mktemp("quickstart")
    result = CliRunner().invoke(
        main, ["run", str(repo / "examples" / "quickstart.yaml"), "--out", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), out


def test_every_trial_finishes_once(quickstart: tuple[dict, Path]) -> None:
    summary, _ = quickstart
    assert summary["phase"] == "Succeeded"
    assert summary["counters"]["total"] == 12 and summary["counters"]["succeeded"] == 12
    assert len({t["id"] for t in summary["trials"]}) == 12
    assert {t["exit_reason"] for t in summary["trials"]} == {"submitted"}


def test_the_replay_really_improves_on_the_baseline(quickstart: tuple[dict, Path]) -> None:
    summary, _ = quickstart
    scores = {(t["task"], t["agent"]): t["score"] for t in summary["trials"]}
    assert scores[("polyfit", "baseline")] == pytest.approx(0.4416, abs=1e-3)
    assert scores[("polyfit", "replay")] > 0.95  # r2, higher is better
    assert scores[("xor-blobs", "baseline")] == pytest.approx(0.56)
    assert scores[("xor-blobs", "replay")] < 0.1  # error rate, lower is better
    # MLGym's prisoner's dilemma: the baseline near MLGym's 2.372, always-defect well above
    assert abs(scores[("prisoners-dilemma", "baseline")] - 2.372) < 0.03
    assert scores[("prisoners-dilemma", "replay")] > 2.55
    agents = summary["leaderboard"]["agents"]
    assert agents["replay"]["best_attempt"] > agents["baseline"]["best_attempt"]
    assert agents["replay"]["best_submission"] == 1.5  # best on every task: the whole tau range
    assert summary["leaderboard"]["tau_max"] == 1.5


def test_trials_leave_trajectory_results_and_workspace(quickstart: tuple[dict, Path]) -> None:
    summary, out = quickstart
    replay = next(t for t in summary["trials"] if t["agent"] == "replay" and t["task"] == "polyfit")
    folder = out / "trials" / replay["id"]
    steps = [json.loads(line) for line in (folder / "trajectory.jsonl").read_text().splitlines()]
    assert [s["action"].split()[0] for s in steps] == [
        "open",
        "edit",
        "edit",
        "python",
        "validate",
        "submit",
    ]
    validate = steps[4]
    assert (
        validate["score"]["metrics"]["r2"] > 0.95 and validate["score"]["testMetrics"]["r2"] > 0.95
    )
    results = json.loads((folder / "results.json").read_text())
    assert [s["action"] for s in results["scores"]] == ["validate", "submit"]
    assert results["best_attempt"] == pytest.approx(results["score"])
    with tarfile.open(folder / "workspace.tar.gz") as tar:
        names = tar.getnames()
    assert "workspace/baseline.py" in names and "workspace/submission.csv" in names
    assert not (folder / "workspace").exists()


def test_run_level_outputs(quickstart: tuple[dict, Path]) -> None:
    _, out = quickstart
    rows = (out / "results.csv").read_text().splitlines()
    assert rows[0].startswith("trial,task,agent,seed")
    assert len(rows) == 13
    board = json.loads((out / "leaderboard.json").read_text())
    assert board["agents"]["replay"]["best_attempt_ci"] == [1.5, 1.5]
    assert (out / "profiles.png").read_bytes()[:4] == b"\x89PNG"
    status = json.loads((out / "status.json").read_text())
    assert status["progress"] == "12/12" and status["bestAup"] == 1.5


def test_running_again_runs_nothing(quickstart: tuple[dict, Path]) -> None:
    repo = Path(__file__).resolve().parents[3]
    _, out = quickstart
    before = (out / "results.csv").read_text()
    result = CliRunner().invoke(
        main, ["run", str(repo / "examples" / "quickstart.yaml"), "--out", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["resumed"] == 12
    assert (out / "results.csv").read_text() == before
