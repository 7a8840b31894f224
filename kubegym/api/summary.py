"""The result contract between a trial's pods and the operator: two termination messages.

On a cluster both ends of a trial write one compact JSON object to their
container's termination message (`/dev/termination-log`, at most 4 KiB,
Kubernetes' limit per container), which the kubelet copies into the pod's
status when the container ends:

- the evaluator container (trusted: it alone holds the hidden data and scores)
  writes the `EvaluatorRecord`: every validate and submit it scored, with their
  hidden test metrics, the final submission's metrics, and how many validate
  calls it scored and refused:

      {"end": "submitted", "scores": [...], "final": {"r2": 0.88}, "validations": 3}

- the agent container (untrusted: an external image writes what it likes)
  writes the `TrialSummary`: why it stopped, steps, tokens and cost.

The operator (`kubegym.operator.outcomes`) reads both from the pods' statuses,
never from the sandbox, which the agent controls, and takes a trial's scores
only from the evaluator's record: any scores in the agent's summary are ignored.
Everything else (the trajectory, the workspace, the full results.json) goes to
the store. When a long trial's scores do not fit, a message keeps the
submission, the best attempt and the latest scores, with only the primary
metric, and says how many it left out.
"""

from __future__ import annotations

import json
from typing import Annotated, Final, Literal, TypeVar

from pydantic import Field, ValidationError

from kubegym.api import results
from kubegym.api.common import Model
from kubegym.api.trials import ExitReason, InfraReason, Score

_M = TypeVar("_M", bound=Model)

#: Kubernetes keeps at most this many bytes of a container's termination message.
MAX_BYTES: Final = 4096


RecordEnd = Literal["running", "submitted", "finished", "deadline", "stopped"]
"""Why the evaluator's record ends: still `running` (written after every scoring), the
agent `submitted`, the agent `finished` without a submission, the trial's wall time
(`deadline`), or the container was `stopped` (SIGTERM)."""


class EvaluatorRecord(Model):
    """What the evaluator scored in one attempt: the only source of a trial's scores."""

    end: RecordEnd = "running"
    """Why the record was last written."""

    scores: list[Score] = Field(default_factory=list)
    """Every validate and submit it scored, in order, with the hidden test metrics
    (thinned when they do not fit; see `omitted`)."""

    final: dict[str, float] | None = None
    """The submission's test metrics, or null when nothing valid was submitted."""

    validations: Annotated[int, Field(ge=0)] = 0
    """validate calls scored."""

    refused: Annotated[int, Field(ge=0)] = 0
    """validate calls refused once `max_validations` was reached."""

    max_validations: Annotated[int, Field(ge=0)] | None = Field(
        default=None, alias="max_validations"
    )
    """The trial's cap on validate calls (none: no cap)."""

    omitted: Annotated[int, Field(ge=0)] = 0
    """How many scores were left out to fit the message."""

    @property
    def submitted(self) -> bool:
        """Whether the evaluator scored a submit (valid or not)."""
        return any(s.action == "submit" for s in self.scores)

    def submit_error(self) -> str | None:
        """Why the last submit could not be scored, when it could not."""
        submits = [s for s in self.scores if s.action == "submit"]
        return submits[-1].error if submits else None

    def to_message(self, primary_metric: str | None = None) -> str:
        """This record as compact JSON of at most `MAX_BYTES` bytes (see `TrialSummary`).

        Raises:
            ValueError: not even the bare record fits.
        """
        return _fit(self, primary_metric)

    @classmethod
    def from_message(cls, text: str) -> EvaluatorRecord:
        """Parse the evaluator container's termination message.

        Raises:
            ValueError: the text is not a record; the message says why.
        """
        return _parse(cls, text, "an evaluator record")


