"""What to do next for one Trial: start an attempt, record its outcome, retry, or nothing.

`decide` is a pure function of the Trial, its current attempt's pods and the
clock; `kubegym.operator.controller` reads those from the API server and carries
the decision out. Level-triggered: deciding twice on the same state gives the
same answer, which is what makes a restarted operator safe.

The life of a trial: Pending (not admitted by its run yet) → admitted → the
attempt's objects are created → Running once both pods run → the agent pod's
summary is copied into the status (Succeeded, or Failed when nothing valid was
submitted), or an infrastructure failure deletes the attempt and a new one
starts after the policy's backoff, until the retries are spent (Failed,
`infra`). A finished trial's pods and Secret are deleted: its record is in its
status and its artifacts in the store, and the API server's object count stays
bounded by the trials running, not the trials run.

Writes are few: starting an attempt writes no status (a Pending trial with pods
has started; its pods' creation time is its start), so a trial's status is
written twice — when both pods run (or at once when they end before that was
seen) and when it ends.

Where a finished trial's numbers come from: its scores, final metrics and
validate count only from the evaluator's record (the evaluator container's
termination message, `kubegym.api.summary.EvaluatorRecord`); its exit reason,
steps, tokens and cost from the agent's summary, which cannot raise a score: an
agent that says it submitted when the evaluator scored no submission has failed.
Which images its containers ran (`status.images`) comes from the pods' statuses
alone (`kubegym.operator.digests`), written by the kubelet.
"""

from __future__ import annotations

import datetime as dt
import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubegym.api import images as images_api
from kubegym.api import reasons, runs, tasks, trials
from kubegym.api.common import Condition
from kubegym.api.summary import EvaluatorRecord, TrialSummary
from kubegym.operator import compaction, digests, labels, outcomes

#: Set by the run's logic when it admits a trial; the trial's logic starts nothing before.
ADMITTED = f"{labels.PREFIX}/admitted"
#: Retries that do not count against the policy (the queue's own doing), per the reasons' table.
_FREE_RETRIES = {r.value for r in reasons.Reason if r.retry is reasons.Retry.FREE}


_NOT_PARSED_WHEN_FINISHED = frozenset(("scores", "conditions"))
#: zlib's level for a finished trial's packed status: made once per finished Trial, read
#: back rarely (its leaderboard row is kept), so the fastest level (3.0 KiB of JSON → 0.6).
_PACK_LEVEL = 1


