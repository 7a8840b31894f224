"""The typed API: each call moves the series a dashboard or an alert reads, and nothing else."""

from __future__ import annotations

import pytest

from kubegym import metrics
from tests.metrics.conftest import FakeClock, samples, value

RUN = metrics.RunRef("team-a", "bench")


def test_a_planned_run_has_its_size_budget_and_a_start_time(
    recorder: metrics.Metrics, clock: FakeClock
) -> None:
    recorder.run_planned(RUN, trials=12, budget_usd=40.0, tasks=["t1", "t2"], agents=["a"])
    run = {"namespace": "team-a", "run": "bench"}
    assert value(recorder, "kubegym_run_trials_planned", **run) == 12
    assert value(recorder, "kubegym_run_budget_usd", **run) == 40.0
    assert value(recorder, "kubegym_run_last_progress_timestamp_seconds", **run) == clock.now
    # Counters start at 0, so `increase` sees a run's very first failure or trial.
    assert value(recorder, "kubegym_infra_failures_total", **run, reason="oom_killed") == 0
    assert (
        value(
            recorder, "kubegym_trials_finished_total", **run, task="t2", agent="a", phase="Failed"
        )
        == 0
    )
    assert value(recorder, "kubegym_agent_steps_total", **run, agent="a") == 0
    # Histograms too, and from a generator of tasks as well as a list.
    for task in ("t1", "t2"):
        assert (
            value(recorder, "kubegym_trial_scheduling_latency_seconds_count", **run, task=task) == 0
        )
        assert value(recorder, "kubegym_trial_duration_seconds_count", **run, task=task) == 0


def test_a_run_planned_from_generators_starts_every_series(recorder: metrics.Metrics) -> None:
    recorder.run_planned(
        RUN, trials=4, tasks=(t for t in ("t1", "t2")), agents=(a for a in ("a", "b"))
    )
    run = {"namespace": "team-a", "run": "bench"}
    finished = "kubegym_trials_finished_total"
    assert value(recorder, finished, **run, task="t2", agent="b", phase="Succeeded") == 0


def test_a_run_without_budget_has_no_budget_series(recorder: metrics.Metrics) -> None:
    recorder.run_planned(RUN, trials=2, budget_usd=5.0)
    recorder.run_planned(RUN, trials=2, budget_usd=None)
    assert value(recorder, "kubegym_run_budget_usd", namespace="team-a", run="bench") is None


def test_phases_are_all_set_and_finished_is_their_sum(recorder: metrics.Metrics) -> None:
    recorder.set_phases(RUN, {"Pending": 3, "Running": 2, "Succeeded": 4, "Failed": 1})
    recorder.set_phases(RUN, {"Running": 1, "Succeeded": 5})
    run = {"namespace": "team-a", "run": "bench"}
    assert value(recorder, "kubegym_trials", **run, phase="Pending") == 0  # left out: 0
    assert value(recorder, "kubegym_trials", **run, phase="Succeeded") == 5
    assert value(recorder, "kubegym_run_trials_finished", **run) == 5
    with pytest.raises(ValueError, match="Crashed"):
        recorder.set_phases(RUN, {"Crashed": 1})


def test_steps_and_finished_trials_count_work_once(
    recorder: metrics.Metrics, clock: FakeClock
) -> None:
    recorder.steps_taken(RUN, agent="gpt", prompt_tokens=100, completion_tokens=7, cost_usd=0.01)
    recorder.steps_taken(RUN, agent="gpt", prompt_tokens=50, completion_tokens=3, cost_usd=0.02)
    clock.now += 60
    recorder.trial_finished(RUN, task="fmnist", agent="gpt", phase="Succeeded", seconds=95.0)
    # An operator that learns totals only at the end passes them here instead.
    recorder.trial_finished(
        RUN, task="fmnist", agent="claude", phase="Failed", seconds=5.0, steps=4, cost_usd=0.5
    )
    run = {"namespace": "team-a", "run": "bench"}
    assert value(recorder, "kubegym_agent_steps_total", **run, agent="gpt") == 2
    assert value(recorder, "kubegym_agent_steps_total", **run, agent="claude") == 4
    assert value(recorder, "kubegym_agent_tokens_total", **run, agent="gpt", type="prompt") == 150
    assert value(recorder, "kubegym_agent_cost_usd_total", **run, agent="gpt") == pytest.approx(
        0.03
    )
    ok = {**run, "task": "fmnist", "agent": "gpt", "phase": "Succeeded"}
    assert value(recorder, "kubegym_trials_finished_total", **ok) == 1
    assert value(recorder, "kubegym_trial_duration_seconds_count", **run, task="fmnist") == 2
    assert value(recorder, "kubegym_trial_duration_seconds_sum", **run, task="fmnist") == 100.0
    bucket = {**run, "task": "fmnist", "le": "120.0"}
    assert value(recorder, "kubegym_trial_duration_seconds_bucket", **bucket) == 2
    assert value(recorder, "kubegym_run_last_progress_timestamp_seconds", **run) == clock.now
    with pytest.raises(ValueError, match="Running"):
        recorder.trial_finished(RUN, task="t", agent="a", phase="Running", seconds=1.0)  # type: ignore[arg-type]


def test_scheduling_latency_is_observed_when_known(recorder: metrics.Metrics) -> None:
    recorder.trial_started(RUN, task="t", waited_seconds=3.5)
    recorder.trial_started(RUN, task="t", waited_seconds=None)  # operator restarted: unknown
    run = {"namespace": "team-a", "run": "bench", "task": "t"}
    assert value(recorder, "kubegym_trial_scheduling_latency_seconds_count", **run) == 1
    assert value(recorder, "kubegym_trial_scheduling_latency_seconds_sum", **run) == 3.5


