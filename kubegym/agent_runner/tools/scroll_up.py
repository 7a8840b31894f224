"""The ``scroll_up`` tool: move the editor's window one page towards the top of the file."""

from __future__ import annotations

from kubegym.agent_runner.tools import base, scroll_down

COMMAND = base.Command(
    name="scroll_up",
    signature="scroll_up",
    docstring="Moves the editor's window up {window} lines in the open file.",
)


@base.tool(COMMAND)
def run(ctx: base.ToolContext, args: base.Arguments) -> base.ToolResult:
    return scroll_down.scroll(ctx, COMMAND, -1)