class TrialView:
    """A Trial as the API server returned it: read-only (the informer cache shares it).

    A finished trial's status is kept packed (`packed_status`): its fields other than its
    conditions as the server's JSON, zlib-compressed, made into a `TrialStatus` again on
    each read of `status`. Of a finished trial, a run's reconcile reads only its phase,
    cost, retries and leaderboard row (`memo`), every second, for every trial of the run;
    its whole status is read only for its result (`kubegym.operator.results.result_of`:
    the row once, the run's rollup files once); its own reconcile reads its phase and
    attempt (`decide` stops at `finished`). Kept
    as models, a finished status was 2.7 KiB of a view's 3.5 (bench/operator_memory.py:
    8,000 finished trials of 10,000); packed it is about 0.6 KiB.
    """

    __slots__ = (
        "_status",
        "admitted",
        "attempt",
        "cost_usd",
        "created",
        "infra_retries",
        "memo",
        "name",
        "namespace",
        "packed_status",
        "phase",
        "spec",
        "uid",
    )

    namespace: str
    name: str
    uid: str
    spec: trials.TrialSpec
    admitted: bool
    created: dt.datetime
    memo: dict[Any, Any]
    """What is derived from this very version of the Trial, kept with it (the informer
    cache parses each version once, so a run's rollup reuses its finished trials' results)."""
    phase: trials.TrialPhase
    attempt: int
    cost_usd: float
    infra_retries: int
    """How many attempts the infrastructure failed (``len(status.infra_failures)``)."""
    packed_status: bytes | None
    """A finished trial's status without its conditions, as packed JSON; None while it runs."""
    _status: trials.TrialStatus | None

    def __init__(
        self,
        *,
        namespace: str,
        name: str,
        uid: str,
        spec: trials.TrialSpec,
        status: trials.TrialStatus,
        admitted: bool,
        created: dt.datetime,
        wire_status: Mapping[str, Any] | None = None,
    ) -> None:
        """`status` as parsed; a finished one is packed from `wire_status` (the server's
        JSON, as `from_body` has it) or else from `status` itself."""
        self.namespace, self.name, self.uid, self.spec = namespace, name, uid, spec
        self.admitted, self.created, self.memo = admitted, created, {}
        self.phase, self.attempt, self.cost_usd = status.phase, status.attempt, status.cost_usd
        self.infra_retries = len(status.infra_failures)
        if not status.finished:
            self._status, self.packed_status = status, None
            return
        if wire_status is None:
            wire_status = status.model_dump(mode="json", by_alias=True)
        kept = {k: v for k, v in wire_status.items() if k != "conditions"}
        text = json.dumps(kept, separators=(",", ":"), ensure_ascii=False)
        self._status, self.packed_status = None, zlib.compress(text.encode(), _PACK_LEVEL)

    @property
    def status(self) -> trials.TrialStatus:
        """The Trial's status; a finished trial's is made from its packed JSON on each read
        (read it once into a local), and its scores are validated then: a malformed one
        raises, never counts as something else."""
        if self._status is not None:
            return self._status
        assert self.packed_status is not None
        return trials.TrialStatus.model_validate_json(zlib.decompress(self.packed_status))

    @property
    def finished(self) -> bool:
        return self.phase in trials.FINISHED_PHASES

    def replace(self, **changes: Any) -> TrialView:
        """A copy with `changes` (the constructor's keyword arguments): another version."""
        fields: dict[str, Any] = {
            "namespace": self.namespace,
            "name": self.name,
            "uid": self.uid,
            "spec": self.spec,
            "admitted": self.admitted,
            "created": self.created,
        }
        if "status" not in changes:
            fields["status"] = self.status
        return TrialView(**{**fields, **changes})

    def __repr__(self) -> str:
        return (
            f"TrialView({self.namespace}/{self.name}, {self.spec!r}, phase={self.phase}, "
            f"attempt={self.attempt}, admitted={self.admitted})"
        )

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> TrialView:
        meta = body["metadata"]
        spec = trials.TrialSpec.model_validate(body["spec"])
        raw = body.get("status") or {}
        wire = None
        if raw.get("phase") in trials.FINISHED_PHASES:
            # Its conditions (2 KiB) are never read, nor its scores but for its result,
            # which validates them when the status is unpacked; the rest is validated now.
            # Nothing writes a finished trial's status back (`decide` stops at `finished`).
            wire = raw
            raw = {k: v for k, v in raw.items() if k not in _NOT_PARSED_WHEN_FINISHED}
        status = trials.TrialStatus.model_validate(raw)
        if wire is None:
            # Kept in the cache for every running trial: its models share their field
            # sets, and its image records those of the other trials (the same few images).
            status.__dict__["images"] = compaction.shared_images(status.images)
            compaction.share_field_sets([spec, status])
        else:
            compaction.share_field_sets(spec)
        return cls(
            namespace=meta["namespace"],
            name=meta["name"],
            uid=meta.get("uid", ""),
            spec=spec,
            status=status,
            admitted=ADMITTED in (meta.get("annotations") or {}),
            created=outcomes.parse_time(meta.get("creationTimestamp") or dt.datetime.now(dt.UTC)),
            wire_status=wire,
        )


@dataclass
class Decision:
    """What the controller must do for one Trial.

    Attributes:
        status: the status to write, or None when it is unchanged.
        start: create the objects of this attempt (those that exist already are left
            as they are: the controller's create is idempotent).
        delete_attempt: delete the objects of this attempt (its pods and its Secret).
        requeue_after: look again after this many seconds even if nothing changes.
        events: (type, reason, message) for Kubernetes Events and log lines.
        outcome: what the pods said (for metrics), when they were looked at.
    """

    status: trials.TrialStatus | None = None
    start: int | None = None
    delete_attempt: int | None = None
    requeue_after: float | None = None
    events: list[tuple[str, str, str]] = field(default_factory=list)
    outcome: outcomes.Outcome | None = None


@dataclass(frozen=True)
class AttemptPods:
    """The pods of the Trial's current attempt (None where missing), and whether any exist."""

    sandbox: dict[str, Any] | None
    agent: dict[str, Any] | None
    created: dt.datetime | None = None
    admitted: dt.datetime | None = None
    """When a queue (Kueue) let the pods go, as the operator first saw it; None when no
    queue holds them. The scheduling deadline counts from here: time in the queue is not
    time failing to schedule."""

    @property
    def any(self) -> bool:
        return self.sandbox is not None or self.agent is not None

    @property
    def both(self) -> bool:
        return self.sandbox is not None and self.agent is not None

    @property
    def undeleted(self) -> bool:
        """Some pod of the attempt is there and not being deleted already."""
        return any(
            pod is not None and not (pod.get("metadata") or {}).get("deletionTimestamp")
            for pod in (self.sandbox, self.agent)
        )


