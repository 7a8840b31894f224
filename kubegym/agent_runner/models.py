"""The model client: one chat completion through litellm, with retries, token counts and cost.

Called by the agent loop once per step. litellm is imported on the first call,
not with this module, so the CLI and the operator never pay its ≈8 s import.
Transient failures (rate limits, timeouts, 5xx) are retried here and only here;
permanent ones become `kubegym.errors.ConfigError`, and a prompt too long for
the model becomes `ContextWindowExceeded`, which the loop can handle.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import functools
import importlib
import logging
import os
import random
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from kubegym import errors
from kubegym.agent_runner import costs
from kubegym.api import runs

log = structlog.get_logger()

# Status codes worth another attempt: request timeout, conflict/lock, rate limit, server errors.
_RETRY_STATUSES = frozenset({408, 409, 429})

# litellm prefixes messages with class names, often several:
# "litellm.RateLimitError: RateLimitError: OpenAIException - <the provider's words>".
_PREFIXES = re.compile(r"^(?:(?:litellm\.)?[A-Za-z]*(?:Error|Exception)\s*[:-]\s*)+")


class ContextWindowExceeded(errors.KubegymError):
    """The prompt no longer fits the model's context window.

    Not a configuration error: the agent loop can shorten its history and try
    again, or end the trial with this as its exit reason.

    Args:
        model: the litellm model string.
        message: the provider's words.
    """

    def __init__(self, model: str, message: str):
        self.model = model
        self.message = message
        super().__init__(f"context window exceeded for model {model!r}: {message}")


class ContentRefused(errors.KubegymError):
    """The provider refused the request or reply under its content policy.

    Args:
        model: the litellm model string.
        message: the provider's words.
    """

    def __init__(self, model: str, message: str):
        self.model = model
        self.message = message
        super().__init__(f"model {model!r} refused under its content policy: {message}")


@dataclasses.dataclass(frozen=True)
class RetrySettings:
    """How transient model errors (429, timeouts, 5xx) are retried."""

    attempts: int = 6
    """Attempts per call in all, the first included."""

    first_wait_s: float = 1.0
    """The wait before the second attempt; it doubles each time, with jitter."""

    max_wait_s: float = 60.0
    """The longest wait between attempts, a server's Retry-After included."""

    timeout_s: float = 600.0
    """How long one attempt may take before it counts as a (retried) timeout."""


@dataclasses.dataclass(frozen=True)
class ModelReply:
    """One completion and what it cost."""

    text: str
    """The reply's text; empty when the model sent none."""

    prompt_tokens: int
    """Prompt tokens, as the provider reported them."""

    completion_tokens: int
    """Completion tokens, as the provider reported them."""

    cost_usd: float
    """USD for this call; 0 when `priced` is False."""

    priced: bool
    """False when the model's price is unknown: cost limits can't be enforced."""

    seconds: float
    """Time spent in `complete`, retries and waits included."""

    model: str
    """The model the provider says answered."""

    finish_reason: str | None
    """The provider's finish reason, as sent (``stop``, ``length``…)."""

    attempts: int
    """Attempts it took; 1 when nothing was retried."""


@functools.cache
def _litellm() -> Any:
    # Use the price table shipped with litellm instead of downloading one at import.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    # importlib rather than `import litellm`: litellm ships py.typed, and a static
    # import would make mypy analyse all of it. Its API is used as Any here.
    litellm: Any = importlib.import_module("litellm")
    litellm.suppress_debug_info = True  # no "Give Feedback / Get Help" banners on stdout
    # litellm logs every call at INFO through handlers of its own that write to stdout,
    # which would corrupt `kubegym run --json`; our own debug logs say the same.
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return litellm


