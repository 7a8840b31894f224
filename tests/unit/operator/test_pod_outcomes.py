"""What the pods of an attempt say happened, read from their status as the kubelet writes it.

One table: each row is a sandbox pod, an agent pod and the time, and the outcome
the operator must draw (still starting, running, finished, an infrastructure
failure it retries, or the agent's own final failure).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest

from kubegym.operator import informer, outcomes
from tests.unit.operator.builders import (
    NOW,
    agent_done,
    agent_running,
    condition,
    pod,
    running,
    sandbox_for,
    sandbox_running,
    seconds,
    summary,
    terminated,
    waiting,
)

CREATED = NOW - seconds(60)
SCHEDULING = 300


@dataclass(frozen=True)
class Case:
    sandbox: dict[str, Any] | None
    agent: dict[str, Any] | None
    state: str
    reason: str
    says: tuple[str, ...] = ()  # words the message must contain
    now: dt.datetime = NOW


UNSCHEDULABLE = pod(
    "Pending",
    conditions=[
        condition("PodScheduled", "False", "Unschedulable", "0/3 nodes have nvidia.com/gpu")
    ],
)
SUMMARY = summary().to_message("r2")
LATE = CREATED + seconds(SCHEDULING)

CASES = {
    "pending within the deadline": Case(
        UNSCHEDULABLE, agent_running(), "starting", "Unschedulable"
    ),
    "both pending, not yet scheduled": Case(
        pod("Pending"), pod("Pending"), "starting", "Scheduling"
    ),
    "pending past the deadline": Case(
        UNSCHEDULABLE,
        agent_running(),
        "infra",
        "Unschedulable",
        ("300s", "0/3 nodes have nvidia.com/gpu"),
        LATE,
    ),
    "both running": Case(sandbox_running(), agent_running(), "running", ""),
    "agent finished with a summary": Case(
        sandbox_for(agent_done(SUMMARY)), agent_done(SUMMARY), "finished", "submitted", ("r2=0.8",)
    ),
    "summary stands after the sandbox went away": Case(
        pod("Failed", [terminated("sandbox", 137, "Error")], reason="Evicted"),
        agent_done(SUMMARY),
        "finished",
        "submitted",
    ),
    "agent exited with garbage": Case(
        sandbox_running(),
        agent_done("Traceback ...\nKeyError: 'model'", exit_code=1),
        "agent",
        "agent_error",
        ("(1)", "without a summary"),
    ),
    "agent summary says infra_error": Case(
        sandbox_running(),
        agent_done(summary(exit="infra_error", message="sandbox refused").to_message()),
        "infra",
        "SandboxUnreachable",
        ("sandbox refused",),
    ),
    "agent summary names the failed service": Case(
        sandbox_running(),
        agent_done(
            summary(exit="infra_error", message="x", infra_reason="ModelUnavailable").to_message()
        ),
        "infra",
        "ModelUnavailable",
    ),
    "agent container OOMKilled": Case(
        sandbox_running(),
        pod("Failed", [terminated("agent", 137, "OOMKilled", image="agent")]),
        "agent",
        "memory_limit",
    ),
    "sandbox OOMKilled": Case(
        pod("Running", [terminated("sandbox", 137, "OOMKilled"), running("evaluator")]),
        agent_running(),
        "agent",
        "memory_limit",
        ("sandbox",),
    ),
    "sandbox pod evicted": Case(
        pod("Failed", reason="Evicted", message="The node was low on resource: memory."),
        agent_running(),
        "infra",
        "Evicted",
        ("low on resource",),
    ),
    "agent pod evicted": Case(
        sandbox_running(),
        pod("Failed", reason="Evicted", message="ephemeral-storage"),
        "infra",
        "Evicted",
    ),
    "sandbox preempted": Case(
        pod(
            "Running",
            [running("sandbox"), running("evaluator")],
            conditions=[condition("DisruptionTarget", "True", "PreemptionByScheduler", "by p")],
        ),
        agent_running(),
        "infra",
        "Preempted",
    ),
    "agent preempted by Kueue": Case(
        sandbox_running(),
        pod(
            "Running",
            [running("agent")],
            conditions=[condition("DisruptionTarget", "True", "EvictedByKueue", "preempted")],
        ),
        "infra",
        "Preempted",
    ),
    "node lost (taint manager)": Case(
        pod(
            "Running",
            [running("sandbox"), running("evaluator")],
            conditions=[condition("DisruptionTarget", "True", "DeletionByTaintManager", "taint")],
        ),
        agent_running(),
        "infra",
        "NodeLost",
    ),
    "disruption condition that is False is ignored": Case(
        pod(
            "Running",
            [running("sandbox"), running("evaluator")],
            conditions=[condition("DisruptionTarget", "False", "PreemptionByScheduler")],
        ),
        agent_running(),
        "running",
        "",
    ),
    "eviction API": Case(
        sandbox_running(),
        pod(
            "Running",
            [running("agent")],
            conditions=[condition("DisruptionTarget", "True", "EvictionByEvictionAPI", "drain")],
        ),
        "infra",
        "Evicted",
    ),
    "node stopped reporting": Case(pod("Unknown"), agent_running(), "infra", "NodeLost"),
    "sandbox pod past its deadline": Case(
        pod("Failed", reason="DeadlineExceeded", message="Pod was active on the node longer"),
        agent_running(),
        "agent",
        "wall_time",
    ),
    "agent pod past its deadline": Case(
        sandbox_running(),
        pod("Failed", [running("agent")], reason="DeadlineExceeded"),
        "agent",
        "wall_time",
    ),
    "sandbox image cannot be pulled": Case(
        pod(
            "Pending",
            [waiting("sandbox", "ImagePullBackOff", "Back-off pulling image", image="reg/nope:1")],
        ),
        agent_running(),
        "infra",
        "ImagePullFailed",
        ("reg/nope:1", "sandbox"),
    ),
    "data image cannot be pulled": Case(
        pod("Pending", init=[waiting("task-data", "ImagePullBackOff", image="reg/nope-data:1")]),
        agent_running(),
        "infra",
        "ImagePullFailed",
        ("reg/nope-data:1", "task-data"),
    ),
    "agent image name is invalid": Case(
        sandbox_running(),
        pod("Pending", [waiting("agent", "InvalidImageName", image="Bad:Image")]),
        "infra",
        "ImagePullFailed",
        ("Bad:Image",),
    ),
    "ErrImagePull alone is still starting": Case(
        pod("Pending", [waiting("sandbox", "ErrImagePull", "rate limited", image="reg/x:1")]),
        agent_running(),
        "starting",
        "ErrImagePull",
        ("rate limited",),
    ),
    "init containers done, main ones starting": Case(
        pod(
            "Pending",
            [waiting("sandbox", "ContainerCreating"), waiting("evaluator", "ContainerCreating")],
            init=[terminated("workspace"), terminated("task-data")],
        ),
        agent_running(),
        "starting",
        "ContainerCreating",
    ),
    "init containers done, pod running": Case(sandbox_running(), agent_running(), "running", ""),
    "an init container failed": Case(
        pod("Failed", init=[terminated("workspace"), terminated("task-data", 1, "Error")]),
        agent_running(),
        "infra",
        "SandboxFailed",
        ("task-data", "exit 1"),
    ),
    "sandbox container stopped": Case(
        pod("Running", [terminated("sandbox", 2, "Error"), running("evaluator")]),
        agent_running(),
        "agent",
        "sandbox_killed",
        ("exit 2",),
    ),
    "sandbox container stopped after the pod was deleted": Case(
        {
            **pod("Running", [terminated("sandbox", 143, "Error"), running("evaluator")]),
            "metadata": {"name": "p", "deletionTimestamp": "2025-03-01T12:00:30Z"},
        },
        agent_running(),
        "infra",
        "PodDeleted",
    ),
    "evaluator container ended its record": Case(
        pod("Running", [running("sandbox"), terminated("evaluator", 0, "Completed")]),
        agent_running(),
        "running",
        "",
    ),
    "sandbox pod missing": Case(None, agent_running(), "infra", "PodDeleted", ("sandbox",)),
    "agent pod missing": Case(sandbox_running(), None, "infra", "PodDeleted", ("agent",)),
    "both missing": Case(None, None, "infra", "PodDeleted"),
}


@pytest.mark.parametrize("name", CASES, ids=str)
def test_classify(name: str) -> None:
    case = CASES[name]
    outcome = outcomes.classify(
        case.sandbox, case.agent, created=CREATED, now=case.now, scheduling_seconds=SCHEDULING
    )
    assert (outcome.state, outcome.reason) == (case.state, case.reason), outcome
    for word in case.says:
        assert word in outcome.message, outcome.message
    assert outcome.done == (case.state in ("finished", "infra", "agent"))


def test_starting_carries_the_scheduling_deadline() -> None:
    outcome = outcomes.classify(
        UNSCHEDULABLE, agent_running(), created=CREATED, now=NOW, scheduling_seconds=SCHEDULING
    )
    assert outcome.deadline == CREATED + seconds(SCHEDULING)


def test_one_second_before_the_deadline_it_is_still_starting() -> None:
    before = outcomes.classify(
        UNSCHEDULABLE,
        agent_running(),
        created=CREATED,
        now=LATE - seconds(1),
        scheduling_seconds=SCHEDULING,
    )
    assert before.state == "starting"


def test_finished_carries_the_summary() -> None:
    outcome = outcomes.classify(
        sandbox_for(agent_done(SUMMARY)),
        agent_done(SUMMARY),
        created=CREATED,
        now=NOW,
        scheduling_seconds=60,
    )
    assert outcome.summary == summary()


def test_running_says_since_when() -> None:
    outcome = outcomes.classify(
        sandbox_running(), agent_running(), created=CREATED, now=NOW, scheduling_seconds=60
    )
    assert outcome.running_since == dt.datetime(2025, 3, 1, 12, 0, 5, tzinfo=dt.UTC)


# When the kubelet stops a pod it also kills its containers: by the time the operator looks,
# the agent container is `terminated` (137, its last log lines as the message). The pod's own
# reason must still decide whose fault it was.
KILLED_AGENT = terminated("agent", 137, "Error", "step 41: thinking...", image="agent")


def test_an_evicted_agent_pod_with_its_container_killed_is_infra() -> None:
    agent = pod("Failed", [KILLED_AGENT], reason="Evicted", message="low on memory")
    outcome = outcomes.classify(
        sandbox_running(), agent, created=CREATED, now=NOW, scheduling_seconds=60
    )
    assert (outcome.state, outcome.reason) == ("infra", "Evicted")


def test_a_preempted_agent_pod_whose_container_exited_is_infra() -> None:
    agent = pod(
        "Running",
        [terminated("agent", 143, "Error", "Terminated", image="agent")],
        conditions=[condition("DisruptionTarget", "True", "PreemptionByScheduler", "p")],
    )
    outcome = outcomes.classify(
        sandbox_running(), agent, created=CREATED, now=NOW, scheduling_seconds=60
    )
    assert (outcome.state, outcome.reason) == ("infra", "Preempted")


def test_an_agent_pod_killed_at_its_deadline_ran_out_of_wall_time() -> None:
    agent = pod("Failed", [KILLED_AGENT], reason="DeadlineExceeded")
    outcome = outcomes.classify(
        sandbox_running(), agent, created=CREATED, now=NOW, scheduling_seconds=60
    )
    assert (outcome.state, outcome.reason) == ("agent", "wall_time")


def test_parse_time_reads_the_api_servers_timestamps() -> None:
    assert outcomes.parse_time("2025-03-01T12:00:05Z") == dt.datetime(
        2025, 3, 1, 12, 0, 5, tzinfo=dt.UTC
    )
    naive = dt.datetime(2025, 3, 1, 12, 0)
    assert outcomes.parse_time(naive).tzinfo == dt.UTC


def _stopped_sandbox(ago: float, **pod_status: Any) -> dict[str, Any]:
    """A sandbox pod whose sandbox container ended ``ago`` seconds before NOW (exit 0: its
    server's answer to SIGTERM, from the agent or from the kubelet)."""
    stopped = terminated("sandbox", 0, "Completed")
    stopped["state"]["terminated"]["finishedAt"] = (NOW - seconds(ago)).isoformat()
    manifest = pod("Running", [stopped, running("evaluator")])
    manifest["status"].update(pod_status)
    return manifest


def test_a_stopped_sandbox_waits_for_the_kubelets_word_before_it_is_the_agents_doing() -> None:
    """Found on a real kubelet: an eviction reports the containers' ends a moment before the
    pod's reason, so a fresh stop is not judged yet (and is looked at again in time)."""
    fresh = outcomes.classify(
        _stopped_sandbox(3), agent_running(), created=CREATED, now=NOW, scheduling_seconds=60
    )
    assert (fresh.state, fresh.reason) == ("running", "AwaitingPodStatus")
    assert fresh.recheck_after is not None and 7 <= fresh.recheck_after <= 8
    settled = outcomes.classify(
        _stopped_sandbox(outcomes.SETTLE_SECONDS + 1),
        agent_running(),
        created=CREATED,
        now=NOW,
        scheduling_seconds=60,
    )
    assert (settled.state, settled.reason) == ("agent", "sandbox_killed")


def test_an_eviction_reported_after_the_containers_ends_is_judged_as_the_eviction() -> None:
    evicted = _stopped_sandbox(
        3,
        phase="Failed",
        reason="Evicted",
        message="Pod ephemeral local storage usage exceeds the total limit of containers 200Mi.",
    )
    outcome = outcomes.classify(
        evicted, agent_running(), created=CREATED, now=NOW, scheduling_seconds=60
    )
    assert (outcome.state, outcome.reason) == ("agent", "storage_limit")


def test_an_eviction_the_pod_status_could_not_say_is_read_from_the_kubelets_event() -> None:
    """Found on a real kubelet: the evicted sandbox's servers exit 0 on SIGTERM, the pod turns
    Succeeded with no reason, and a terminal phase never changes; the kubelet's Evicted
    event then names the storage limit, and the outcome is the agent's storage_limit."""
    stopped = terminated("sandbox", 0, "Completed")
    stopped["state"]["terminated"]["finishedAt"] = (NOW - seconds(30)).isoformat()
    succeeded = pod("Succeeded", [stopped, terminated("evaluator", 0, "Completed")])
    assert outcomes.needs_eviction_word(succeeded)
    assert not outcomes.needs_eviction_word(sandbox_running())
    message = "Pod ephemeral local storage usage exceeds the total limit of containers 200Mi."
    read = outcomes.with_eviction(succeeded, ["an older word", message])
    assert not outcomes.needs_eviction_word(read)
    outcome = outcomes.classify(
        read, agent_running(), created=CREATED, now=NOW, scheduling_seconds=60
    )
    assert (outcome.state, outcome.reason) == ("agent", "storage_limit")
    assert outcomes.with_eviction(succeeded, []) is succeeded


# --- Kueue v0.17 stopping an attempt's pods ------------------------------------------
# What Kueue really writes, seen on the dev cluster (tests/cluster/test_kueue.py): on each
# pod of the evicted Workload a TerminationTarget condition, then a delete; the pods keep
# Kueue's finalizer until the kubelet has ended them (the agent container then exits 143
# with no summary, which alone would read as the agent's error).
KUEUE_PREEMPTED = condition(
    outcomes.KUEUE_STOPPED,
    "True",
    "WorkloadEvictedDueToPreempted",
    "Preempted to accommodate a workload (UID: 1, JobUID: 2) due to prioritization in the "
    "ClusterQueue; preemptor path: /cq; preemptee path: /cq",
)
KUEUE_CASES = {
    "both pods stopped by Kueue, still running": Case(
        pod("Running", [running("sandbox"), running("evaluator")], conditions=[KUEUE_PREEMPTED]),
        pod("Running", [running("agent", image="agent")], conditions=[KUEUE_PREEMPTED]),
        "infra",
        "Preempted",
        ("WorkloadEvictedDueToPreempted", "prioritization"),
    ),
    "the agent killed by Kueue's stop is not the agent's error": Case(
        pod("Running", [running("sandbox"), running("evaluator")], conditions=[KUEUE_PREEMPTED]),
        pod(
            "Failed",
            [terminated("agent", 143, "Error", "", image="agent")],
            conditions=[KUEUE_PREEMPTED],
        ),
        "infra",
        "Preempted",
    ),
    "the sandbox ended by Kueue's stop is not the agent's doing": Case(
        pod(
            "Failed",
            [terminated("sandbox", 143, "Error"), terminated("evaluator", 143, "Error")],
            conditions=[KUEUE_PREEMPTED],
        ),
        agent_running(),
        "infra",
        "Preempted",
    ),
    "one pod gone, the other stopped by Kueue": Case(
        None,
        pod("Failed", [KILLED_AGENT], conditions=[KUEUE_PREEMPTED]),
        "infra",
        "Preempted",
    ),
    "Kueue's eviction for a failed node": Case(
        pod(
            "Running",
            [running("sandbox"), running("evaluator")],
            conditions=[
                condition(outcomes.KUEUE_STOPPED, "True", "WorkloadEvictedDueToNodeFailures")
            ],
        ),
        agent_running(),
        "infra",
        "NodeLost",
    ),
    "a TerminationTarget that is False is ignored": Case(
        pod(
            "Running",
            [running("sandbox"), running("evaluator")],
            conditions=[
                condition(outcomes.KUEUE_STOPPED, "False", "WorkloadEvictedDueToPreempted")
            ],
        ),
        agent_running(),
        "running",
        "",
    ),
}


@pytest.mark.parametrize("name", KUEUE_CASES, ids=str)
def test_kueue_stopping_the_pods_is_a_preemption(name: str) -> None:
    case = KUEUE_CASES[name]
    outcome = outcomes.classify(
        case.sandbox, case.agent, created=CREATED, now=case.now, scheduling_seconds=SCHEDULING
    )
    assert (outcome.state, outcome.reason) == (case.state, case.reason), outcome
    for word in case.says:
        assert word in outcome.message, outcome.message


def test_a_finished_agents_summary_still_stands_over_a_later_kueue_stop() -> None:
    """Kueue may stop a group whose agent has already reported: the result is kept."""
    sandbox = pod(
        "Running", [running("sandbox"), running("evaluator")], conditions=[KUEUE_PREEMPTED]
    )
    outcome = outcomes.classify(
        sandbox, agent_done(SUMMARY), created=CREATED, now=NOW, scheduling_seconds=SCHEDULING
    )
    assert outcome.state in ("finished", "running"), outcome  # running: awaiting the record
    assert outcome.reason != "Preempted"


def as_a_kubelet_writes_it(pod: dict[str, Any] | None) -> dict[str, Any] | None:
    """`pod` with the status fields a real kubelet adds that the outcomes never read: its
    IPs and QoS class, and each container's id, restart count, readiness and a last state
    (a pod of the operator's never restarts, so a last state says nothing about this run)."""
    if pod is None:
        return None
    status = dict(pod["status"])
    status.update(
        hostIP="10.0.0.7", podIP="10.244.1.9", podIPs=[{"ip": "10.244.1.9"}], qosClass="Burstable"
    )
    for field in ("initContainerStatuses", "containerStatuses"):
        status[field] = [
            {
                **c,
                "containerID": "containerd://" + "c" * 64,
                "restartCount": 0,
                "started": "running" in c.get("state", {}),
                "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}},
            }
            for c in status.get(field) or []
        ]
    return {**pod, "status": status}


@pytest.mark.parametrize("name", [*CASES, *KUEUE_CASES], ids=str)
def test_the_pods_as_the_cache_keeps_them_say_the_same(name: str) -> None:
    # The operator reads pods from its cache, which keeps only part of each
    # (`informer.slim_pod`): nothing an outcome is drawn from may be left out.
    case = CASES.get(name) or KUEUE_CASES[name]
    sandbox, agent = as_a_kubelet_writes_it(case.sandbox), as_a_kubelet_writes_it(case.agent)

    def classify(s: dict[str, Any] | None, a: dict[str, Any] | None) -> outcomes.Outcome:
        return outcomes.classify(s, a, created=CREATED, now=case.now, scheduling_seconds=SCHEDULING)

    whole = classify(sandbox, agent)
    assert (whole.state, whole.reason) == (case.state, case.reason), "unread fields change nothing"

    def kept(pod: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if pod is None else informer.slim_pod(pod)

    assert classify(kept(sandbox), kept(agent)) == whole
    assert outcomes.needs_eviction_word(kept(sandbox)) == outcomes.needs_eviction_word(sandbox)
