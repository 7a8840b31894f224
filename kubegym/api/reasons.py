"""The one enum of reasons a trial (or one attempt of it) ends, with whose doing each one is.

Every part of kubegym names an outcome with a `Reason`: the agent loop and the
local runner (``results.json``), the agent pod's summary, the operator's pod
classification (`kubegym.operator.outcomes`), the Trial's status and the
Prometheus labels (`kubegym.metrics.reasons`). Each member carries its failure
class (the agent's outcome or the platform's failure), its retry rule, its
metric label and a sentence for people; the reference table
(``docs/reference/reasons.md``) is generated from `TABLE`.

Wire values are the ones Trial statuses already hold: exit reasons in
snake_case (``Trial.status.exitReason``), what failed an attempt in CamelCase as
Kubernetes spells it (``Trial.status.infraFailures[].reason``).

The rule of attribution: anything caused from inside the trial (its processes
killed, its memory or storage limits exceeded, a bad submission, its own
sandbox server killed) is the agent's and is never retried, otherwise a crash
would be a free re-roll. Infrastructure means the platform failed the trial
(node lost, eviction for node pressure, image pull, preemption, unschedulable
past the deadline, the model API or the store down).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final


class FailureClass(enum.StrEnum):
    """Whose outcome a reason is."""

    AGENT = "agent"
    """The agent's: scored (a failure when nothing valid was submitted), never retried."""

    INFRA = "infra"
    """The platform's: left out of the scores, retried within the run's policy."""


class Retry(enum.StrEnum):
    """What happens to the attempt a reason ends."""

    NEVER = "never"
    """Final: the trial ends with this reason."""

    POLICY = "policy"
    """A new attempt, while the run's ``retryPolicy.infraRetries`` allows."""

    FREE = "free"
    """A new attempt that does not count against the policy (the queue's own doing)."""


class Kind(enum.StrEnum):
    """Where a reason is written."""

    EXIT = "exit"
    """Why a trial ended: ``exitReason`` of the Trial and of ``results.json``."""

    ATTEMPT = "attempt"
    """What failed one attempt: ``infraFailures[].reason``, the infra-failure metric label."""


class Reason(enum.StrEnum):
    """Why a trial or an attempt ended; the value is the wire spelling."""

    # --- exit reasons: why a trial ended ---------------------------------------------
    SUBMITTED = "submitted"
    MAX_STEPS = "max_steps"
    COST_LIMIT = "cost_limit"
    WALL_TIME = "wall_time"
    FORMAT_ERROR = "format_error"
    CONTEXT_WINDOW = "context_window"
    MODEL_ERROR = "model_error"
    EVAL_ERROR = "eval_error"
    AGENT_ERROR = "agent_error"
    SANDBOX_KILLED = "sandbox_killed"
    MEMORY_LIMIT = "memory_limit"
    STORAGE_LIMIT = "storage_limit"
    CANCELLED = "cancelled"
    INFRA_ERROR = "infra_error"
    INTERNAL_ERROR = "internal_error"
    # --- attempt reasons: what the platform did to one attempt -------------------------
    NODE_LOST = "NodeLost"
    EVICTED = "Evicted"
    IMAGE_PULL_FAILED = "ImagePullFailed"
    UNSCHEDULABLE = "Unschedulable"
    POD_DELETED = "PodDeleted"
    PREEMPTED = "Preempted"
    SANDBOX_START_FAILED = "SandboxStartFailed"
    SANDBOX_FAILED = "SandboxFailed"
    SANDBOX_UNREACHABLE = "SandboxUnreachable"
    EVALUATOR_UNREACHABLE = "EvaluatorUnreachable"
    MODEL_UNAVAILABLE = "ModelUnavailable"
    STORE_UNAVAILABLE = "StoreUnavailable"
    OOM_KILLED = "OOMKilled"

    @property
    def info(self) -> ReasonInfo:
        """The reason's class, retry rule, metric label and description."""
        return TABLE[self]

    @property
    def failure_class(self) -> FailureClass:
        return TABLE[self].failure_class

    @property
    def retry(self) -> Retry:
        return TABLE[self].retry

    @property
    def label(self) -> str:
        """The Prometheus label value (snake_case, from a closed set)."""
        return TABLE[self].label

    @property
    def kind(self) -> Kind:
        return TABLE[self].kind


