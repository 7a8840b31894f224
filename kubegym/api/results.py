"""One shape for a finished trial: `TrialResult`, written as the trial's ``results.json``.

Every runtime ends a trial with this model and every reader takes it back:

- the agent loop builds it (`kubegym.agent_runner.loop`); the local runner writes
  it into the trial's folder (its presence marks the trial finished) and the
  agent pod uploads it to the store;
- the operator builds the same model from a Trial's status
  (`kubegym.operator.rollups`), whose scores come only from the evaluator;
- the run's rollups (`kubegym.rollups`: results.csv, leaderboard.json, the
  status's leaderboard, best scores), the report (`kubegym.report`) and the
  local metrics read it.

The wire form is snake_case JSON (older results.json files read back unchanged);
each score is written as a Trial status writes it (`kubegym.api.trials.Score`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import pydantic
from pydantic import ConfigDict, Field

from kubegym.api import images as images_api
from kubegym.api import reasons, trials

#: The version of the results.json shape; a file of another version is not read as finished.
FORMAT_VERSION: Final = 1
#: A trial's results file (written last: its presence marks the trial finished).
RESULTS_JSON: Final = "results.json"
#: A trial's steps, one JSON object per line, flushed as they happen.
TRAJECTORY_JSONL: Final = "trajectory.jsonl"


class EgressHost(pydantic.BaseModel):
    """One host a trial's sandbox asked the egress proxy for, with what came of it."""

    model_config = ConfigDict(extra="ignore", use_attribute_docstrings=True)

    host: str
    """The host as asked for (a refused IP literal or malformed name appears as written)."""

    allowed: Annotated[int, Field(ge=0)] = 0
    """Requests let through."""

    refused: Annotated[int, Field(ge=0)] = 0
    """Requests refused."""

    bytes_up: Annotated[int, Field(ge=0)] = 0
    """Bytes sent to the host."""

    bytes_down: Annotated[int, Field(ge=0)] = 0
    """Bytes received from the host."""


class EgressSummary(pydantic.BaseModel):
    """What a trial's sandbox could reach on the network, and what it contacted."""

    model_config = ConfigDict(extra="ignore", use_attribute_docstrings=True)

    network: Literal["allowlist", "open"]
    """`allowlist`: only the listed hosts, through kubegym's egress proxy, every request
    logged; `open`: the host's network, unrestricted and unlogged (the task's
    `network: egress`, or a sandbox without isolation)."""

    allowlist: list[str] = Field(default_factory=list)
    """The trial's allowed host patterns: its task's and its run's, together."""

    hosts: list[EgressHost] = Field(default_factory=list)
    """Each host asked for, in the order first asked (only with `allowlist`)."""

    log: str | None = None
    """The full log of requests, next to results.json (`egress.jsonl`); null when none."""

    complete: bool = True
    """False when some requests are missing from the counts or the log (a log past its size
    cap, a proxy that lost records): the counts are then a lower bound."""

    @property
    def refused(self) -> int:
        """Requests refused, over every host."""
        return sum(h.refused for h in self.hosts)