@pytest.mark.parametrize(
    ("raw", "label"),
    [
        ("OOMKilled", "oom_killed"),
        ("Evicted", "evicted"),
        ("NodeLost", "node_lost"),
        ("ErrImagePull", "image_pull"),
        ("ImagePullBackOff", "image_pull"),
        ("Unschedulable", "unschedulable"),
        ("PodDeleted", "pod_deleted"),
        ("ModelRateLimited", "model_unavailable"),
        ("DeadlineExceeded", "other"),  # a pod's active deadline is the agent's wall_time
        ("Preempted", "preempted"),
        ("SandboxUnreachable", "sandbox_unreachable"),
        ("sandbox_unreachable", "sandbox_unreachable"),
        ("SomethingNobodyExpected 42", "other"),
    ],
)
def test_infra_reasons_map_to_a_closed_set(raw: str, label: str) -> None:
    assert metrics.infra_reason(raw) == label
    assert label in metrics.INFRA_REASONS


def test_infra_failures_and_retries_count_by_reason(recorder: metrics.Metrics) -> None:
    assert recorder.infra_failure(RUN, "OOMKilled") == "oom_killed"
    recorder.infra_failure(RUN, "OOMKilled", count=2)
    recorder.retried(RUN, "Evicted")
    recorder.infra_failure(RUN, "a new error string")
    run = {"namespace": "team-a", "run": "bench"}
    assert value(recorder, "kubegym_infra_failures_total", **run, reason="oom_killed") == 3
    assert value(recorder, "kubegym_infra_failures_total", **run, reason="other") == 1
    assert value(recorder, "kubegym_trial_retries_total", **run, reason="evicted") == 1


def test_scores_and_aup(recorder: metrics.Metrics) -> None:
    recorder.set_best_score(RUN, task="fmnist", agent="gpt", score=0.91)
    recorder.set_aup(RUN, agent="gpt", profile="best_attempt", value=1.2)
    recorder.set_aup(RUN, agent="gpt", profile="best_submission", value=1.1)
    run = {"namespace": "team-a", "run": "bench"}
    assert value(recorder, "kubegym_best_score", **run, task="fmnist", agent="gpt") == 0.91
    assert value(recorder, "kubegym_aup", **run, agent="gpt", profile="best_submission") == 1.1
    with pytest.raises(ValueError, match="best_guess"):
        recorder.set_aup(RUN, agent="gpt", profile="best_guess", value=1.0)  # type: ignore[arg-type]


def test_reconcile_times_every_call_and_counts_the_ones_that_raise(
    recorder: metrics.Metrics,
) -> None:
    with recorder.reconcile("Trial"):
        pass
    with pytest.raises(RuntimeError), recorder.reconcile("Trial"):
        raise RuntimeError("apiserver said 500")
    assert value(recorder, "kubegym_operator_reconcile_duration_seconds_count", kind="Trial") == 2
    assert value(recorder, "kubegym_operator_reconcile_errors_total", kind="Trial") == 1


def test_leader_is_zero_on_a_standby_and_one_on_the_leader(recorder: metrics.Metrics) -> None:
    # Exported from the start: a standby that never led shows 0, not nothing.
    assert value(recorder, "kubegym_operator_leader") == 0
    recorder.set_leader(True)
    assert value(recorder, "kubegym_operator_leader") == 1
    recorder.set_leader(False)
    assert value(recorder, "kubegym_operator_leader") == 0


def test_uploads_count_bytes_on_success_and_failures_otherwise(recorder: metrics.Metrics) -> None:
    recorder.upload("s3", nbytes=1000, seconds=0.2)
    recorder.upload("s3", nbytes=500, seconds=3.0, ok=False)
    assert value(recorder, "kubegym_store_upload_bytes_total", backend="s3") == 1000
    assert value(recorder, "kubegym_store_upload_failures_total", backend="s3") == 1
    assert value(recorder, "kubegym_store_upload_duration_seconds_count", backend="s3") == 2


def test_forget_run_removes_every_series_of_that_run_and_no_other(
    recorder: metrics.Metrics,
) -> None:
    other = metrics.RunRef("team-a", "other")
    for run in (RUN, other):
        recorder.run_planned(run, trials=2, budget_usd=1.0, tasks=["t"], agents=["a"])
        recorder.set_phases(run, {"Succeeded": 2})
        recorder.trial_finished(run, task="t", agent="a", phase="Succeeded", seconds=1.0)
        recorder.set_aup(run, agent="a", profile="best_attempt", value=1.0)
    with recorder.reconcile("BenchmarkRun"):
        pass
    removed = recorder.forget_run(RUN)
    assert removed > 20
    left = samples(recorder)
    assert not [key for key in left if ("run", "bench") in key[1]]
    assert [key for key in left if ("run", "other") in key[1]]
    assert value(recorder, "kubegym_operator_reconcile_errors_total", kind="BenchmarkRun") == 0
    assert recorder.forget_run(RUN) == 0  # a second time: nothing left


def test_the_module_level_functions_update_the_process_wide_registry() -> None:
    run = metrics.RunRef("module-level", "r")
    metrics.run_planned(run, trials=3)
    try:
        assert 'kubegym_run_trials_planned{namespace="module-level",run="r"} 3.0' in metrics.render(
            metrics.REGISTRY
        )
    finally:
        metrics.forget_run(run)
    assert 'namespace="module-level"' not in metrics.render(metrics.REGISTRY)
