"""`kubegym run --metrics-port`: the local run's progress events become metrics."""

from __future__ import annotations

import io

import pytest
from click.testing import CliRunner

from kubegym import metrics
from kubegym.agent_runner import trajectory
from kubegym.api import results as results_api
from kubegym.cli import main
from kubegym.devcluster import processes
from kubegym.local.metrics import MetricsProgress
from tests.metrics.conftest import value

RUN = metrics.RunRef("local", "toy")
LOCAL = {"namespace": "local", "run": "toy"}
TRIALS = {
    "toy-a-s0": ("polyfit", "a"),
    "toy-a-s1": ("polyfit", "a"),
    "toy-b-s0": ("xor", "b"),
    "toy-b-s1": ("xor", "b"),
}


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def results(
    trial: str,
    *,
    best: float | None,
    direction: str = "max",
    attempt: int = 0,
    infra: str | None = None,
) -> results_api.TrialResult:
    task, agent = TRIALS[trial]
    return results_api.TrialResult(
        trial=trial,
        task=task,
        agent=agent,
        seed=int(trial[-1]),
        primary_metric="m",
        direction=direction,
        exit_reason="infra_error" if infra else "submitted",
        scores=[],
        final=None,
        score=best,
        best_attempt=best,
        steps=2,
        prompt_tokens=0,
        completion_tokens=0,
        cost_usd=0.0,
        seconds=30.0,
        attempt=attempt,
        message=f"{infra}: sandbox pod gone" if infra else "",
        failure_class="infra" if infra else None,
    )


def progress(recorder: metrics.Metrics, ticks: Ticks) -> MetricsProgress:
    return MetricsProgress(
        4,
        metrics=recorder,
        run=RUN,
        trials=TRIALS,
        budget_usd=1.0,
        stream=io.StringIO(),
        live=False,
        clock=ticks,
    )


def test_a_local_run_reports_phases_steps_waits_and_ends(recorder: metrics.Metrics) -> None:
    ticks = Ticks()
    view = progress(recorder, ticks)
    assert value(recorder, "kubegym_run_trials_planned", **LOCAL) == 4
    assert value(recorder, "kubegym_trials", **LOCAL, phase="Pending") == 4
    view.resume([results("toy-a-s0", best=0.5)])
    ticks.now += 7.0
    view.started("toy-a-s1")
    view.step("toy-a-s1", trajectory.Step(step=1, action="ls", observation="", cost_usd=0.25))
    assert value(recorder, "kubegym_trials", **LOCAL, phase="Running") == 1
    assert value(recorder, "kubegym_run_spend_usd", **LOCAL) == 0.25
    assert value(recorder, "kubegym_agent_steps_total", **LOCAL, agent="a") == 1
    wait = value(recorder, "kubegym_trial_scheduling_latency_seconds_sum", **LOCAL, task="polyfit")
    assert wait == 7.0
    view.finished(results("toy-a-s1", best=0.8))
    assert value(recorder, "kubegym_run_trials_finished", **LOCAL) == 2  # one resumed
    assert value(recorder, "kubegym_trials", **LOCAL, phase="Succeeded") == 2
    ended = {**LOCAL, "task": "polyfit", "agent": "a", "phase": "Succeeded"}
    assert value(recorder, "kubegym_trials_finished_total", **ended) == 1  # this process's only
    assert value(recorder, "kubegym_best_score", **LOCAL, task="polyfit", agent="a") == 0.8


def test_best_scores_respect_the_metric_s_direction(recorder: metrics.Metrics) -> None:
    view = progress(recorder, Ticks())
    view.finished(results("toy-b-s0", best=0.2, direction="min"))
    view.finished(results("toy-b-s1", best=0.3, direction="min"))
    assert value(recorder, "kubegym_best_score", **LOCAL, task="xor", agent="b") == 0.2


def test_infrastructure_failures_are_counted_as_they_happen_with_their_reason(
    recorder: metrics.Metrics,
) -> None:
    view = progress(recorder, Ticks())
    # toy-a-s0: two attempts lost and retried, the third lost for good.
    view.infra_failure("toy-a-s0", "Evicted", retrying=True)
    view.infra_failure("toy-a-s0", "OOMKilled", retrying=True)
    view.infra_failure("toy-a-s0", "OOMKilled", retrying=False)
    view.finished(results("toy-a-s0", best=None, attempt=2, infra="OOMKilled"))
    view.finished(results("toy-a-s1", best=0.9))
    assert value(recorder, "kubegym_infra_failures_total", **LOCAL, reason="oom_killed") == 2
    assert value(recorder, "kubegym_infra_failures_total", **LOCAL, reason="evicted") == 1
    assert value(recorder, "kubegym_trial_retries_total", **LOCAL, reason="oom_killed") == 1
    assert value(recorder, "kubegym_trial_retries_total", **LOCAL, reason="evicted") == 1
    assert value(recorder, "kubegym_infra_failures_total", **LOCAL, reason="other") == 0
    assert value(recorder, "kubegym_trials", **LOCAL, phase="Failed") == 1


def test_the_leaderboard_sets_aup_for_agents_only(recorder: metrics.Metrics) -> None:
    view = progress(recorder, Ticks())
    board = {
        "agents": {
            "a": {"best_attempt": 1.2, "best_submission": 1.1},
            "task-baseline": {"best_attempt": 0.9, "best_submission": 0.9},
        }
    }
    view.publish_leaderboard(board, exclude=["task-baseline"])
    assert value(recorder, "kubegym_aup", **LOCAL, agent="a", profile="best_submission") == 1.1
    assert (
        value(recorder, "kubegym_aup", **LOCAL, agent="task-baseline", profile="best_attempt")
        is None
    )


def test_a_taken_port_is_a_one_line_error() -> None:
    import socket

    port = processes.free_port()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        result = CliRunner().invoke(
            main,
            ["run", "examples/toy-run.yaml", "--out", "/nonexistent", "--metrics-port", str(port)],
        )
    assert result.exit_code != 0
    assert "--metrics-port" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("port", ["-1", "70000"])
def test_the_port_is_checked_by_the_cli(port: str) -> None:
    result = CliRunner().invoke(main, ["run", "examples/toy-run.yaml", "--metrics-port", port])
    assert result.exit_code == 2 and "--metrics-port" in result.output
