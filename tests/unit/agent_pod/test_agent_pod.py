"""The agent pod end to end: the real sandbox server, the real evaluator server and the real
``python -m kubegym.agent_runner``, wired by the operator's own trial config.

The pod must end every attempt with a summary of at most 4 KiB in its termination message:
the same score the local path gets, ``sandbox_killed`` when the agent's command kills its
sandbox (the operator then checks the pods), an ``infra_error`` naming the service that failed, an
``agent_error`` that says why when the agent cannot run; and its artifacts in the store.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from kubegym.api import documents, summary
from kubegym.evaluator import Judge
from kubegym.store import keys
from kubegym.tasks.catalog import TaskBundle
from tests.support import trial_pod
from tests.unit.agent_pod.conftest import Launch

BASELINE = {"name": "base", "builtin": "baseline"}


def replay(repo: Path) -> dict[str, str]:
    return {
        "name": "replay",
        "builtin": "replay",
        "replayPath": str(repo / "examples" / "replays" / "polyfit.jsonl"),
    }


def local_final(repo: Path, tmp_path: Path, command: str | None) -> dict[str, float]:
    """What kubegym's local Judge gives the same artifact (the baseline's, by default)."""
    root = repo / "examples" / "tasks" / "polyfit"
    (task,) = documents.load_run_file(root / "task.yaml").tasks
    workspace = tmp_path / "local-workspace"
    shutil.copytree(root / "starter", workspace)
    shutil.copytree(root / "data", workspace / "data")
    if command:
        subprocess.run(command, shell=True, cwd=workspace, check=True, capture_output=True)
    verdict = Judge(TaskBundle(task, root), "heldout").submit(workspace, step=1)
    assert verdict.score.metrics is not None
    return verdict.score.metrics


def test_the_baseline_agent_submits_the_score_the_local_path_gets(
    launch: Launch, repo: Path, tmp_path: Path
) -> None:
    attempt = launch(BASELINE)
    done = attempt.run_agent()
    assert done.returncode == 0, done.stderr
    raw = attempt.termination_log.read_bytes()
    assert len(raw) <= summary.MAX_BYTES
    result = attempt.summary()
    assert result.exit == "submitted", result.message
    assert result.final is not None
    expected = local_final(repo, tmp_path, f"{sys.executable} baseline.py")
    assert result.final == pytest.approx(expected, abs=1e-9)
    assert result.final["r2"] == pytest.approx(0.4416, abs=1e-4)
    assert [s.action for s in result.scores] == ["submit"]
    assert result.steps == 2 and result.tokens == 0 and result.cost_usd == 0


def test_a_replay_validates_then_submits_and_its_artifacts_reach_the_store(
    launch: Launch, repo: Path
) -> None:
    attempt = launch(replay(repo))
    done = attempt.run_agent()
    assert done.returncode == 0, done.stderr
    result = attempt.summary()
    assert result.exit == "submitted", result.message
    assert [s.action for s in result.scores] == ["validate", "submit"]
    assert [s.step for s in result.scores] == sorted(s.step for s in result.scores)
    validate, submit = result.scores
    # The agent pod never sees hidden test metrics (the evaluator's record has them).
    assert validate.metrics and validate.test_metrics is None
    assert validate.metrics["r2"] > 0.95
    assert result.final == submit.metrics and result.final is not None
    # The final score matches what the local Judge says of the very artifact the agent built.
    (task,) = documents.load_run_file(repo / "examples/tasks/polyfit/task.yaml").tasks
    local = Judge(TaskBundle(task, repo / "examples/tasks/polyfit"), "heldout")
    assert local.submit(attempt.workspace, step=1).score.metrics == pytest.approx(result.final)
    assert result.message is None
    # the store holds the trajectory, results.json and the workspace (without the datasets)
    prefix = attempt.store / keys.attempt_prefix(trial_pod.RUN, trial_pod.TRIAL, 0)
    lines = (prefix / "trajectory.jsonl").read_text().splitlines()
    assert [json.loads(line)["action"] for line in lines][-2:] == ["validate", "submit"]
    stored = json.loads((prefix / "results.json").read_text())
    assert stored["exit_reason"] == "submitted" and stored["final"] == result.final
    with tarfile.open(prefix / "workspace.tar.gz") as tar:
        names = set(tar.getnames())
    assert "./submission.csv" in names and "./baseline.py" in names
    assert not [n for n in names if n.startswith("./data/") and n != "./data/"]


def test_a_failing_store_does_not_lose_the_summary(launch: Launch, tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    attempt = launch(BASELINE, store=blocked / "store")
    done = attempt.run_agent()
    assert done.returncode == 0, done.stderr
    result = attempt.summary()
    assert result.exit == "submitted" and result.final is not None
    assert result.message and "not stored" in result.message


def test_the_sandbox_killed_by_the_agents_command_is_the_agents_failure(
    launch: Launch, repo: Path
) -> None:
    attempt = launch(
        {
            "name": "killer",
            "builtin": "replay",
            "replayPath": str(Path(__file__).parent / "stop_sandbox.jsonl"),
        }
    )
    done = attempt.run_agent()
    assert done.returncode == 0, done.stderr
    result = attempt.summary()
    assert result.exit == "sandbox_killed" and result.infra_reason is None
    assert result.message and "SandboxUnreachable" in result.message
    # The steps taken before the sandbox went away are still counted (and would be paid for).
    assert result.steps == 3
    assert [s.action for s in result.scores] == ["validate"]


def test_an_unreachable_evaluator_is_an_infra_error(launch: Launch) -> None:
    attempt = launch(BASELINE)
    attempt.evaluator.stop()
    done = attempt.run_agent()
    assert done.returncode == 0, done.stderr
    result = attempt.summary()
    assert result.exit == "infra_error" and result.infra_reason == "EvaluatorUnreachable"
    assert result.message and "EvaluatorUnreachable" in result.message


def test_an_agent_that_cannot_run_is_an_agent_error_that_says_why(
    launch: Launch, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-replay.jsonl"
    attempt = launch({"name": "lost", "builtin": "replay", "replayPath": str(missing)})
    done = attempt.run_agent()
    assert done.returncode == 0, done.stderr
    result = attempt.summary()
    assert result.exit == "agent_error"
    assert result.message and str(missing) in result.message


def test_an_external_image_agent_is_refused_with_a_clear_message(launch: Launch) -> None:
    attempt = launch({"name": "ext", "image": "registry.example/agent:1"})
    done = attempt.run_agent()
    assert done.returncode == 0, done.stderr
    result = attempt.summary()
    assert result.exit == "agent_error"
    assert result.message and "external image" in result.message


def test_a_missing_setting_still_ends_with_a_summary(launch: Launch) -> None:
    attempt = launch(BASELINE)
    done = attempt.run_agent(KUBEGYM_EVALUATOR_URL="")
    assert done.returncode == 0, done.stderr
    result = attempt.summary()
    assert result.exit == "agent_error"
    assert result.message and "KUBEGYM_EVALUATOR_URL" in result.message


def test_no_writable_termination_log_is_a_non_zero_exit(launch: Launch, tmp_path: Path) -> None:
    attempt = launch(BASELINE)
    done = attempt.run_agent(KUBEGYM_TERMINATION_LOG=str(tmp_path / "nowhere" / "log"))
    assert done.returncode == 1
    assert "cannot write the summary" in done.stderr
