"""The ``memory_read`` tool: show the notes kept with ``memory_write``, oldest first."""

from __future__ import annotations

from kubegym.agent_runner.tools import base

COMMAND = base.Command(
    name="memory_read",
    signature="memory_read",
    docstring="Shows every note saved with memory_write in this task, numbered, oldest first.",
)


@base.tool(COMMAND)
def run(ctx: base.ToolContext, args: base.Arguments) -> base.ToolResult:
    notes = ctx.state.memory
    if not notes:
        return base.ToolResult(
            "Memory is empty. Save a note with `memory_write <text>`.", base.EXIT_OK, COMMAND.name
        )
    out = [f"{len(notes)} notes in memory:"]
    out.extend(f"{number}. {note}" for number, note in enumerate(notes, start=1))
    return base.ToolResult("\n".join(out), base.EXIT_OK, COMMAND.name)
