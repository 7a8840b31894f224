"""What each model call costs, and the running totals of a model client.

Called by `kubegym.agent_runner.models.ModelClient` after every reply. A price
comes from the agent's `pricing` override first, then litellm's price table;
when neither knows the model the call is unpriced, and cost limits can't be
enforced for it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import structlog

from kubegym.api import runs

log = structlog.get_logger()


@dataclasses.dataclass(frozen=True)
class Price:
    """The cost of one call."""

    usd: float
    """USD spent; 0 when unpriced."""

    priced: bool
    """False when no price is known for the model, so `usd` is 0 and means nothing."""

    source: str
    """Where the price came from: ``pricing`` (the agent's override), ``litellm`` or ``none``."""


@dataclasses.dataclass
class Usage:
    """Running totals over a client's calls."""

    calls: int = 0
    """Successful calls."""

    prompt_tokens: int = 0
    """Prompt tokens over all successful calls."""

    completion_tokens: int = 0
    """Completion tokens over all successful calls."""

    cost_usd: float = 0.0
    """USD over all priced calls."""

    unpriced_calls: int = 0
    """Calls whose price was unknown (counted as 0 USD)."""

    retries: int = 0
    """Attempts that failed with a transient error and were tried again."""

    @property
    def tokens(self) -> int:
        """Prompt and completion tokens together."""
        return self.prompt_tokens + self.completion_tokens

    def add(self, prompt_tokens: int, completion_tokens: int, price: Price) -> None:
        """Count one successful call."""
        self.calls += 1
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens
        self.cost_usd += price.usd
        if not price.priced:
            self.unpriced_calls += 1


def price_call(
    pricing: runs.Pricing | None,
    litellm: Any,
    response: Any,
    prompt_tokens: int,
    completion_tokens: int,
) -> Price:
    """Price one call from the override, else litellm's table, else mark it unpriced.

    Args:
        pricing: the agent's override, in USD per million tokens.
        litellm: the litellm module (imported lazily by the caller).
        response: litellm's `ModelResponse` for the call.
        prompt_tokens: the prompt tokens the response reports.
        completion_tokens: the completion tokens the response reports.

    Returns:
        The call's price; `priced` is False when neither source knows the model.
    """
    if pricing is not None:
        usd = (
            prompt_tokens * pricing.input_usd_per_million_tokens
            + completion_tokens * pricing.output_usd_per_million_tokens
        ) / 1_000_000
        return Price(usd, True, "pricing")
    try:
        usd = float(litellm.completion_cost(completion_response=response))
    except Exception as exc:  # litellm raises plain Exceptions for models not in its table
        log.debug("model_price_unknown", model=getattr(response, "model", None), error=str(exc))
        return Price(0.0, False, "none")
    return Price(usd, True, "litellm")
