"""The result contract between the agent pod and the operator: a summary in the termination message.

On a cluster the agent container ends by writing one compact JSON object to
its termination message (`/dev/termination-log`, at most 4 KiB, Kubernetes'
limit per container):

    {"exit": "submitted", "scores": [...], "final": {"r2": 0.88}, "steps": 12,
     "tokens": 5120, "cost_usd": 0.31}

The operator reads it from the pod's status — never from the sandbox, which the
agent controls — and copies it into the Trial's status. Everything else (the
trajectory, the workspace, the full results.json) goes to the store. When a
long trial's scores do not fit, the summary keeps the submission, the best
attempt and the latest scores, with only the primary metric, and says how many
it left out: the full list is in results.json.
"""

from __future__ import annotations

import json
from typing import Annotated, Final

from pydantic import Field, ValidationError

from kubegym.api.common import Model
from kubegym.api.trials import ExitReason, InfraReason, Score

#: Kubernetes keeps at most this many bytes of a container's termination message.
MAX_BYTES: Final = 4096


class TrialSummary(Model):
    """What one attempt of a trial achieved, as the agent container reports it."""

    exit: ExitReason
    """Why the agent stopped."""

    scores: list[Score] = Field(default_factory=list)
    """Every validate and submit in order (thinned when they do not fit; see `omitted`)."""

    final: dict[str, float] | None = None
    """The final submission's test metrics, or null when nothing valid was submitted."""

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

    def to_message(self, primary_metric: str | None = None) -> str:
        """This summary as compact JSON of at most `MAX_BYTES` bytes.

        Args:
            primary_metric: the task's primary metric; when the scores do not fit,
                only it is kept, and it decides which score was the best attempt.

        Raises:
            ValueError: not even the bare summary fits (a message of kilobytes).
        """
        text = _encode(self)
        if len(text.encode()) <= MAX_BYTES:
            return text
        thinned = self.model_copy(
            update={
                "scores": [_only(s, primary_metric) for s in self.scores],
                "message": (self.message or "")[:512] or None,
            }
        )
        keep = list(range(len(thinned.scores)))
        while True:
            candidate = thinned.model_copy(
                update={
                    "scores": [thinned.scores[i] for i in keep],
                    "omitted": self.omitted + len(self.scores) - len(keep),
                }
            )
            text = _encode(candidate)
            if len(text.encode()) <= MAX_BYTES:
                return text
            if not keep:
                raise ValueError("the trial summary does not fit in a termination message")
            keep.remove(_least_useful(thinned.scores, keep, primary_metric))

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
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON ({exc.msg}): {_tail(text)}") from None
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}"
                for e in exc.errors()
            )
            raise ValueError(f"not a trial summary: {problems}") from None


def _encode(summary: TrialSummary) -> str:
    data = summary.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    data.setdefault("exit", summary.exit)
    data.setdefault("final", summary.final)
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
