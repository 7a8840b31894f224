"""The errors kubegym raises, grouped by what a caller should do about them.

Every part of kubegym raises one of these; the CLI turns them into one line
(`kubegym.cli`), the operator maps `InfraError` to a retry with backoff and
`ConfigError` to a permanent failure. `TrialFailed` ends one trial as the
agent's failure (the agent loop records it; `kubegym.api.reasons` says why it
is the agent's).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # errors sit below the api package, which raises ConfigError
    from kubegym.api import reasons


class KubegymError(Exception):
    """The root of every error kubegym raises on purpose."""


class ConfigError(KubegymError):
    """The input is wrong: a run file, a task, a flag. Never retried.

    Args:
        message: what is wrong, in words a user can act on.
        field: the path of the offending field (``spec.seeds``), when known.
        hint: what to do instead, when there is a useful suggestion.
    """

    def __init__(self, message: str, *, field: str | None = None, hint: str | None = None):
        self.message = message
        self.field = field
        self.hint = hint
        text = f"{field}: {message}" if field else message
        if hint:
            text = f"{text} ({hint})"
        super().__init__(text)


class InfraError(KubegymError):
    """The infrastructure failed, not the agent: retried within the run's policy.

    Args:
        reason: a short CamelCase cause such as ``SandboxStartFailed`` or
            ``ModelUnavailable``; `kubegym.api.reasons.of_cause` names its `Reason`.
        message: the detail, for logs and the trial's status.
    """

    def __init__(self, reason: str, message: str = ""):
        self.reason = reason
        self.message = message
        super().__init__(f"{reason}: {message}" if message else reason)


class TrialFailed(KubegymError):
    """Something from inside the trial ended it: the agent's failure, scored, never retried.

    Raised where the evidence is (the research environment, when the sandbox dies
    under the agent's own command); the agent loop ends the trial with `reason`.

    Args:
        reason: an exit reason of the agent's class (``sandbox_killed``…).
        message: what happened, for the trial's results.
    """

    def __init__(self, reason: reasons.Reason, message: str = ""):
        self.reason = reason
        self.message = message
        super().__init__(f"{reason}: {message}" if message else str(reason))


class LimitReached(KubegymError):
    """A trial hit one of its limits (steps, cost, wall time): a scored outcome, never retried.

    Args:
        limit: which limit, as it appears in the trial's exit reason (``max_steps``).
    """

    def __init__(self, limit: str, message: str = ""):
        self.limit = limit
        super().__init__(f"{limit}: {message}" if message else limit)