@dataclass(frozen=True)
class ReasonInfo:
    """What one `Reason` means and what happens after it."""

    kind: Kind
    failure_class: FailureClass
    retry: Retry
    label: str
    description: str
    failed: bool = True
    """Whether the trial counts as failed (False: a scored outcome, failed only without a valid submission)."""


def _exit(
    label: str, description: str, *, failed: bool = True, cls: FailureClass = FailureClass.AGENT
) -> ReasonInfo:
    return ReasonInfo(Kind.EXIT, cls, Retry.NEVER, label, description, failed)


def _attempt(label: str, description: str, *, retry: Retry = Retry.POLICY) -> ReasonInfo:
    return ReasonInfo(Kind.ATTEMPT, FailureClass.INFRA, retry, label, description)


TABLE: Final[dict[Reason, ReasonInfo]] = {
    Reason.SUBMITTED: _exit(
        "submitted", "The agent submitted; the submission is scored on the test data.", failed=False
    ),
    Reason.MAX_STEPS: _exit(
        "max_steps", "The step limit; the workspace is submitted and scored.", failed=False
    ),
    Reason.COST_LIMIT: _exit(
        "cost_limit", "The model-cost limit; the workspace is submitted and scored.", failed=False
    ),
    Reason.WALL_TIME: _exit(
        "wall_time",
        "The wall-time limit (or the pod's active deadline behind it); the workspace is scored.",
        failed=False,
    ),
    Reason.FORMAT_ERROR: _exit(
        "format_error",
        "Replies the agent's parser could not read; the workspace is scored.",
        failed=False,
    ),
    Reason.CONTEXT_WINDOW: _exit(
        "context_window",
        "The model's context window is full; the workspace is scored.",
        failed=False,
    ),
    Reason.MODEL_ERROR: _exit(
        "model_error",
        "The model API still failed after the client's retries, and the agent's design ends the "
        "trial there (the mlgym preset, as MLGym's exit_api); the workspace is scored. Other "
        "agents leave it to an infrastructure retry (ModelUnavailable).",
        failed=False,
    ),
    Reason.EVAL_ERROR: _exit(
        "eval_error",
        "The final submission could not be scored: missing, malformed, or not a regular file.",
    ),
    Reason.AGENT_ERROR: _exit(
        "agent_error", "The agent crashed, or its container exited without a summary."
    ),
    Reason.SANDBOX_KILLED: _exit(
        "sandbox_killed",
        "The sandbox died under the agent's own command (its server killed from inside the "
        "jail), or the sandbox container stopped while its node was healthy and nobody deleted the pod.",
    ),
    Reason.MEMORY_LIMIT: _exit(
        "memory_limit",
        "A container of the trial (sandbox, evaluator or agent) was OOM-killed at its own memory limit.",
    ),
    Reason.STORAGE_LIMIT: _exit(
        "storage_limit",
        "The kubelet evicted a pod of the trial for using more ephemeral storage than its own limit.",
    ),
    Reason.CANCELLED: _exit(
        "cancelled", "The run no longer holds the trial's agent or task; no score."
    ),
    Reason.INFRA_ERROR: _exit(
        "infra_error",
        "The platform failed every attempt the retry policy allowed; left out of the scores.",
        cls=FailureClass.INFRA,
    ),
    Reason.INTERNAL_ERROR: _exit(
        "internal_error",
        "kubegym itself failed on this trial (a bug); recorded, never retried, and `kubegym run` "
        "exits 3 so a person looks.",
        cls=FailureClass.INFRA,
    ),
    Reason.NODE_LOST: _attempt(
        "node_lost", "The node went away, stopped reporting, or shut down (taint manager, pod GC)."
    ),
    Reason.EVICTED: _attempt(
        "evicted",
        "Evicted for node pressure (kubelet, DisruptionTarget TerminationByKubelet) or through the "
        "Eviction API; an eviction for exceeding the pod's own limits is `storage_limit`.",
    ),
    Reason.IMAGE_PULL_FAILED: _attempt("image_pull", "An image cannot be pulled."),
    Reason.UNSCHEDULABLE: _attempt(
        "unschedulable", "The pods did not run within the run's scheduling deadline."
    ),
    Reason.POD_DELETED: _attempt(
        "pod_deleted", "A pod of the attempt was deleted from outside the operator."
    ),
    Reason.PREEMPTED: _attempt(
        "preempted",
        "Preempted by the scheduler or Kueue; retried without counting against the policy.",
        retry=Retry.FREE,
    ),
    Reason.SANDBOX_START_FAILED: _attempt(
        "sandbox_start_failed", "The sandbox never started (no ready line from its server)."
    ),
    Reason.SANDBOX_FAILED: _attempt(
        "sandbox_failed",
        "The sandbox pod failed before any agent command ran (a workspace init container) "
        "or without any container ending (the node's doing).",
    ),
    Reason.SANDBOX_UNREACHABLE: _attempt(
        "sandbox_unreachable",
        "The agent pod lost its sandbox while the sandbox pod shows nothing of the agent's doing.",
    ),
    Reason.EVALUATOR_UNREACHABLE: _attempt(
        "evaluator_unreachable", "The evaluator server did not answer (or answered 5xx)."
    ),
    Reason.MODEL_UNAVAILABLE: _attempt(
        "model_unavailable", "The model API was down or rate-limited past its retries."
    ),
    Reason.STORE_UNAVAILABLE: _attempt("store_unavailable", "The artifact store (S3) was down."),
    Reason.OOM_KILLED: _attempt(
        "oom_killed",
        "Kept for Trial statuses written before the attribution rule: an OOM kill is now "
        "`memory_limit`, the agent's.",
    ),
}

