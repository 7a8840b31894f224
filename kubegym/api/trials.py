"""The Trial kind: one (task, agent, seed) of a run, with its attempts, scores and artifacts.

Created by the operator (or the local runner) from a BenchmarkRun; its status is
the record the rollups (`kubegym.scoring`) and the leaderboard are built from.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Annotated, Final, Literal, NewType

from pydantic import Field

from kubegym.api import common
from kubegym.api import images as images_mod
from kubegym.api.common import DnsLabel, Model

TrialName = NewType("TrialName", str)

TrialPhase = Literal["Pending", "Running", "Succeeded", "Failed"]

#: The phases a trial ends in (`TrialStatus.finished`).
FINISHED_PHASES: Final = frozenset(("Succeeded", "Failed"))

# Why a trial ended: the `Kind.EXIT` members of `kubegym.api.reasons.Reason`, whose
# table gives each one's class and retry rule (a test keeps the two equal).
ExitReason = Literal[
    "submitted",
    "max_steps",
    "cost_limit",
    "wall_time",
    "format_error",
    "context_window",
    "model_error",
    "eval_error",
    "agent_error",
    "sandbox_killed",
    "memory_limit",
    "storage_limit",
    "cancelled",
    "infra_error",
    "internal_error",
]

FailureClass = Literal["infra", "agent"]

# What the platform did to an attempt (retried within the policy; never the agent's doing):
# the `Kind.ATTEMPT` members of `kubegym.api.reasons.Reason`. `OOMKilled` stays for
# statuses written before an OOM kill became the agent's `memory_limit`.
InfraReason = Literal[
    "NodeLost",
    "Evicted",
    "ImagePullFailed",
    "Unschedulable",
    "PodDeleted",
    "Preempted",
    "SandboxStartFailed",
    "SandboxFailed",
    "SandboxUnreachable",
    "EvaluatorUnreachable",
    "ModelUnavailable",
    "StoreUnavailable",
    "OOMKilled",
]


def trial_name(run: str, task: str, agent: str, seed: int) -> TrialName:
    """A stable, readable Trial name: the same grid cell always gets the same name.

    The readable part is cut to fit a DNS label (63 characters) with a short hash
    of the full identity, so two cells never collide after cutting.

    Args:
        run: the BenchmarkRun's name.
        task: the Task's name.
        agent: the agent's name in the run.
        seed: the seed.

    Returns:
        A DNS-1123 label, such as `demo-house-price-gpt4o-s0-1a2b3c4d`.
    """
    identity = f"{run}/{task}/{agent}/{seed}"
    digest = hashlib.sha256(identity.encode()).hexdigest()[:8]
    readable = re.sub(r"[^a-z0-9-]+", "-", f"{run}-{task}-{agent}-s{seed}".lower()).strip("-")
    readable = readable[: 63 - len(digest) - 1].rstrip("-")
    return TrialName(f"{readable}-{digest}")


class TrialSpec(Model):
    """Which cell of the grid this trial is, and which attempt."""

    run: DnsLabel
    """The BenchmarkRun that owns it."""

    task: DnsLabel
    """The Task."""

    agent: DnsLabel
    """The agent's name in the run."""

    seed: Annotated[int, Field(ge=0)]
    """The seed."""

    attempt: Annotated[int, Field(ge=0)] = 0
    """The attempt; it grows by one on every infrastructure retry."""


class Score(Model):
    """One validate or submit, in the order they happened."""

    step: Annotated[int, Field(ge=0)]
    """The agent step that asked for it."""

    action: Literal["validate", "submit"]
    """Which action."""

    metrics: dict[str, float] | None = None
    """The metrics shown to the agent (validation data for validate, test data for submit)."""

    test_metrics: dict[str, float] | None = None
    """The same artifact scored on the hidden test data (never shown to the agent)."""

    error: str | None = None
    """Why scoring failed (`eval_error`): a missing or malformed artifact."""

    time: dt.datetime | None = None
    """When it was scored."""


class Artifacts(Model):
    """Where the trial's evidence is stored (URIs in the run's store)."""

    trajectory: str | None = None
    """The trajectory, one JSON line per step."""

    results: str | None = None
    """The trial's results.json."""

    workspace: str | None = None
    """The final workspace, as a tar.gz."""

    logs: str | None = None
    """The folder of the pods' logs."""


class AttemptFailure(Model):
    """One attempt that the infrastructure failed (retried within the run's policy)."""

    attempt: Annotated[int, Field(ge=0)]
    """The attempt that failed."""

    reason: InfraReason
    """What failed."""

    message: str = ""
    """The detail, from the pod's status."""

    time: dt.datetime | None = None
    """When it was seen."""


#: Hosts a Trial's status lists one by one; the rest are added up in one row (`EGRESS_OTHERS`),
#: so a sandbox asking for thousands of names cannot grow the object past the API's limit.
EGRESS_HOSTS_MAX = 200
EGRESS_OTHERS = "(other hosts)"


class EgressHostCount(Model):
    """One host a trial's sandbox asked the egress proxy for, with what came of it."""

    host: Annotated[str, Field(max_length=260)]
    """The host as asked for, or `(other hosts)` for those past the first 200."""

    allowed: Annotated[int, Field(ge=0)] = 0
    """Requests let through."""

    refused: Annotated[int, Field(ge=0)] = 0
    """Requests refused."""

    bytes_up: Annotated[int, Field(ge=0)] = 0
    """Bytes sent to the host."""

    bytes_down: Annotated[int, Field(ge=0)] = 0
    """Bytes received from the host."""