def waits_to_start(body: Mapping[str, Any]) -> bool:
    """Whether a Trial, as a watch event brings it, is admitted and not started yet: its
    reconcile would create an attempt's pods, which is what its run waits on (the work
    queue takes such keys first)."""
    meta = body.get("metadata") or {}
    status = body.get("status") or {}
    admitted = ADMITTED in (meta.get("annotations") or {})
    return admitted and status.get("phase", "Pending") == "Pending"


def decide(
    trial: TrialView,
    pods: AttemptPods,
    *,
    task: tasks.Task | None,
    run: runs.BenchmarkRunSpec | None,
    now: dt.datetime,
) -> Decision:
    """The next step for `trial`, given its current attempt's pods: pure; the controller does it.

    In order: finish the clean-up of a finished trial (else nothing more); wait for
    its run to admit it; fail it when its Task or agent is gone; start an attempt once
    a Pending trial's backoff is over, or finish a start that was cut short
    (`_start_attempt`); else ask the pods how the attempt goes (`outcomes.classify`)
    and wait while they start, note them running (`_running`), or record how the
    attempt ended (`_ended`).

    Args:
        trial: the Trial.
        pods: its current attempt's pods.
        task: its Task, None when it is gone.
        run: its run's spec, None when the run is gone.
        now: the time to stamp the status with.
    """
    if trial.finished:
        if pods.undeleted:  # a finish whose clean-up was interrupted
            return Decision(delete_attempt=trial.attempt)
        return Decision()
    status = trial.status
    if not trial.admitted or run is None:
        return Decision()
    if task is None:
        return _final(
            status, "Failed", "agent_error", "agent", f"task {trial.spec.task} is gone", now
        )
    if not any(a.name == trial.spec.agent for a in run.agents):
        message = f"agent {trial.spec.agent} is no longer in run {trial.spec.run}"
        return _final(status, "Failed", "cancelled", "agent", message, now)
    if status.phase == "Pending" and not pods.both:
        return _start_attempt(trial, pods, run, now)
    # Started (both pods made) or Running: what do the pods say?
    started = status.start_time or pods.created or now
    outcome = outcomes.classify(
        pods.sandbox,
        pods.agent,
        created=max(started, pods.admitted) if pods.admitted else started,
        now=now,
        scheduling_seconds=run.deadlines.scheduling_seconds,
    )
    if outcome.state == "starting":
        assert outcome.deadline is not None
        return Decision(requeue_after=max(0.5, (outcome.deadline - now).total_seconds() + 0.1))
    seen = _ImagesSeen.read(status, pods)
    if status.phase == "Pending":
        status = _started(trial, started, now)
    if outcome.state == "running":
        decision = _running(status, outcome, seen, now)
        if decision.status is None and status is not trial.status:
            decision.status = status  # the start itself is news
        return decision
    return _ended(status, outcome, seen, task, run.retry_policy, now)


def _start_attempt(
    trial: TrialView, pods: AttemptPods, run: runs.BenchmarkRunSpec, now: dt.datetime
) -> Decision:
    """A Pending trial without both pods: once its backoff is over, create the attempt's objects.

    No status is written: a Pending trial with both pods has started, and its status
    is written once they run (`_started`). A Pending trial with one pod is a start
    that was cut short (the operator killed, an API error between two creates, a quota
    refusing the second pod): creating again finishes it (what exists is left alone),
    and the missing pod is never read as one deleted from outside.
    """
    status = trial.status
    wait = _seconds_until(status.next_attempt_time, now)
    if wait > 0 and not pods.any:
        return Decision(requeue_after=wait)
    events = []
    if not pods.any:
        events.append(("Normal", "AttemptStarted", f"attempt {status.attempt} started"))
    # A pod the API server refused (a quota) is asked for again soon; the scheduling
    # deadline applies once both pods exist.
    return Decision(
        start=status.attempt,
        requeue_after=5.0 if pods.any else float(run.deadlines.scheduling_seconds),
        events=events,
    )