#: The spellings services raise (`kubegym.errors.InfraError.reason`) that are not a member.
CAUSES: Final[dict[str, Reason]] = {
    "ModelRateLimited": Reason.MODEL_UNAVAILABLE,
    "EvaluatorFailed": Reason.EVALUATOR_UNREACHABLE,
    "S3Unavailable": Reason.STORE_UNAVAILABLE,
}


def of_cause(cause: str, default: Reason = Reason.SANDBOX_UNREACHABLE) -> Reason:
    """The attempt reason of an infrastructure cause as a service raised it.

    Args:
        cause: an `InfraError`'s reason (``ModelRateLimited``, ``SandboxStartFailed``…).
        default: the reason for a cause nobody declared.
    """
    try:
        reason = Reason(cause)
    except ValueError:
        return CAUSES.get(cause, default)
    return reason if reason.kind is Kind.ATTEMPT else default


def markdown() -> str:
    """The table of every reason, for ``docs/reference/reasons.md`` (`kubegym.reference`)."""
    rows = [
        "| reason | written in | class | retried | metric label | meaning |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    where = {Kind.EXIT: "`exitReason`", Kind.ATTEMPT: "`infraFailures[].reason`"}
    retried = {
        Retry.NEVER: "never",
        Retry.POLICY: "within `infraRetries`",
        Retry.FREE: "yes, not counted",
    }
    for reason, info in TABLE.items():
        rows.append(
            f"| `{reason.value}` | {where[info.kind]} | {info.failure_class.value} "
            f"| {retried[info.retry]} | `{info.label}` | {info.description} |"
        )
    return "\n".join(rows) + "\n"