class TrialEgress(Model):
    """What a trial's sandbox could reach on the network and what it contacted, as the
    operator read it from the egress proxy when the trial ended (every attempt's requests);
    the trial's results carry it as `kubegym.api.results.EgressSummary`."""

    network: Literal["allowlist", "open"]
    """`allowlist`: only the listed hosts, through the egress proxy; `open`: the task's
    `network: egress`, unrestricted and unlogged."""

    allowlist: list[str] = Field(default_factory=list, max_length=128)
    """The trial's allowed host patterns: its task's and its run's."""

    hosts: list[EgressHostCount] = Field(default_factory=list, max_length=EGRESS_HOSTS_MAX + 1)
    """Each host asked for, in the order first asked."""

    complete: bool = True
    """False when the proxy could not give every request (unreachable, restarted during
    the trial, or over its cap per attempt): the counts are then a lower bound."""


class TrialStatus(Model):
    """What happened in a trial."""

    phase: TrialPhase = "Pending"
    """Where the trial is."""

    conditions: list[common.Condition] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    """Scheduled, Ready, Completed…"""

    attempt: Annotated[int, Field(ge=0)] = 0
    """The attempt now running (or last run)."""

    sandbox_pod: str | None = None
    """The sandbox pod of the current attempt."""

    agent_pod: str | None = None
    """The agent pod of the current attempt."""

    start_time: dt.datetime | None = None
    """When the current attempt started."""

    finish_time: dt.datetime | None = None
    """When the trial finished."""

    steps: Annotated[int, Field(ge=0)] = 0
    """Agent steps taken."""

    tokens: Annotated[int, Field(ge=0)] = 0
    """Model tokens used (prompt and completion)."""

    prompt_tokens: Annotated[int, Field(ge=0)] = 0
    """Of `tokens`, those in prompts."""

    cost_usd: Annotated[float, Field(ge=0)] = 0.0
    """USD spent on model calls."""

    scores: list[Score] = Field(default_factory=list)
    """Every validate and submit, in order, as the evaluator recorded them."""

    final: dict[str, float] | None = None
    """The final submission's test metrics; absent when nothing valid was submitted."""

    score: float | None = None
    """The final primary metric (a printer column)."""

    validations: Annotated[int, Field(ge=0)] = 0
    """validate calls the evaluator scored in the final attempt (refused ones not counted)."""

    validations_refused: Annotated[int, Field(ge=0)] = 0
    """validate calls the evaluator refused because the trial's `maxValidations` was reached."""

    exit_reason: ExitReason | None = None
    """Why the trial ended."""

    failure_class: FailureClass | None = None
    """For failed trials: `infra` (retried within the policy) or `agent` (final)."""

    message: str | None = None
    """A sentence on the outcome, for people."""

    artifacts: Artifacts = Field(default_factory=Artifacts)
    """Where the evidence is."""

    infra_failures: list[AttemptFailure] = Field(default_factory=list, max_length=64)
    """The attempts the infrastructure failed, oldest first."""

    next_attempt_time: dt.datetime | None = None
    """After an infrastructure failure: when the next attempt may start (the policy's backoff)."""

    scheduled_time: dt.datetime | None = None
    """When the current attempt's pods were all running (for the scheduling latency)."""

    images: list[images_mod.ImageRecord] = Field(default_factory=list, max_length=64)
    """The images the current (or last) attempt's containers ran, init containers too: the
    image as named and the digest the kubelet reported (null for one never pulled), in a
    stable order; read from the pods' statuses once they run and again at their end."""

    egress: TrialEgress | None = None
    """The sandbox's network when it had any: the allowlist and each host contacted through
    the egress proxy, or the open network; absent with no network at all."""

    @property
    def finished(self) -> bool:
        return self.phase in FINISHED_PHASES


class Trial(Model):
    """A Trial object, owned by its BenchmarkRun."""

    api_version: Literal["kubegym.io/v1alpha1"] = common.API_VERSION
    """Always `kubegym.io/v1alpha1`."""

    kind: Literal["Trial"] = "Trial"
    """Always `Trial`."""

    metadata: common.ObjectMeta
    """The trial's name (see `trial_name`)."""

    spec: TrialSpec
    """The grid cell."""

    status: TrialStatus | None = None
    """Written by the operator."""


class TrialImages(Model):
    """One trial of a finished run and the images its last attempt ran (`images.json`)."""

    trial: str
    """The Trial's name (its folder in the store)."""

    task: str
    """The task."""

    agent: str
    """The agent's name in the run."""

    seed: Annotated[int, Field(ge=0)]
    """The seed."""

    attempt: Annotated[int, Field(ge=0)] = 0
    """The attempt the images are from (the last one)."""

    phase: TrialPhase
    """How the trial ended."""

    exit_reason: ExitReason | None = None
    """Why the trial ended."""

    failure_class: FailureClass | None = None
    """For a failed trial: `infra` or `agent`."""

    images: list[images_mod.ImageRecord] = Field(default_factory=list)
    """Its agent and sandbox pods' containers with their images and digests (`TrialStatus.images`)."""


class ImagesRollup(Model):
    """``images.json`` (`kubegym.api.images.IMAGES_JSON`): the images of every finished trial of a run,
    written by the operator from the Trials' statuses (the kubelet's word, never an agent's)."""

    format_version: Literal[1] = images_mod.ROLLUP_VERSION
    """The shape's version."""

    run: str
    """The BenchmarkRun."""

    trials: list[TrialImages] = Field(default_factory=list)
    """One entry per finished trial, in plan order."""