class ModelClient:
    """Calls one agent's model, retrying transient errors and counting tokens and cost.

    Args:
        agent: the agent spec; `model` must be set.
        api_key: the API key; else the variable named by `agent.api_key_env`,
            else litellm's provider default (such as ``OPENAI_API_KEY``).
        seed: the trial's seed, sent when `agent.sampling.seed` is absent.
        retry: retry settings; the defaults when absent.
        clock: a monotonic clock in seconds (for tests).
        sleep: waits between attempts (for tests).
        rng: uniform numbers in [0, 1) for the jitter (for tests).

    Raises:
        kubegym.errors.ConfigError: the agent has no model, or its
            `api_key_env` variable is unset.
    """

    def __init__(
        self,
        agent: runs.Agent,
        *,
        api_key: str | None = None,
        seed: int | None = None,
        retry: RetrySettings | None = None,
        clock: Callable[[], float] = time.monotonic,  # for tests
        sleep: Callable[[float], None] = time.sleep,  # for tests
        rng: Callable[[], float] = random.random,  # for tests
    ):
        if agent.model is None:
            raise errors.ConfigError(
                f"agent {agent.name!r} has no model",
                field=_field(agent, "model"),
                hint="set a litellm model",
            )
        if api_key is None and agent.api_key_env is not None:
            api_key = os.environ.get(agent.api_key_env) or None
            if api_key is None:
                raise errors.ConfigError(
                    f"environment variable {agent.api_key_env} is not set",
                    field=_field(agent, "apiKeyEnv"),
                    hint=f"export {agent.api_key_env}=… with the API key of {agent.model!r}",
                )
        self.agent = agent
        self.model: str = agent.model
        self.retry = retry or RetrySettings()
        self.usage = costs.Usage()
        """Running totals over every call of this client."""
        self._api_key = api_key
        self._seed = agent.sampling.seed if agent.sampling.seed is not None else seed
        self._clock = clock
        self._sleep = sleep
        self._rng = rng
        self._warned_unpriced = False
        self._log = log.bind(agent=agent.name, model=agent.model)

    def check_provider(self) -> None:
        """Fail now, before any trial starts, when litellm cannot route the model.

        Raises:
            kubegym.errors.ConfigError: litellm does not know the model's provider.
        """
        litellm = _litellm()
        try:
            litellm.get_llm_provider(model=self.model, api_base=self.agent.api_base)
        except Exception as exc:
            raise self._permanent(litellm, exc) from None

    def complete(self, messages: list[dict[str, Any]]) -> ModelReply:
        """Send `messages` and return the model's reply, retrying transient errors.

        Args:
            messages: OpenAI-style chat messages (``{"role": …, "content": …}``).

        Returns:
            The reply, its token counts and cost.

        Raises:
            ContextWindowExceeded: the messages don't fit the model's context.
            ContentRefused: the provider refused under its content policy.
            kubegym.errors.ConfigError: a permanent error: unknown model or
                provider, a rejected API key, a malformed request.
            kubegym.errors.InfraError: transient errors outlasted every attempt
                (reason ``ModelRateLimited`` or ``ModelUnavailable``).
        """
        litellm = _litellm()
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            try:
                response = litellm.completion(**self._request(messages))
            except Exception as exc:
                if not _is_transient(litellm, exc):
                    permanent = self._permanent(litellm, exc)
                    if permanent is exc:
                        raise  # not one of litellm's: let it through as it is
                    raise permanent from exc
                if attempt >= self.retry.attempts:
                    reason = (
                        "ModelRateLimited"
                        if isinstance(exc, litellm.RateLimitError)
                        else "ModelUnavailable"
                    )
                    raise errors.InfraError(
                        reason,
                        f"model {self.model!r} failed {attempt} attempts in a row; "
                        f"the last: {_short(exc)}",
                    ) from exc
                wait = self._wait(attempt, exc)
                self.usage.retries += 1
                self._log.debug(
                    "model_call_retried",
                    attempt=attempt,
                    wait_s=round(wait, 3),
                    error=type(exc).__name__,
                    status=getattr(exc, "status_code", None),
                )
                self._sleep(wait)
                continue
            return self._reply(litellm, response, attempt, self._clock() - started)

    def _request(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        sampling = self.agent.sampling
        request: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": sampling.temperature,
            "timeout": self.retry.timeout_s,
            # Ours are the only retries, so each one is counted and waits as we say.
            "num_retries": 0,
            "max_retries": 0,
            # Drop what a provider doesn't take (a seed, temperature on reasoning
            # models) instead of failing the call.
            "drop_params": True,
        }
        optional = {
            "api_base": self.agent.api_base,
            "api_key": self._api_key,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
            "seed": self._seed,
        }
        request.update({k: v for k, v in optional.items() if v is not None})
        return request

    def _reply(self, litellm: Any, response: Any, attempts: int, seconds: float) -> ModelReply:
        choice = response.choices[0]
        usage = getattr(response, "usage", None)
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        price = costs.price_call(
            self.agent.pricing, litellm, response, prompt_tokens, completion_tokens
        )
        if not price.priced and not self._warned_unpriced:
            self._warned_unpriced = True
            self._log.warning(
                "model_price_unknown",
                hint="set the agent's pricing; until then its cost limit can't be enforced",
            )
        self.usage.add(prompt_tokens, completion_tokens, price)
        reply = ModelReply(
            text=choice.message.content or "",
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=price.usd,
            priced=price.priced,
            seconds=seconds,
            model=str(getattr(response, "model", None) or self.model),
            finish_reason=choice.finish_reason,
            attempts=attempts,
        )
        self._log.debug(
            "model_call_done",
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=price.usd,
            seconds=round(seconds, 3),
            attempts=attempts,
        )
        return reply

    def _wait(self, attempt: int, exc: Exception) -> float:
        """Seconds before attempt `attempt + 1`: the server's Retry-After, else backoff."""
        cap = self.retry.max_wait_s
        retry_after = _retry_after(exc)
        if retry_after is not None:
            return min(max(retry_after, 0.0), cap)
        backoff = min(self.retry.first_wait_s * 2.0 ** (attempt - 1), cap)
        return backoff * (0.5 + 0.5 * self._rng())  # "equal jitter": spread retries apart

    def _permanent(self, litellm: Any, exc: Exception) -> Exception:
        """The kubegym error for a permanent litellm error (or `exc` itself if it is not one)."""
        model = self.model
        detail = _short(exc)
        if isinstance(exc, litellm.ContextWindowExceededError):
            return ContextWindowExceeded(model, detail)
        if isinstance(exc, litellm.ContentPolicyViolationError):
            return ContentRefused(model, detail)
        if isinstance(exc, litellm.AuthenticationError | litellm.PermissionDeniedError):
            where = f"the variable {self.agent.api_key_env}" if self.agent.api_key_env else None
            return errors.ConfigError(
                f"the API key was rejected for model {model!r}: {detail}",
                field=_field(self.agent, "apiKeyEnv") if self.agent.api_key_env else None,
                hint=f"check the key in {where or 'apiKeyEnv, apiKeySecret or the provider variable'}",
            )
        if "LLM Provider NOT provided" in str(exc):
            return errors.ConfigError(
                f"unknown model {model!r}: litellm does not know this provider",
                field=_field(self.agent, "model"),
                hint="use a provider prefix like openai/… or anthropic/…; for an OpenAI-compatible "
                "server write openai/<name> and set apiBase",
            )
        if isinstance(exc, litellm.NotFoundError):
            return errors.ConfigError(
                f"model {model!r} not found: {detail}",
                field=_field(self.agent, "model"),
                hint="check the model name the provider (or the server at apiBase) serves",
            )
        if isinstance(exc, litellm.BadRequestError) or _status(exc) in range(400, 500):
            return errors.ConfigError(
                f"model {model!r} rejected the request: {detail}",
                hint="check the agent's model, apiBase and sampling",
            )
        return exc


