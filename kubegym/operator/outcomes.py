"""What the pods of an attempt say happened: still starting, running, finished, or failed — and whose fault.

The only inputs are the two pods' manifests as the API server returns them (the
kubelet's view) and the clock; the result is one `Outcome`, named by a
`kubegym.api.reasons.Reason`. Infrastructure failures (node lost, eviction for
node pressure or through the Eviction API, image pulls, unschedulable past the
deadline, pods deleted from outside, preemption) are retried by the Trial's
logic; agent outcomes are final: the summary in the agent container's
termination message, a deadline the agent overran, and anything done from
inside the trial. The evidence for the agent's doing, with the node healthy
(no DisruptionTarget condition, no node-lost or eviction status, phase known)
and the pod not deleted:

- the sandbox container stopped (its PID 1, the sandbox server, killed or
  exited: nothing but the agent's commands runs beside it), or the evaluator
  container (which plays the agent's code) ended with an error → `sandbox_killed`;
- a container OOM-killed at its own memory limit (``OOMKilled``), the agent
  pod's included (the agent is the contestant) → `memory_limit`;
- evicted by the kubelet for exceeding the pod's own ephemeral-storage limits:
  the kubelet (pkg/kubelet/eviction) evicts those with no DisruptionTarget
  condition and one of three messages (a container's or the pod's limit, an
  emptyDir's sizeLimit), while a node-pressure eviction carries DisruptionTarget
  ``TerminationByKubelet`` → `storage_limit`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any, Literal

from kubegym.api import reasons
from kubegym.api import summary as summary_mod
from kubegym.api.trials import ExitReason, InfraReason

#: Image errors that will not heal by waiting (ErrImagePull alone is retried by the kubelet).
_IMAGE_ERRORS = {"ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
#: Node-lifecycle and preemption reasons on the DisruptionTarget condition.
_NODE_LOST = {"DeletionByTaintManager", "DeletionByPodGC", "TerminationByKubelet"}
#: The kubelet's messages for evicting a pod over its own ephemeral-storage limits
#: (pkg/kubelet/eviction/helpers.go: containerEphemeralStorageMessageFmt,
#: podEphemeralStorageMessageFmt, emptyDirMessageFmt); no DisruptionTarget comes with them.
_OWN_STORAGE_LIMIT = (
    "exceeded its local ephemeral storage limit",
    "ephemeral local storage usage exceeds the total limit of containers",
    "exceeds the limit",
)
#: How long a stopped sandbox container waits for the kubelet's word on its pod before it
#: counts as stopped from inside: on an eviction the kubelet reports the containers' ends
#: (their servers exit 0 on its SIGTERM) a moment before the pod's reason and message.
SETTLE_SECONDS = 10.0
#: The sandbox pod's container whose stopping, on a healthy node, only the agent causes.
_SANDBOX_CONTAINER = "sandbox"
#: Agent summaries that report the sandbox gone: the pods' evidence is read first.
_NEEDS_POD_EVIDENCE = {reasons.Reason.SANDBOX_KILLED.value}
_PREEMPTED = {
    "PreemptionByScheduler",
    "Preempted",
    "EvictedByKueue",
    "PreemptedByKueue",
    "InactiveWorkload",
}
#: Kueue's pod integration (v0.17) stops each pod of a Workload it evicts by writing this
#: condition (never DisruptionTarget) and then deleting the pod. Its reason is
#: ``WorkloadEvictedDueTo<the Workload's Evicted reason>`` (``WorkloadEvictedDueToPreempted``
#: for a higher-priority workload), or ``WorkloadDeleted``, ``NotAdmitted``,
#: ``NoMatchingWorkload``: the queue's doing in every case, never the agent's.
KUEUE_STOPPED = "TerminationTarget"
_KUEUE_NODE_FAILURES = "WorkloadEvictedDueToNodeFailures"


#: How often an attempt waiting in a queue is looked at without news (its pods' own
#: changes, such as the admission, wake the operator sooner).
QUEUED_RECHECK_SECONDS = 300
#: The label that puts a pod under Kueue (`kubegym.operator.objects.attempt.KUEUE_QUEUE`).
KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"


@dataclass(frozen=True)
class Outcome:
    """One attempt's state.

    Attributes:
        state: `starting` (pods not all running yet), `running`, `finished` (the
            agent reported a summary), `infra` (retry) or `agent` (a final failure).
        reason: for `infra`, the InfraReason; for `agent`, the exit reason;
            for `starting`, what it waits for.
        message: the detail, for the Trial's status and events.
        summary: for `finished`, the agent's summary (exit reason, steps, tokens, cost).
        record: for `finished`, the evaluator's record: the trial's only source of scores.
        deadline: for `starting`, when waiting turns into `Unschedulable`.
        running_since: when both pods were running (for the scheduling latency).
        recheck_after: for `running`, look again after this many seconds even if no pod
            changes (evidence that is still settling).
    """

    state: Literal["starting", "running", "finished", "infra", "agent"]
    reason: str = ""
    message: str = ""
    summary: summary_mod.TrialSummary | None = None
    deadline: dt.datetime | None = None
    running_since: dt.datetime | None = None
    record: summary_mod.EvaluatorRecord | None = None
    recheck_after: float | None = None

    @property
    def done(self) -> bool:
        return self.state in ("finished", "infra", "agent")


def infra(reason: InfraReason, message: str) -> Outcome:
    return Outcome("infra", reason, message)


def agent_failure(reason: ExitReason, message: str) -> Outcome:
    return Outcome("agent", reason, message)


def classify(
    sandbox: dict[str, Any] | None,
    agent: dict[str, Any] | None,
    *,
    created: dt.datetime,
    now: dt.datetime,
    scheduling_seconds: int,
) -> Outcome:
    """The outcome of an attempt whose objects were created at `created`.

    Args:
        sandbox: the sandbox pod, or None when it is gone.
        agent: the agent pod, or None when it is gone.
        created: when the attempt's pods were created.
        now: the time now.
        scheduling_seconds: how long pods may wait for a node (the run's deadline).
    """
    if sandbox is None or agent is None:
        for pod, name in ((sandbox, "sandbox"), (agent, "agent")):
            stopped = None if pod is None else _kueue_stop(pod, name)
            if stopped is not None:
                # Kueue deletes every pod of the Workload it stops: the other went first.
                return stopped
        missing = "sandbox" if sandbox is None else "agent"
        return infra("PodDeleted", f"the {missing} pod was deleted from outside")
    # The agent's summary comes first: one written before the sandbox went away stands.
    # Without one, what happened to the pods (evicted, preempted, out of time) explains
    # the agent's end better than its exit code does.
    # A summary that reports the sandbox lost, or an infrastructure failure, is
    # checked against the pods: a lost node stays the platform's, a killed sandbox
    # container the agent's, whatever the agent's summary says.
    ended = _agent_result(agent)
    if ended is not None and ended.state == "finished" and ended.reason not in _NEEDS_POD_EVIDENCE:
        # The pods ran, even if nobody saw them running before the agent finished.
        return _with_record(ended, sandbox, agent)
    for pod, name in ((sandbox, "sandbox"), (agent, "agent")):
        failure = _pod_failure(pod, name, now)
        if failure is not None:
            return failure
    if ended is not None:
        if ended.state == "finished":
            return _with_record(ended, sandbox, agent)
        return ended
    waiting = [p for p in (sandbox, agent) if _phase(p) == "Pending"]
    gated = sorted({g for p in waiting for g in _gates(p)})
    if gated:
        # Held back by a queue (Kueue's admission gate): waiting there is the cluster's
        # order, not a failure to schedule; the deadline counts from the admission
        # (`created` is then the time the operator first saw the pods let go).
        return Outcome(
            "starting",
            "Queued",
            f"waiting for admission ({', '.join(gated)})",
            deadline=now + dt.timedelta(seconds=QUEUED_RECHECK_SECONDS),
        )
    if waiting:
        deadline = created + dt.timedelta(seconds=scheduling_seconds)
        reason, message = _why_pending(waiting)
        if now >= deadline:
            return infra(
                "Unschedulable",
                f"not running {scheduling_seconds}s after creation: {message or reason}",
            )
        return Outcome("starting", reason, message, deadline=deadline)
    return Outcome("running", running_since=_running_since(sandbox, agent))


#: The sandbox pod's container that writes the trial's record (`kubegym.evaluator.server`).
_EVALUATOR_CONTAINER = "evaluator"


def _with_record(ended: Outcome, sandbox: dict[str, Any], agent: dict[str, Any]) -> Outcome:
    """A finished agent's outcome with the evaluator's record; until the evaluator container
    has ended (it does on the submit, the agent runner's finish call, or the trial's wall
    time), the attempt is still running: its scores are not known yet."""
    since = _running_since(sandbox, agent)
    record = evaluator_record(sandbox)
    if record is None:
        message = "the agent has finished; waiting for the evaluator's record of the scores"
        return Outcome("running", "AwaitingEvaluator", message, running_since=since)
    return replace(ended, record=record, running_since=since)


def evaluator_record(sandbox: dict[str, Any]) -> summary_mod.EvaluatorRecord | None:
    """The evaluator container's record, once it has ended (None while it runs).

    A container that ended without a readable record (killed before it started
    serving), or a pod that ended with no word of it, scored nothing: an empty
    record, ended ``stopped``.
    """
    for status in (sandbox.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") != _EVALUATOR_CONTAINER:
            continue
        terminated = (status.get("state") or {}).get("terminated")
        if not terminated:
            return None
        try:
            return summary_mod.EvaluatorRecord.from_message(terminated.get("message") or "")
        except ValueError:
            return summary_mod.EvaluatorRecord(end="stopped")
    if _phase(sandbox) in ("Failed", "Succeeded"):
        return summary_mod.EvaluatorRecord(end="stopped")
    return None


def _phase(pod: dict[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def _statuses(pod: dict[str, Any]) -> list[dict[str, Any]]:
    status = pod.get("status") or {}
    inits = [{**s, "init": True} for s in status.get("initContainerStatuses") or []]
    return [*inits, *(status.get("containerStatuses") or [])]


def _condition(pod: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return dict(condition)
    return None


def _agent_result(agent: dict[str, Any]) -> Outcome | None:
    """The agent container's summary, once it has terminated."""
    for status in (agent.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") != "agent":
            continue
        terminated = (status.get("state") or {}).get("terminated")
        if not terminated:
            return None
        if terminated.get("reason") == "OOMKilled":
            # The agent is the contestant: its memory is its own to manage.
            return agent_failure("memory_limit", "the agent container hit its memory limit")
        text = terminated.get("message") or ""
        try:
            result = summary_mod.TrialSummary.from_message(text)
        except ValueError as exc:
            code = terminated.get("exitCode")
            return agent_failure(
                "agent_error", f"the agent exited ({code}) without a summary: {exc}"
            )
        if result.exit == "infra_error":
            # The attempt is retried, but what it spent on the model is spent.
            message = result.message or "the agent lost its sandbox"
            cause = reasons.Reason(result.infra_reason or reasons.Reason.SANDBOX_UNREACHABLE)
            return Outcome("infra", cause.value, message, summary=result)
        return Outcome("finished", result.exit, result.describe(), summary=result)
    return None


def _pod_failure(pod: dict[str, Any], name: str, now: dt.datetime) -> Outcome | None:
    """How the `name` pod (sandbox or agent) has failed, if it has, and whose fault it is.

    The pod's own word is read first (`_pod_level_failure`: disruption, eviction, a
    lost node, its deadline), then its containers' (`_container_failure`), then its
    phase (`_phase_failure`): the node's account of a failure outranks what it did to
    the containers.
    """
    failure = _pod_level_failure(pod, name)
    if failure is None:
        failure = _container_failure(pod, name, now)
    if failure is None:
        failure = _phase_failure(pod, name)
    return failure


def _pod_level_failure(pod: dict[str, Any], name: str) -> Outcome | None:
    """What the pod's status says: preempted, evicted, its node lost, or its deadline passed."""
    stopped = _kueue_stop(pod, name)
    if stopped is not None:
        return stopped
    status = pod.get("status") or {}
    reason = status.get("reason") or ""
    message = status.get("message") or ""
    disruption = _condition(pod, "DisruptionTarget")
    if disruption is not None and disruption.get("status") == "True":
        cause = disruption.get("reason") or ""
        text = disruption.get("message") or cause
        if cause in _PREEMPTED:
            return infra("Preempted", f"the {name} pod was preempted: {text}")
        if cause == "TerminationByKubelet" and reason == "Evicted":
            return infra("Evicted", f"the {name} pod was evicted for node pressure: {text}")
        if cause in _NODE_LOST:
            return infra("NodeLost", f"the {name} pod's node went away: {text}")
        if cause == "EvictionByEvictionAPI":
            return infra("Evicted", f"the {name} pod was evicted: {text}")
    if reason == "Evicted":
        if any(text in message for text in _OWN_STORAGE_LIMIT):
            return agent_failure(
                "storage_limit", f"the {name} pod went past its own storage limit: {message}"
            )
        return infra("Evicted", f"the {name} pod was evicted: {message}")
    if reason in ("NodeLost", "UnexpectedAdmissionError") or _phase(pod) == "Unknown":
        return infra("NodeLost", f"the {name} pod's node stopped reporting: {message or reason}")
    if reason == "DeadlineExceeded":
        # activeDeadlineSeconds is a backstop behind the agent's own wall-time limit.
        return agent_failure("wall_time", f"the {name} pod ran past the trial's wall time")
    return None


def disrupted(pod: dict[str, Any]) -> bool:
    """Whether the pod says something outside the trial stopped it: Kueue's stop
    (`KUEUE_STOPPED`) or Kubernetes' DisruptionTarget (preemption, eviction, taint)."""
    return any(
        (condition := _condition(pod, kind)) is not None and condition.get("status") == "True"
        for kind in (KUEUE_STOPPED, "DisruptionTarget")
    )


def _kueue_stop(pod: dict[str, Any], name: str) -> Outcome | None:
    """Kueue took the pod's quota back (`KUEUE_STOPPED`): preempted, or its node failed."""
    condition = _condition(pod, KUEUE_STOPPED)
    if condition is None or condition.get("status") != "True":
        return None
    cause = str(condition.get("reason") or "")
    text = condition.get("message") or cause
    if cause == _KUEUE_NODE_FAILURES:
        return infra("NodeLost", f"Kueue stopped the {name} pod, its node failed: {text}")
    return infra("Preempted", f"Kueue stopped the {name} pod ({cause}): {text}")


def _container_failure(pod: dict[str, Any], name: str, now: dt.datetime) -> Outcome | None:
    """The first container whose end is a failure, init containers first.

    One that cannot pull its image, one out of memory, or in the sandbox pod one
    that stopped (`_sandbox_container_stopped`).
    """
    for container in _statuses(pod):
        state = container.get("state") or {}
        waiting = state.get("waiting") or {}
        if waiting.get("reason") in _IMAGE_ERRORS:
            return infra(
                "ImagePullFailed",
                f"image {container.get('image')} of the {name} pod's "
                f"{container.get('name')} container cannot be pulled: "
                f"{waiting.get('message') or waiting.get('reason')}",
            )
        terminated = state.get("terminated") or {}
        if container.get("init") and terminated.get("exitCode") == 0:
            continue  # an init container that did its job
        if terminated.get("reason") == "OOMKilled":
            return agent_failure(
                "memory_limit",
                f"the {name} pod's {container.get('name')} container hit its memory limit",
            )
        if terminated and name == "sandbox":
            stopped = _sandbox_container_stopped(pod, container, terminated, now)
            if stopped is not None:
                return stopped
    return None


def _sandbox_container_stopped(
    pod: dict[str, Any], container: dict[str, Any], terminated: dict[str, Any], now: dt.datetime
) -> Outcome | None:
    """A sandbox pod's container has ended: whose doing it was, once the kubelet has had its say.

    An init container's failure is the platform's, as is one in a pod deleted from
    outside; the sandbox container stopping, or another ending in error, on a healthy
    node is the agent's, after SETTLE_SECONDS for an eviction's word to land. None
    for a server that exited cleanly (another container than the sandbox's).
    """
    stopped = (
        f"the sandbox pod's {container.get('name')} container stopped "
        f"(exit {terminated.get('exitCode')}, {terminated.get('reason') or 'no reason'})"
    )
    if container.get("init"):
        # Init containers lay out the workspace before any agent command runs.
        return infra("SandboxFailed", stopped)
    if _deleted(pod):
        return infra("PodDeleted", f"{stopped} after the pod was deleted from outside")
    if container.get("name") == _SANDBOX_CONTAINER or terminated.get("exitCode") != 0:
        # The node is healthy (checked above) and nobody deleted the pod: only the
        # agent's commands, or its code the evaluator plays, run beside these servers.
        # Unless the kubelet is about to say otherwise (an eviction's reason comes
        # after the containers' ends): give it SETTLE_SECONDS.
        stamp = terminated.get("finishedAt")
        waited = (now - parse_time(stamp)).total_seconds() if stamp else SETTLE_SECONDS
        if waited < SETTLE_SECONDS:
            return Outcome(
                "running",
                "AwaitingPodStatus",
                f"{stopped}; waiting {SETTLE_SECONDS:.0f}s for the kubelet's word on the pod",
                recheck_after=SETTLE_SECONDS - waited + 0.5,
            )
        return agent_failure(
            "sandbox_killed", f"{stopped} on a healthy node: killed from inside the trial"
        )
    return None


def _phase_failure(pod: dict[str, Any], name: str) -> Outcome | None:
    """A pod that ended with no container to blame: Failed, or a sandbox pod Succeeded early."""
    status = pod.get("status") or {}
    reason = status.get("reason") or ""
    message = status.get("message") or ""
    ended = any(
        (c.get("state") or {}).get("terminated") for c in _statuses(pod) if not c.get("init")
    )
    if _phase(pod) == "Failed" and (name == "sandbox" or not ended):
        # An agent pod fails whenever its container exits non-zero: that is the agent's
        # own outcome. Failed with no container ever ending is the node's doing.
        return infra(
            "SandboxFailed" if name == "sandbox" else "NodeLost",
            f"the {name} pod failed: {message or reason}",
        )
    if _phase(pod) == "Succeeded" and name == "sandbox":
        return infra("SandboxFailed", "the sandbox pod stopped before the agent finished")
    return None


def needs_eviction_word(pod: dict[str, Any] | None) -> bool:
    """Whether a sandbox pod ended with its servers stopped but no reason: a pod the kubelet
    evicted whose containers exited 0 turns Succeeded first, and a terminal phase never
    changes, so its ``Evicted`` reason never lands; the kubelet's Event says it instead."""
    if pod is None:
        return False
    status = pod.get("status") or {}
    return _phase(pod) in ("Succeeded", "Failed") and not status.get("reason")


def with_eviction(pod: dict[str, Any], messages: list[str]) -> dict[str, Any]:
    """``pod`` as its status would read had the kubelet's eviction landed: the last of its
    ``Evicted`` events' ``messages`` as the reason's message (``pod`` when there are none)."""
    if not messages:
        return pod
    status = {**(pod.get("status") or {}), "reason": "Evicted", "message": messages[-1]}
    return {**pod, "status": status}


def _deleted(pod: dict[str, Any]) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def _gates(pod: dict[str, Any]) -> list[str]:
    """The pod's scheduling gates (Kueue's ``kueue.x-k8s.io/admission`` while it queues)."""
    gates = (pod.get("spec") or {}).get("schedulingGates") or []
    return [str(g.get("name")) for g in gates if isinstance(g, dict) and g.get("name")]


def queued(*pods: dict[str, Any] | None) -> bool:
    """Whether a pod of the attempt is held back by a scheduling gate (a queue's admission)."""
    return any(pod is not None and _gates(pod) for pod in pods)


def queue_managed(*pods: dict[str, Any] | None) -> bool:
    """Whether the attempt's pods are Kueue's to admit (they carry its queue label)."""
    return any(
        pod is not None and KUEUE_QUEUE_LABEL in ((pod.get("metadata") or {}).get("labels") or {})
        for pod in pods
    )


def _why_pending(pods: list[dict[str, Any]]) -> tuple[str, str]:
    for pod in pods:
        scheduled = _condition(pod, "PodScheduled")
        if scheduled is not None and scheduled.get("status") == "False":
            return str(scheduled.get("reason") or "Unschedulable"), str(
                scheduled.get("message") or ""
            )
    for pod in pods:
        for container in _statuses(pod):
            waiting = (container.get("state") or {}).get("waiting") or {}
            if waiting:
                return str(waiting.get("reason") or "Waiting"), str(waiting.get("message") or "")
    return "Scheduling", "waiting for a node"


def _running_since(*pods: dict[str, Any]) -> dt.datetime | None:
    times = []
    for pod in pods:
        ready = _condition(pod, "Ready") or _condition(pod, "PodScheduled")
        stamp = (ready or {}).get("lastTransitionTime") or (pod.get("status") or {}).get(
            "startTime"
        )
        if stamp:
            times.append(parse_time(stamp))
    return max(times) if times else None


def parse_time(value: str | dt.datetime) -> dt.datetime:
    """An RFC 3339 timestamp from the API server, as an aware datetime."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