class TrialSummary(Model):
    """How one attempt of a trial went, as the agent container reports it (untrusted)."""

    exit: ExitReason
    """Why the agent stopped."""

    scores: list[Score] = Field(default_factory=list)
    """What the agent saw of its validates and submits; ignored by the operator, which
    takes scores only from the evaluator's record (thinned when they do not fit)."""

    final: dict[str, float] | None = None
    """The final metrics the agent was told; ignored by the operator, as `scores`."""

    steps: Annotated[int, Field(ge=0)] = 0
    """Agent steps taken."""

    tokens: Annotated[int, Field(ge=0)] = 0
    """Model tokens used, prompt and completion."""

    prompt_tokens: Annotated[int, Field(ge=0)] = Field(default=0, alias="prompt_tokens")
    """Of `tokens`, those in prompts (the rest are completions)."""

    cost_usd: Annotated[float, Field(ge=0)] = Field(default=0.0, alias="cost_usd")
    """USD spent on model calls."""

    message: str | None = None
    """A sentence on the outcome (why an infrastructure error happened, say)."""

    infra_reason: InfraReason | None = Field(default=None, alias="infra_reason")
    """With exit `infra_error`: which service failed (`kubegym.api.reasons`), never read
    back out of `message`; the operator checks the pods before believing it."""

    omitted: Annotated[int, Field(ge=0)] = 0
    """How many scores were left out to fit the message (all are in results.json)."""

    @classmethod
    def of(cls, result: results.TrialResult, exit: ExitReason) -> TrialSummary:
        """The summary of a finished attempt's `TrialResult`, as the agent container reports it.

        Args:
            result: the attempt's result (its results.json).
            exit: the exit reason to report (the result's own, as the pod's wire type).
        """
        return cls(
            exit=exit,
            scores=list(result.scores),
            final=result.final,
            steps=result.steps,
            tokens=result.prompt_tokens + result.completion_tokens,
            prompt_tokens=result.prompt_tokens,
            cost_usd=result.cost_usd,
            message=result.message or None,
        )

    def to_message(self, primary_metric: str | None = None) -> str:
        """This summary as compact JSON of at most `MAX_BYTES` bytes.

        Args:
            primary_metric: the task's primary metric; when the scores do not fit,
                only it is kept, and it decides which score was the best attempt.

        Raises:
            ValueError: not even the bare summary fits (a message of kilobytes).
        """
        return _fit(self, primary_metric)

    def describe(self) -> str:
        """The outcome in a few words, for the Trial's message."""
        shown = ", ".join(f"{k}={v:g}" for k, v in (self.final or {}).items())
        return f"{self.exit} after {self.steps} steps: {shown or 'no valid submission'}"

    @classmethod
    def from_message(cls, text: str) -> TrialSummary:
        """Parse a termination message.

        Raises:
            ValueError: the text is not a summary (an agent that crashed before writing
                one leaves its last log lines there instead); the message says why.
        """
        return _parse(cls, text, "a trial summary")


def _parse(cls: type[_M], text: str, what: str) -> _M:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg}): {_tail(text)}") from None
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()
        )
        raise ValueError(f"not {what}: {problems}") from None


def _fit(message: TrialSummary | EvaluatorRecord, primary_metric: str | None) -> str:
    """`message` as JSON within `MAX_BYTES`: scores thinned to the primary metric, then the
    least useful dropped one by one (never a submit, the best attempt or the last)."""
    text = _encode(message)
    if len(text.encode()) <= MAX_BYTES:
        return text
    update: dict[str, object] = {"scores": [_only(s, primary_metric) for s in message.scores]}
    if isinstance(message, TrialSummary):
        update["message"] = (message.message or "")[:512] or None
    thinned = message.model_copy(update=update)
    keep = list(range(len(thinned.scores)))
    while True:
        candidate = thinned.model_copy(
            update={
                "scores": [thinned.scores[i] for i in keep],
                "omitted": message.omitted + len(message.scores) - len(keep),
            }
        )
        text = _encode(candidate)
        if len(text.encode()) <= MAX_BYTES:
            return text
        if not keep:
            raise ValueError("the record does not fit in a termination message")
        keep.remove(_least_useful(thinned.scores, keep, primary_metric))


def _encode(message: TrialSummary | EvaluatorRecord) -> str:
    data = message.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    if isinstance(message, TrialSummary):
        data.setdefault("exit", message.exit)
    else:
        data.setdefault("end", message.end)
    data.setdefault("final", message.final)
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def _only(score: Score, metric: str | None) -> Score:
    def keep(metrics: dict[str, float] | None) -> dict[str, float] | None:
        if metrics is None or metric is None:
            return metrics
        return {k: v for k, v in metrics.items() if k == metric}

    return score.model_copy(
        update={
            "metrics": keep(score.metrics),
            "test_metrics": keep(score.test_metrics),
            "error": score.error[:200] if score.error else None,
            "time": None,
        }
    )


def _least_useful(scores: list[Score], keep: list[int], metric: str | None) -> int:
    """The index (among `keep`) to drop next: never a submit, the best attempt or the last."""
    protected = {keep[-1]}
    protected |= {i for i in keep if scores[i].action == "submit"}
    ranked = [i for i in keep if metric and (scores[i].test_metrics or {}).get(metric) is not None]
    if ranked:
        # Both directions are protected: the summary does not know the metric's direction.
        values = [scores[i].test_metrics[metric] for i in ranked]  # type: ignore[index]
        protected.add(ranked[values.index(max(values))])
        protected.add(ranked[values.index(min(values))])
    for index in keep:
        if index not in protected:
            return index
    return keep[0]


def _tail(text: str, size: int = 300) -> str:
    text = text.strip()
    return text if len(text) <= size else "…" + text[-size:]