def _field(agent: runs.Agent, name: str) -> str:
    """The path of one of the agent's fields in a run file, for ConfigError."""
    return f"spec.agents[{agent.name}].{name}"


def _status(exc: Exception) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def _is_transient(litellm: Any, exc: Exception) -> bool:
    """Whether another attempt may succeed: rate limits, timeouts, connection and 5xx errors."""
    if isinstance(exc, litellm.ContextWindowExceededError | litellm.BadRequestError):
        return False
    transient = (
        litellm.RateLimitError,
        litellm.Timeout,
        litellm.APIConnectionError,
        litellm.InternalServerError,
        litellm.ServiceUnavailableError,
        litellm.BadGatewayError,
    )
    if isinstance(exc, transient):
        return True
    status = _status(exc)
    return status is not None and (status in _RETRY_STATUSES or status >= 500)


def _retry_after(exc: Exception) -> float | None:
    """The server's requested wait in seconds, from Retry-After(-ms) headers, if any."""
    for source in (
        getattr(exc, "litellm_response_headers", None),
        getattr(getattr(exc, "response", None), "headers", None),
        getattr(exc, "headers", None),
    ):
        if not isinstance(source, Mapping):
            continue
        headers = {str(k).lower(): str(v) for k, v in source.items()}
        if "retry-after-ms" in headers:
            try:
                return float(headers["retry-after-ms"]) / 1000
            except ValueError:
                pass
        if "retry-after" in headers:
            value = headers["retry-after"]
            try:
                return float(value)
            except ValueError:
                pass
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                continue
            return (when - dt.datetime.now(dt.UTC)).total_seconds()
    return None


def _short(exc: Exception) -> str:
    """The first line of an error's message, without litellm's repeated class-name prefixes."""
    lines = str(exc).strip().splitlines()
    line = _PREFIXES.sub("", lines[0]) if lines else ""
    return line[:500] or type(exc).__name__