def _started(trial: TrialView, started: dt.datetime, now: dt.datetime) -> trials.TrialStatus:
    """The status of a trial whose attempt's pods both exist: Running since they were made."""
    status = trial.status
    return status.model_copy(
        update={
            "phase": "Running",
            "start_time": started,
            "next_attempt_time": None,
            "sandbox_pod": f"{trial.name}-a{status.attempt}-sandbox",
            "agent_pod": f"{trial.name}-a{status.attempt}-agent",
            "conditions": _condition(status, "Scheduled", "False", "Scheduling", "", now),
        }
    )


@dataclass(frozen=True)
class _ImagesSeen:
    """What the attempt's containers ran, from the kubelet's side of the pods.

    Read once they run and again at their end, so an image swapped in between shows.
    """

    images: list[images_api.ImageRecord]
    """The status's records merged with what the pods report now."""

    events: list[tuple[str, str, str]]
    """A warning for each integrity note that is new since the status was written."""

    @classmethod
    def read(cls, status: trials.TrialStatus, pods: AttemptPods) -> _ImagesSeen:
        """The images `pods` report now, merged into those `status` holds."""
        images = digests.merge(status.images, digests.collect(pods.sandbox, pods.agent))
        events = [
            ("Warning", "ImageIntegrity", f"attempt {status.attempt}: {note}")
            for note in digests.notes(images)
            if note not in digests.notes(status.images)
        ]
        return cls(images, events)


def _running(
    status: trials.TrialStatus, outcome: outcomes.Outcome, seen: _ImagesSeen, now: dt.datetime
) -> Decision:
    """Both pods run: record the images seen, and the time it was first seen scheduled."""
    update: dict[str, Any] = {}
    events = list(seen.events)
    if seen.images != status.images:
        update["images"] = seen.images
    if status.scheduled_time is None:
        update["scheduled_time"] = outcome.running_since or now
        update["conditions"] = _condition(status, "Scheduled", "True", "PodsRunning", "", now)
        events.insert(0, ("Normal", "Running", f"attempt {status.attempt}: both pods are running"))
    if not update:
        return Decision(outcome=outcome, requeue_after=outcome.recheck_after)
    return Decision(
        status=status.model_copy(update=update),
        outcome=outcome,
        events=events,
        requeue_after=outcome.recheck_after,
    )


def _ended(
    status: trials.TrialStatus,
    outcome: outcomes.Outcome,
    seen: _ImagesSeen,
    task: tasks.Task,
    policy: runs.RetryPolicy,
    now: dt.datetime,
) -> Decision:
    """The attempt is over: record its score, the agent's failure, or the infrastructure's.

    A score is `_finished`; an infrastructure failure is retried while the policy
    allows (`_infra`). Either way the decision carries the images seen and their notes.
    """
    if outcome.state == "finished":
        assert outcome.summary is not None and outcome.record is not None
        decision = _finished(status, outcome.summary, outcome.record, task, now)
        assert decision.status is not None
        if decision.status.scheduled_time is None:  # finished before it was seen running
            decision.status.scheduled_time = outcome.running_since or now
    elif outcome.state == "agent":
        decision = _final(status, "Failed", outcome.reason, "agent", outcome.message, now)
    else:
        decision = _infra(status, outcome, policy, now)
    assert decision.status is not None
    # A retry starts a new attempt, whose pods are yet to report their images.
    decision.status.images = seen.images if decision.status.attempt == status.attempt else []
    decision.events += seen.events
    decision.outcome = outcome
    return decision


def _finished(
    status: trials.TrialStatus,
    result: TrialSummary,
    record: EvaluatorRecord,
    task: tasks.Task,
    now: dt.datetime,
) -> Decision:
    metric = task.spec.evaluation.primary_metric
    scored = record.final is not None
    exit_reason: str = result.exit
    message = result.message or result.describe()
    if not scored and result.exit == "submitted":
        if record.submitted:
            exit_reason = "eval_error"
            message = f"the submission could not be scored: {record.submit_error()}"
        else:
            # The agent's word against the evaluator's: no submission was scored.
            exit_reason = "agent_error"
            message = "the agent reported a submission, but the evaluator scored none"
    shown = ", ".join(f"{k}={v:g}" for k, v in (record.final or {}).items())
    describe = f"{exit_reason} after {result.steps} steps: {shown or 'no valid submission'}"
    new = status.model_copy(
        update={
            "phase": "Succeeded" if scored else "Failed",
            "exit_reason": exit_reason,
            "failure_class": None if scored else "agent",
            "final": record.final,
            "score": (record.final or {}).get(metric),
            "scores": record.scores,
            "validations": record.validations,
            "validations_refused": record.refused,
            "steps": result.steps,
            # Money and tokens add up over attempts (an attempt lost to the infrastructure
            # spent them too); steps and scores are the final attempt's.
            "tokens": status.tokens + result.tokens,
            "prompt_tokens": status.prompt_tokens + result.prompt_tokens,
            "cost_usd": status.cost_usd + result.cost_usd,
            "finish_time": now,
            "message": message,
            "conditions": _condition(status, "Completed", "True", "AgentFinished", describe, now),
        }
    )
    kind = "Normal" if scored else "Warning"
    return Decision(
        status=new,
        delete_attempt=status.attempt,
        events=[(kind, "Finished", describe)],
    )


