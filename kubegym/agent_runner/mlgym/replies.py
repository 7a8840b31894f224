"""Reading a model's reply the way MLGym's ``MLGymThoughtActionParser`` reads it.

MLGym-Bench's default agent (``output_parser: MLGymThoughtActionParser``) takes a reply as a
discussion and one command in a fenced block, by two rules that this module follows exactly
(`kubegym.agent_runner.mlgym.agent` calls `parse`; the golden tests compare it with MLGym's own
parser on a corpus of replies, hostile ones included):

1. Every pair of triple backticks, anywhere (inline ones too), counts as a code block, pairing
   them left to right; more than one pair is a format error, never two commands.
2. The command is the last outermost block whose fences stand at the start of a line: an
   opening fence may name a language (```` ```python ````) and opens a nested block when one is
   already open; a bare fence closes the innermost one. The discussion is the text before and
   after that block, kept unstripped.

What the command then does is the tools' business (`kubegym.agent_runner.tools.run_action`):
text after ``end_of_edit`` is refused there, so an edit that closes its block early to smuggle
a second command runs neither (MLGym's shell would have run both).
"""

from __future__ import annotations

import dataclasses
import re

# Rule 1: pairs of fences, each pair taking the shortest text between them.
_PAIRS = re.compile(r"```([\s\S]*?)```")
# Rule 2: a fence at the start of a line: an opening one (group 1 the language, maybe empty,
# then the end of the line), or a bare one that ends the text (group 1 unset).
_FENCE = re.compile(r"^```(\S*)\s*\n|^```\s*$", re.MULTILINE)


class FormatError(ValueError):
    """The reply holds no command, or more than one code block (MLGym's ``FormatError``)."""


@dataclasses.dataclass(frozen=True)
class Reply:
    """A reply split as MLGym splits it."""

    thought: str
    """The discussion: the reply without the command's block, unstripped."""

    action: str
    """The command: the inside of the block, unstripped."""


def parse(text: str) -> Reply:
    """Split a reply into its discussion and its one command, by MLGym's rules.

    Raises:
        FormatError: more than one code block, or no block whose fences start their lines.
    """
    if len(_PAIRS.findall(text)) > 1:
        raise FormatError("Found more than one code block in the model response.")
    open_fences: list[re.Match[str]] = []
    block: tuple[re.Match[str], re.Match[str]] | None = None
    for fence in _FENCE.finditer(text):
        language = fence.group(1)
        if open_fences and not language:
            opening = open_fences.pop()
            if not open_fences:
                block = (opening, fence)
        elif language is not None:
            open_fences.append(fence)
    if block is None:
        raise FormatError("No action found in model response.")
    opening, closing = block
    return Reply(
        thought=text[: opening.start()] + text[closing.end() :],
        action=text[opening.end() : closing.start()],
    )
