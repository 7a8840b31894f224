"""Reading a model's reply: a short thought, then exactly one command in a fenced code block.

The agent (`kubegym.agent_runner.agents`) calls `parse_reply` on every reply; on a
`FormatError` it sends `reask_message` and asks again (twice at most), then ends the trial with
``format_error``. The command goes to `kubegym.agent_runner.tools.run_action`.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

FENCE = "```"

FormatProblem = Literal["no_block", "many_blocks", "empty_block", "unclosed_block"]

EXAMPLE = f"""\
DISCUSSION
One or two sentences: what you learned from the last output and what you do next.
{FENCE}
ls -la data
{FENCE}"""
"""The shape every reply must have, as shown to the model."""


class FormatError(ValueError):
    """The reply does not hold exactly one non-empty fenced command.

    Args:
        problem: which rule the reply broke.
        message: the explanation for the model.
    """

    def __init__(self, problem: FormatProblem, message: str) -> None:
        super().__init__(message)
        self.problem: FormatProblem = problem
        self.message = message


@dataclasses.dataclass(frozen=True)
class ParsedReply:
    """A well-formed reply, split."""

    thought: str
    """Everything outside the code block, stripped (the DISCUSSION)."""

    action: str
    """The inside of the code block: the command for `run_action`."""


def parse_reply(text: str) -> ParsedReply:
    """Split a reply into its thought and its one command.

    A fence is a line that starts with three backticks; an opening fence may name a language
    (```` ```bash ````). Inside a block, a fence with a language opens a nested block (a file
    being written may hold Markdown), so only the matching bare fence closes it.

    Raises:
        FormatError: no code block, more than one, an empty one, or one never closed.
    """
    lines = text.split("\n")
    blocks: list[tuple[int, int]] = []  # (first line inside, closing fence line)
    depth, start = 0, 0
    for number, line in enumerate(lines):
        stripped = line.strip()
        if not stripped.startswith(FENCE):
            continue
        if depth == 0:
            if len(stripped) > 6 and stripped.endswith(FENCE) and stripped.count(FENCE) == 2:
                blocks.append((number, number))  # a one-line block: ```ls -la```
                continue
            depth, start = 1, number + 1
        elif stripped == FENCE:
            depth -= 1
            if depth == 0:
                blocks.append((start, number))
        else:
            depth += 1
    if depth:
        raise FormatError(
            "unclosed_block",
            "Your code block was never closed: end the command with a line holding only ```.",
        )
    if not blocks:
        raise FormatError(
            "no_block", "Your reply has no command: put exactly one command in a ``` code block."
        )
    if len(blocks) > 1:
        raise FormatError(
            "many_blocks",
            f"Your reply has {len(blocks)} code blocks; send exactly one command per reply and "
            "wait for its output before the next.",
        )
    first, close = blocks[0]
    if first == close:  # one-line block
        action = lines[first].strip()[len(FENCE) : -len(FENCE)]
        outside = lines[:first] + lines[first + 1 :]
    else:
        action = "\n".join(lines[first:close])
        outside = lines[: first - 1] + lines[close + 1 :]
    action = action.strip("\n").rstrip()
    if not action.strip():
        raise FormatError("empty_block", "Your code block is empty: put one command inside it.")
    return ParsedReply(thought="\n".join(outside).strip(), action=action.lstrip())


def reask_message(error: FormatError) -> str:
    """What to tell the model after a badly formatted reply, before asking again."""
    return (
        f"Your reply was not in the expected format, so nothing was run. {error.message}\n\n"
        "Every reply must be a short discussion followed by exactly one command in a code "
        "block, like this:\n\n"
        f"{EXAMPLE}\n\n"
        "Send your reply again in this format."
    )
