"""The ``memory_write`` tool: keep a note for the rest of the trial.

Notes live in the trial's `ToolState` (recorded in the trajectory), never in the sandbox: the
agent cannot lose them by deleting a file, and they cost no sandbox round trip.
"""

from __future__ import annotations

from kubegym.agent_runner.tools import base

COMMAND = base.Command(
    name="memory_write",
    signature="memory_write <text>",
    docstring=(
        "Saves <text> as a note that lasts for the whole task, even after older steps drop out "
        "of your history: best settings, scores, findings, what failed. Read notes back with "
        "memory_read."
    ),
    arguments=(
        base.Argument(
            name="text",
            rest_of_line=True,
            description="the note, the rest of the line (quotes optional)",
        ),
    ),
)

MAX_NOTE_CHARS = 4000
"""The longest note; a longer one is refused so memory stays a summary, not a log."""


@base.tool(COMMAND)
def run(ctx: base.ToolContext, args: base.Arguments) -> base.ToolResult:
    text = args.text("text").strip()
    if not text:
        return base.usage_error(COMMAND, "the note is empty.")
    if len(text) > MAX_NOTE_CHARS:
        return base.usage_error(
            COMMAND, f"the note has {len(text)} characters; keep it under {MAX_NOTE_CHARS}."
        )
    ctx.state.memory.append(text)
    return base.ToolResult(
        f"Saved note {len(ctx.state.memory)} to memory.", base.EXIT_OK, COMMAND.name
    )