def _final(
    status: trials.TrialStatus,
    phase: trials.TrialPhase,
    exit_reason: str,
    failure_class: trials.FailureClass,
    message: str,
    now: dt.datetime,
) -> Decision:
    new = status.model_copy(
        update={
            "phase": phase,
            "exit_reason": exit_reason,
            "failure_class": failure_class,
            "finish_time": now,
            "message": message,
            "conditions": _condition(
                status, "Completed", "True", _camel(exit_reason), message, now
            ),
        }
    )
    return Decision(
        status=new,
        delete_attempt=status.attempt,
        events=[("Warning", "Failed", message)],
    )


def _infra(
    status: trials.TrialStatus,
    outcome: outcomes.Outcome,
    policy: runs.RetryPolicy,
    now: dt.datetime,
) -> Decision:
    failure = trials.AttemptFailure(
        attempt=status.attempt,
        reason=outcome.reason,  # classify only makes InfraReasons
        message=outcome.message,
        time=now,
    )
    failures = [*status.infra_failures, failure][-64:]
    spent = outcome.summary
    tokens = status.tokens + (spent.tokens if spent else 0)
    prompt_tokens = status.prompt_tokens + (spent.prompt_tokens if spent else 0)
    cost = status.cost_usd + (spent.cost_usd if spent else 0.0)
    counted = sum(1 for f in failures if f.reason not in _FREE_RETRIES)
    free = len(failures) - counted
    event = ("Warning", outcome.reason, f"attempt {status.attempt}: {outcome.message}")
    if counted > policy.infra_retries or free > policy.preemption_retries:
        spent_on = (
            f"{free} preemptions (retryPolicy.preemptionRetries: {policy.preemption_retries})"
            if free > policy.preemption_retries
            else f"{outcome.reason} on every attempt ({len(failures)})"
        )
        decision = _final(
            status,
            "Failed",
            "infra_error",
            "infra",
            f"{spent_on}, the last: {outcome.message}",
            now,
        )
        assert decision.status is not None
        decision.status.infra_failures = failures
        decision.status.tokens, decision.status.cost_usd = tokens, cost
        decision.status.prompt_tokens = prompt_tokens
        decision.events.insert(0, event)
        return decision
    delay = 0 if outcome.reason in _FREE_RETRIES else policy.delay(counted)
    new = status.model_copy(
        update={
            "phase": "Pending",
            "attempt": status.attempt + 1,
            "infra_failures": failures,
            "tokens": tokens,
            "prompt_tokens": prompt_tokens,
            "cost_usd": cost,
            "next_attempt_time": now + dt.timedelta(seconds=delay),
            "start_time": None,
            "scheduled_time": None,
            "message": f"retrying after {outcome.reason}: {outcome.message}",
            "conditions": _condition(
                status, "Scheduled", "False", outcome.reason, outcome.message, now
            ),
        }
    )
    return Decision(
        status=new,
        delete_attempt=status.attempt,
        requeue_after=float(delay),
        events=[event, ("Normal", "Retrying", f"attempt {status.attempt + 1} in {delay}s")],
    )


def _condition(
    status: trials.TrialStatus,
    kind: str,
    value: str,
    reason: str,
    message: str,
    now: dt.datetime,
) -> list[Any]:
    """The status's conditions with `kind` set; its transition time moves only on a change."""
    kept = [c for c in status.conditions if c.type != kind]
    old = next((c for c in status.conditions if c.type == kind), None)
    since = old.last_transition_time if old is not None and old.status == value else now
    return [
        *kept,
        Condition(
            type=kind,
            status=value,
            reason=reason,
            message=message[:32768],
            last_transition_time=since,
        ),
    ]


def _camel(word: str) -> str:
    return "".join(part.capitalize() for part in word.split("_")) or "Unknown"


def _seconds_until(when: dt.datetime | None, now: dt.datetime) -> float:
    return 0.0 if when is None else (when - now).total_seconds()
