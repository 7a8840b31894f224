"""MLGym's history processor (``Last5Observations``): what of the conversation the model sees.

Every message is kept, in order: the system message, demonstrations, every reply of the
model. Of the user messages that are not demonstrations, the first (the task) and the last
``keep`` (five for MLGym-Bench's default agent) are kept whole; each one between is replaced by
``Old output omitted (N lines)``, N its number of lines. The newest user message (the step's
own observation) counts among the last five. Called by `kubegym.agent_runner.mlgym.agent`
before every request; the golden tests compare it with MLGym's ``last_n_history``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Literal

KEEP = 5
"""How many of the latest observations MLGym-Bench's default agent shows whole."""


@dataclasses.dataclass(frozen=True)
class Message:
    """One message of the conversation, as the agent keeps it."""

    role: Literal["system", "user", "assistant"]
    content: str
    demonstration: bool = False
    """A demonstration: never elided, and not counted among the observations."""

    def to_wire(self) -> dict[str, str]:
        """The OpenAI-style message sent to the model."""
        return {"role": self.role, "content": self.content}


def omitted(content: str) -> str:
    """What an elided observation becomes (MLGym's wording; ``splitlines`` counts the lines)."""
    return f"Old output omitted ({len(content.splitlines())} lines)"


def visible(history: Sequence[Message], keep: int = KEEP) -> list[Message]:
    """The history as the model sees it: observations older than the last ``keep`` elided.

    Raises:
        ValueError: ``keep`` is not positive.
    """
    if keep <= 0:
        raise ValueError("keep must be a positive number of observations")
    observations = sum(1 for m in history if m.role == "user" and not m.demonstration)
    first_kept_late = observations - keep + 1
    shown: list[Message] = []
    number = 0
    for message in history:
        if message.role != "user" or message.demonstration:
            shown.append(message)
            continue
        number += 1
        if number == 1 or number >= first_kept_late:
            shown.append(message)
        else:
            shown.append(dataclasses.replace(message, content=omitted(message.content)))
    return shown