class TrialResult(pydantic.BaseModel):
    """A finished trial (its last attempt): scores, why it ended, whose failure, totals."""

    model_config = ConfigDict(
        extra="ignore", use_attribute_docstrings=True, validate_assignment=True
    )

    trial: str
    """The trial's id (`kubegym.api.trials.trial_name`), its folder's name."""

    task: str
    """The task."""

    agent: str
    """The agent's name in the run."""

    seed: Annotated[int, Field(ge=0)]
    """The seed."""

    primary_metric: str
    """The task's primary metric, the one the scores below are ranked by."""

    direction: str
    """``max`` or ``min``: which way the primary metric is better."""

    exit_reason: reasons.Reason
    """Why the trial ended (an exit reason of `kubegym.api.reasons`)."""

    scores: list[trials.Score] = Field(default_factory=list)
    """Every validate and submit the evaluator scored, in order, with the hidden test metrics."""

    final: dict[str, float] | None = None
    """The submission's test metrics; null when nothing valid was submitted."""

    score: float | None = None
    """The submission's primary metric (MLGym's "best submission" of one seed)."""

    best_attempt: float | None = None
    """The best primary test metric over every validate and submit (`best_attempt`)."""

    steps: Annotated[int, Field(ge=0)] = 0
    """Agent steps taken."""

    prompt_tokens: Annotated[int, Field(ge=0)] = 0
    """Model tokens in prompts."""

    completion_tokens: Annotated[int, Field(ge=0)] = 0
    """Model tokens in completions."""

    cost_usd: Annotated[float, Field(ge=0)] = 0.0
    """USD spent on model calls."""

    seconds: float | None = 0.0
    """How long the trial ran (null when a cluster trial's times are unknown)."""

    attempt: Annotated[int, Field(ge=0)] = 0
    """The attempt this result is of (it grows by one per infrastructure retry)."""

    message: str = ""
    """A sentence on the outcome, for people."""

    failure_class: reasons.FailureClass | None = None
    """For a failed trial, whose failure: `agent` (scored) or `infra` (left out of the scores)."""

    started: str = ""
    """When the trial started (ISO 8601)."""

    finished: str = ""
    """When the trial ended (ISO 8601)."""

    details: dict[str, Any] = Field(default_factory=dict)
    """What else the runtime recorded: the sandbox's description, an archive error, the
    infrastructure reason of an ``infra_error``."""

    validations: Annotated[int, Field(ge=0)] | None = None
    """validate calls the evaluator scored, from its own ledger (never the agent's count);
    null when this trial's evaluator was not there to count them."""

    validations_refused: Annotated[int, Field(ge=0)] | None = None
    """validate calls the evaluator refused past the trial's ``maxValidations``."""

    images: list[images_api.ImageRecord] = Field(default_factory=list)
    """On a cluster, the images the attempt's containers ran, by digest (the kubelet's word)."""

    egress: EgressSummary | None = None
    """The sandbox's network when it had any: the egress allowlist and each host contacted
    (the full log in `egress.jsonl`), or the open network. Null: no network at all."""

    format_version: int = FORMAT_VERSION
    """The version of this shape (`FORMAT_VERSION`)."""

    @pydantic.field_serializer("scores")
    def _scores_on_the_wire(self, scores: list[trials.Score]) -> list[dict[str, Any]]:
        # As a Trial's status and the evaluator's record write them (camelCase, no nulls).
        return [s.to_wire() for s in scores]

    @property
    def failed(self) -> bool:
        """Whether the trial failed (an agent failure is scored all the same)."""
        return self.failure_class is not None

    @property
    def phase(self) -> trials.TrialPhase:
        """The trial's phase as a Trial's status spells it."""
        return "Failed" if self.failed else "Succeeded"

    def to_json(self) -> dict[str, Any]:
        """The result as results.json holds it."""
        data: dict[str, Any] = self.model_dump(mode="json")
        if not self.images:
            data.pop("images")  # a local trial has no images; keep its file as it always was
        if self.egress is None:
            data.pop("egress")  # no network, as before there was a choice
        return data

    def write(self, folder: Path) -> Path:
        """Write ``folder/results.json`` atomically: readers see the old file or the new one."""
        return write_json_atomic(folder / RESULTS_JSON, self.to_json())


def read(folder: Path) -> TrialResult | None:
    """The result of a finished trial in ``folder``; None when it has not finished.

    A results.json of another `FORMAT_VERSION` counts as not finished (the trial runs again).
    """
    path = folder / RESULTS_JSON
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("format_version") != FORMAT_VERSION:
        return None
    return TrialResult.model_validate(data)


def best_attempt(scores: Iterable[trials.Score], metric: str, direction: str) -> float | None:
    """The best hidden test score over every validate and submit (MLGym's "best attempt")."""
    values = [s.test_metrics[metric] for s in scores if s.test_metrics and metric in s.test_metrics]
    if not values:
        return None
    return max(values) if direction == "max" else min(values)


def write_json_atomic(path: Path, data: Any) -> Path:
    """Write JSON so that readers see the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


__all__ = [
    "FORMAT_VERSION",
    "RESULTS_JSON",
    "TRAJECTORY_JSONL",
    "EgressHost",
    "EgressSummary",
    "TrialResult",
    "best_attempt",
    "read",
    "write_json_atomic",
]
