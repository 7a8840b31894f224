"""What an agent's turn gives the agent loop: a `Decision`, or a `Stopped` that ends the trial.

Every agent (`kubegym.agent_runner.agents`, `kubegym.agent_runner.mlgym`) returns a `Decision`
from ``act``, or raises one of the `Stopped` errors when its turn cannot produce an action; the
agent loop (`kubegym.agent_runner.loop`) then ends the trial with the error's exit reason and
submits the workspace automatically. The errors carry what the failed turn cost, so it is
counted all the same.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    """The next action, and what choosing it cost."""

    action: str
    thought: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    format_errors: int = 0


class Stopped(Exception):
    """The agent's turn ended the trial; ``reason`` is the exit reason (a `kubegym.api.reasons.Reason` value)."""

    reason = "agent_error"

    def __init__(self, message: str, decision: Decision):
        super().__init__(message)
        self.decision = decision


class FormatFailure(Stopped):
    """The model kept replying in the wrong format; the trial ends with format_error."""

    reason = "format_error"


class ContextExhausted(Stopped):
    """The conversation no longer fits the model's context window."""

    reason = "context_window"


class CostExhausted(Stopped):
    """A model call brought the trial's cost to its limit; that call's reply is not acted on."""

    reason = "cost_limit"


class ModelFailed(Stopped):
    """The model API failed after the client's own retries, and the agent's design ends the
    trial there (the mlgym preset, as MLGym) instead of leaving it to an infrastructure retry."""

    reason = "model_error"
