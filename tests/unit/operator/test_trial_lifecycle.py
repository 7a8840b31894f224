"""The life of one Trial: admitted → an attempt starts → its outcome is recorded, retried
within the run's policy, or final. `decide` is pure, so each step is one call."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from kubegym.api import runs, trials
from kubegym.operator import trials as trial_logic
from kubegym.operator.trials import AttemptPods, Decision, TrialView
from tests.unit.operator.builders import (
    NOW,
    agent_done,
    agent_running,
    pod,
    run_spec,
    sandbox_for,
    sandbox_running,
    seconds,
    summary,
    task,
    terminated,
    trial_view,
)

NO_PODS = AttemptPods(None, None)
RUN = run_spec(retryPolicy={"infraRetries": 2, "backoffSeconds": 30, "maxBackoffSeconds": 100})
# The platform's failure these tests retry: the sandbox pod evicted for node pressure.
NODE_PRESSURE = pod("Failed", reason="Evicted", message="The node was low on resource: memory.")


def decide(
    trial: TrialView,
    pods: AttemptPods = NO_PODS,
    *,
    run: runs.BenchmarkRunSpec | None = RUN,
    now: dt.datetime = NOW,
    **kwargs: Any,
) -> Decision:
    return trial_logic.decide(trial, pods, task=kwargs.get("task", task()), run=run, now=now)


def running_trial(attempt: int = 0, **status: Any) -> TrialView:
    return trial_view(phase="Running", attempt=attempt, start_time=NOW - seconds(120), **status)


def pods_with(agent: dict[str, Any], sandbox: dict[str, Any] | None = None) -> AttemptPods:
    """The attempt's pods; by default the sandbox's evaluator records what the agent reports."""
    return AttemptPods(sandbox if sandbox is not None else sandbox_for(agent), agent)


def failures(*reasons: trials.InfraReason) -> list[trials.AttemptFailure]:
    return [trials.AttemptFailure(attempt=i, reason=r) for i, r in enumerate(reasons)]


def test_an_unadmitted_trial_waits() -> None:
    assert decide(trial_view(admitted=False)) == Decision()


def test_a_trial_whose_run_is_gone_waits() -> None:
    assert decide(trial_view(), run=None) == Decision()


def test_an_admitted_trial_starts_attempt_zero_without_a_status_write() -> None:
    decision = decide(trial_view())
    assert decision.start == 0
    assert decision.status is None, "a Pending trial with its pods has started: no write"
    assert [e[1] for e in decision.events] == ["AttemptStarted"]
    assert decision.requeue_after == RUN.deadlines.scheduling_seconds
    assert decision.delete_attempt is None


def test_a_started_trial_is_written_running_once_its_pods_run() -> None:
    created = NOW - seconds(7)
    pods = AttemptPods(sandbox_running(), agent_running(), created=created)
    decision = decide(trial_view(), pods)
    assert decision.start is None
    status = decision.status
    assert status is not None
    assert status.phase == "Running"
    assert status.start_time == created, "the attempt started when its pods were made"
    assert status.scheduled_time is not None
    assert status.sandbox_pod == "demo-toy-gpt-s0-1a2b3c4d-a0-sandbox"
    assert status.agent_pod == "demo-toy-gpt-s0-1a2b3c4d-a0-agent"
    scheduled = next(c for c in status.conditions if c.type == "Scheduled")
    assert scheduled.status == "True"
    # Pods that are still starting: nothing is written yet.
    waiting = decide(trial_view(), AttemptPods(pod("Pending"), pod("Pending"), created=created))
    assert waiting.status is None and waiting.start is None


def test_an_interrupted_start_is_finished_not_read_as_a_deletion() -> None:
    # The operator was killed after creating the sandbox pod and before the agent pod (its
    # status, written last, still says Pending). The start is finished: the attempt's
    # objects are asked for again (the ones there are left as they are)...
    decision = decide(trial_view(), AttemptPods(sandbox_running(), None))
    assert decision.start == 0 and decision.status is None
    assert not decision.events, "the start was announced when it began"
    # ...so the next look finds both pods, and no PodDeleted spends the retry budget.
    both = decide(running_trial(), AttemptPods(sandbox_running(), agent_running()))
    assert both.status is None or not both.status.infra_failures
    # A pod that goes missing once the attempt runs is still the platform's failure.
    gone = decide(running_trial(), AttemptPods(sandbox_running(), None))
    assert gone.status is not None
    assert [f.reason for f in gone.status.infra_failures] == ["PodDeleted"]


def test_a_retry_waits_for_its_backoff() -> None:
    trial = trial_view(attempt=1, next_attempt_time=NOW + seconds(25))
    decision = decide(trial)
    assert decision.start is None and decision.status is None
    assert decision.requeue_after == pytest.approx(25)
    # and starts the next attempt once it has passed
    later = decide(trial, now=NOW + seconds(25))
    assert later.start == 1
    # and once its pods run, the status says so and forgets the backoff
    pods = AttemptPods(sandbox_running(), agent_running())
    running = decide(trial, pods, now=NOW + seconds(30))
    assert running.status is not None and running.status.phase == "Running"
    assert running.status.next_attempt_time is None


def test_a_finished_summary_succeeds_the_trial() -> None:
    decision = decide(running_trial(), pods_with(agent_done(summary().to_message("r2"))))
    status = decision.status
    assert status is not None
    assert status.phase == "Succeeded"
    assert status.exit_reason == "submitted" and status.failure_class is None
    assert status.final == {"r2": 0.8} and status.score == 0.8
    assert [s.step for s in status.scores] == [3, 12]
    assert (status.steps, status.tokens, status.cost_usd) == (12, 5120, 0.31)
    assert status.finish_time == NOW
    completed = next(c for c in status.conditions if c.type == "Completed")
    assert completed.status == "True"
    # the attempt's objects go, its pods included: the record is in the status
    assert decision.delete_attempt == 0
    assert decision.start is None
    assert decision.outcome is not None and decision.outcome.state == "finished"


def test_a_trial_that_finished_before_it_was_seen_running_still_records_its_start() -> None:
    trial = running_trial()
    assert trial.status.scheduled_time is None  # the operator never saw both pods running
    decision = decide(trial, pods_with(agent_done(summary().to_message("r2"))))
    assert decision.status is not None and decision.status.scheduled_time is not None


def test_the_score_is_the_tasks_primary_metric() -> None:
    result = summary(final={"rmse": 1.5, "r2": 0.6})
    decision = decide(running_trial(), pods_with(agent_done(result.to_message("r2"))))
    assert decision.status is not None and decision.status.score == 0.6


@pytest.mark.parametrize(
    ("exit", "recorded"),
    [("submitted", "eval_error"), ("max_steps", "max_steps"), ("cost_limit", "cost_limit")],
)
def test_nothing_valid_submitted_fails_the_trial_as_the_agents(exit: str, recorded: str) -> None:
    result = summary(exit=exit, final=None, cost_usd=1.2)
    decision = decide(running_trial(), pods_with(agent_done(result.to_message())))
    status = decision.status
    assert status is not None
    assert status.phase == "Failed"
    assert status.failure_class == "agent"
    assert status.exit_reason == recorded
    assert status.score is None and status.final is None
    assert status.cost_usd == 1.2, "the money spent is still recorded"
    assert decision.delete_attempt == 0


def test_an_agent_failure_is_final() -> None:
    decision = decide(running_trial(), pods_with(agent_done("Segmentation fault", exit_code=139)))
    status = decision.status
    assert status is not None
    assert (status.phase, status.failure_class, status.exit_reason) == (
        "Failed",
        "agent",
        "agent_error",
    )
    assert status.attempt == 0 and not status.infra_failures
    assert decision.start is None and decision.delete_attempt == 0


def test_an_infra_failure_with_retries_left_schedules_the_next_attempt() -> None:
    decision = decide(running_trial(), pods_with(agent_running(), NODE_PRESSURE))
    status = decision.status
    assert status is not None
    assert status.phase == "Pending"
    assert status.attempt == 1
    assert status.next_attempt_time == NOW + seconds(RUN.retry_policy.delay(1))
    assert RUN.retry_policy.delay(1) == 30
    assert decision.requeue_after == 30
    assert [(f.attempt, f.reason, f.time) for f in status.infra_failures] == [(0, "Evicted", NOW)]
    assert status.start_time is None and status.finish_time is None
    assert decision.delete_attempt == 0
    assert decision.start is None, "the next attempt waits for its backoff"


def test_the_backoff_grows_with_each_counted_failure() -> None:
    trial = running_trial(attempt=1, infra_failures=failures("Evicted"))
    decision = decide(trial, pods_with(agent_running(), NODE_PRESSURE))
    assert decision.status is not None and decision.status.attempt == 2
    assert decision.status.next_attempt_time == NOW + seconds(60)
    assert len(decision.status.infra_failures) == 2


def test_past_the_retry_policy_the_trial_fails_as_infra() -> None:
    trial = running_trial(attempt=2, infra_failures=failures("Evicted", "NodeLost"))
    decision = decide(trial, pods_with(agent_running(), NODE_PRESSURE))
    status = decision.status
    assert status is not None
    assert status.phase == "Failed"
    assert status.failure_class == "infra"
    assert status.exit_reason == "infra_error"
    assert status.attempt == 2
    assert [f.reason for f in status.infra_failures] == ["Evicted", "NodeLost", "Evicted"]
    assert "Evicted" in (status.message or "")
    assert decision.delete_attempt == 2
    assert decision.start is None


def test_preemption_does_not_spend_the_retry_budget() -> None:
    preempted = pod(
        "Running",
        [terminated("sandbox", 143, "Error")],
        conditions=[
            {
                "type": "DisruptionTarget",
                "status": "True",
                "reason": "PreemptionByScheduler",
                "lastTransitionTime": "2025-03-01T12:00:00Z",
            }
        ],
    )
    trial = running_trial(
        attempt=5,
        infra_failures=failures("Preempted", "Preempted", "Evicted", "Preempted", "Evicted"),
    )
    decision = decide(trial, pods_with(agent_running(), preempted))
    status = decision.status
    assert status is not None
    assert status.phase == "Pending" and status.attempt == 6
    assert status.next_attempt_time == NOW, "no backoff after a preemption"
    # with no retries at all, a preemption is still retried
    never = run_spec(retryPolicy={"infraRetries": 0})
    again = decide(running_trial(), pods_with(agent_running(), preempted), run=never)
    assert again.status is not None and again.status.phase == "Pending"


def test_preemptions_past_their_own_limit_fail_the_trial_as_infra() -> None:
    preempted = pod(
        "Failed",
        conditions=[
            {
                "type": "DisruptionTarget",
                "status": "True",
                "reason": "PreemptedByKueue",
                "lastTransitionTime": "2025-03-01T12:00:00Z",
            }
        ],
    )
    capped = run_spec(retryPolicy={"infraRetries": 3, "preemptionRetries": 2})
    twice = running_trial(attempt=2, infra_failures=failures("Preempted", "Preempted"))
    decision = decide(twice, pods_with(agent_running(), preempted), run=capped)
    status = decision.status
    assert status is not None
    assert (status.phase, status.failure_class, status.exit_reason) == (
        "Failed",
        "infra",
        "infra_error",
    )
    assert "preemptionRetries" in (status.message or "")
    assert decision.delete_attempt == 2
    # below the limit, the same preemption is one more free attempt
    once = running_trial(attempt=1, infra_failures=failures("Preempted"))
    again = decide(once, pods_with(agent_running(), preempted), run=capped)
    assert again.status is not None and (again.status.phase, again.status.attempt) == ("Pending", 2)


def test_a_finished_summary_reported_as_infra_error_is_retried() -> None:
    result = summary(exit="infra_error", final=None, message="sandbox unreachable")
    decision = decide(running_trial(), pods_with(agent_done(result.to_message())))
    assert decision.status is not None and decision.status.phase == "Pending"
    assert decision.status.infra_failures[-1].reason == "SandboxUnreachable"


def test_money_spent_by_an_attempt_lost_to_the_infrastructure_still_counts() -> None:
    result = summary(exit="infra_error", final=None, cost_usd=2.5, message="sandbox gone")
    decision = decide(running_trial(), pods_with(agent_done(result.to_message())))
    assert decision.status is not None
    assert decision.status.cost_usd == 2.5


def test_pods_still_starting_are_looked_at_again_at_the_deadline() -> None:
    decision = decide(running_trial(), AttemptPods(pod("Pending"), pod("Pending")))
    assert decision.status is None and decision.start is None
    deadline = NOW - seconds(120) + seconds(RUN.deadlines.scheduling_seconds)  # started 2 min ago
    assert decision.requeue_after == pytest.approx((deadline - NOW).total_seconds() + 0.1)


def test_pods_running_records_the_scheduled_time_once() -> None:
    decision = decide(running_trial(), AttemptPods(sandbox_running(), agent_running()))
    assert decision.status is not None
    assert decision.status.scheduled_time == dt.datetime(2025, 3, 1, 12, 0, 5, tzinfo=dt.UTC)
    scheduled = next(c for c in decision.status.conditions if c.type == "Scheduled")
    assert scheduled.status == "True"
    # Deciding again on the written status (its images included) writes nothing.
    again = decide(
        running_trial(scheduled_time=NOW, images=decision.status.images),
        AttemptPods(sandbox_running(), agent_running()),
    )
    assert again.status is None


@pytest.mark.parametrize("phase", ["Succeeded", "Failed"])
@pytest.mark.parametrize("admitted", [True, False])
def test_a_finished_trial_never_starts_again(phase: str, admitted: bool) -> None:
    trial = trial_view(admitted=admitted, phase=phase, attempt=1, next_attempt_time=NOW)
    decision = decide(trial, NO_PODS, now=NOW + seconds(3600))
    assert decision == Decision()


def test_a_finished_trial_whose_pods_remain_gets_them_deleted() -> None:
    trial = trial_view(phase="Failed", attempt=3)
    decision = decide(trial, AttemptPods(sandbox_running(), agent_done("x")))
    assert decision.delete_attempt == 3
    assert decision.start is None and decision.status is None
    # the agent pod alone is deleted too: finished trials keep no pods
    alone = decide(trial, AttemptPods(None, agent_done("x")))
    assert alone.delete_attempt == 3


def test_a_finished_trial_whose_pods_are_going_asks_nothing_more() -> None:
    trial = trial_view(phase="Succeeded", attempt=1)
    going = agent_done("x")
    going["metadata"]["deletionTimestamp"] = "2025-03-01T12:00:00Z"
    assert decide(trial, AttemptPods(None, going)) == Decision()


def test_a_task_that_vanished_fails_the_trial() -> None:
    decision = decide(trial_view(), task=None)
    assert decision.status is not None and decision.status.phase == "Failed"
    assert "toy" in (decision.status.message or "")


def test_an_agent_removed_from_the_run_cancels_the_trial() -> None:
    other = run_spec(agents=[{"name": "claude", "model": "anthropic/claude"}])
    decision = decide(trial_view(), run=other)
    assert decision.status is not None
    assert (decision.status.phase, decision.status.exit_reason) == ("Failed", "cancelled")


def test_a_condition_keeps_its_transition_time_while_its_status_holds() -> None:
    trial = running_trial()
    first = decide(trial, pods_with(agent_running(), NODE_PRESSURE))
    assert first.status is not None
    scheduled = next(c for c in first.status.conditions if c.type == "Scheduled")
    # the retry's attempt, ended before it was seen running, keeps Scheduled False: the
    # time does not move
    restarted = trial_view(**first.status.model_dump())
    ended = pods_with(agent_done(summary().to_message("r2")))
    second = decide(restarted, ended, now=NOW + seconds(100))
    assert second.status is not None
    again = next(c for c in second.status.conditions if c.type == "Scheduled")
    assert again.status == "False" and again.last_transition_time == scheduled.last_transition_time
    # … and moves when it changes: both pods of the new attempt run
    third = decide(
        restarted, AttemptPods(sandbox_running(), agent_running()), now=NOW + seconds(200)
    )
    assert third.status is not None
    now_true = next(c for c in third.status.conditions if c.type == "Scheduled")
    assert now_true.status == "True" and now_true.last_transition_time == NOW + seconds(200)


def test_the_view_reads_a_trial_body() -> None:
    body: dict[str, Any] = {
        "metadata": {
            "name": "t",
            "namespace": "bench",
            "uid": "u",
            "creationTimestamp": "2025-03-01T11:00:00Z",
            "annotations": {trial_logic.ADMITTED: "true"},
        },
        "spec": {"run": "demo", "task": "toy", "agent": "gpt", "seed": 1},
        "status": {"phase": "Running", "attempt": 2, "costUsd": 0.5},
    }
    view = TrialView.from_body(body)
    assert view.admitted and view.status.attempt == 2 and view.status.cost_usd == 0.5
    assert view.created == dt.datetime(2025, 3, 1, 11, tzinfo=dt.UTC)
    body["metadata"]["annotations"] = {}
    assert not TrialView.from_body(body).admitted


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("model 'openai/gpt-4o' failed 6 attempts in a row", "ModelUnavailable"),
        ("http://s-x-a0:8081: ConnectionRefused", "EvaluatorUnreachable"),
        ("connection reset", "SandboxUnreachable"),
        ("something else broke", None),
    ],
)
def test_an_infra_error_is_recorded_with_the_service_that_failed(
    message: str, reason: str | None
) -> None:
    # The summary names the service in a field (`infra_reason`), never in its message.
    result = summary(exit="infra_error", final=None, message=message, infra_reason=reason)
    decision = decide(running_trial(), pods_with(agent_done(result.to_message())))
    assert decision.status is not None
    assert decision.status.infra_failures[-1].reason == (reason or "SandboxUnreachable")


def queued_pod(gated: bool) -> dict[str, Any]:
    """A Pending pod under Kueue: its queue label, and its admission gate until admitted."""
    found = pod("Pending")
    found["metadata"]["labels"] = {"kueue.x-k8s.io/queue-name": "gpu"}
    if gated:
        found["spec"] = {"schedulingGates": [{"name": "kueue.x-k8s.io/admission"}]}
    return found


def test_waiting_in_a_queue_is_never_unschedulable() -> None:
    # Created hours ago, still held by Kueue's gate: the cluster's order, not a failure.
    pods = AttemptPods(queued_pod(True), queued_pod(True), created=NOW - seconds(5 * 3600))
    decision = decide(trial_view(), pods)
    assert decision.status is None and decision.start is None
    assert decision.requeue_after is not None and decision.requeue_after > 0
    # Let go a minute ago and still pending: the deadline counts from the admission.
    let_go = AttemptPods(
        queued_pod(False),
        queued_pod(False),
        created=NOW - seconds(5 * 3600),
        admitted=NOW - seconds(60),
    )
    waiting = decide(trial_view(), let_go)
    assert waiting.status is None
    late = decide(trial_view(), let_go, now=NOW + seconds(RUN.deadlines.scheduling_seconds))
    assert late.status is not None
    assert [f.reason for f in late.status.infra_failures] == ["Unschedulable"]


def test_a_pod_kueue_stopped_reads_as_preempted_only_with_its_last_word() -> None:
    from kubegym.operator import outcomes

    stopped = sandbox_running()
    stopped["metadata"]["deletionTimestamp"] = "2025-03-01T12:00:00Z"
    stopped["status"]["conditions"].append(
        {
            "type": "TerminationTarget",
            "status": "True",
            "reason": "WorkloadEvictedDueToPreempted",
            "message": "Preempted to accommodate a workload (UID: x)",
        }
    )
    assert outcomes.disrupted(stopped)
    # The controller hands the deleted pod's last state (its tombstone) when it says why:
    seen = decide(running_trial(), AttemptPods(stopped, agent_running()))
    assert seen.status is not None
    assert [f.reason for f in seen.status.infra_failures] == ["Preempted"]
    # without it, a vanished pod is only "deleted from outside"
    blind = decide(running_trial(), AttemptPods(None, agent_running()))
    assert blind.status is not None
    assert [f.reason for f in blind.status.infra_failures] == ["PodDeleted"]
    assert not outcomes.disrupted(sandbox_running())


@pytest.mark.parametrize(
    ("annotations", "status", "urgent"),
    [
        ({trial_logic.ADMITTED: "2026-12-04T00:00:00Z"}, None, True),  # as the run makes it
        ({trial_logic.ADMITTED: "2026-12-04T00:00:00Z"}, {"phase": "Pending"}, True),  # a retry
        (None, None, False),  # not admitted: its reconcile only waits
        ({trial_logic.ADMITTED: "2026-12-04T00:00:00Z"}, {"phase": "Running"}, False),
        ({trial_logic.ADMITTED: "2026-12-04T00:00:00Z"}, {"phase": "Succeeded"}, False),
    ],
)
def test_only_an_admitted_trial_not_yet_started_is_urgent_for_the_work_queue(
    annotations: dict[str, str] | None, status: dict[str, Any] | None, urgent: bool
) -> None:
    body: dict[str, Any] = {"metadata": {"name": "t", "annotations": annotations}}
    if status is not None:
        body["status"] = status
    assert trial_logic.waits_to_start(body) is urgent
