"""The ``goto`` tool: move the editor's window to a line of the open file."""

from __future__ import annotations

from kubegym.agent_runner.tools import base, editor, mlgym_editor

COMMAND = base.Command(
    name="goto",
    signature="goto <line_number>",
    docstring=(
        "Moves the editor's window so that <line_number> of the open file is in view. "
        "Much quicker than scrolling when you know where to look."
    ),
    arguments=(base.Argument(name="line_number", type="integer", description="the line to show"),),
)


@base.tool(COMMAND)
def run(ctx: base.ToolContext, args: base.Arguments) -> base.ToolResult:
    if ctx.config.preset == "mlgym":
        return mlgym_editor.goto(ctx, COMMAND.name, args.number("line_number"))
    try:
        path, lines = editor.open_lines(ctx)
    except editor.FileProblem as problem:
        return base.ToolResult(str(problem), base.EXIT_FAILED, COMMAND.name)
    line = args.number("line_number")
    total = len(lines)
    if line < 1 or line > max(total, 1):
        return base.usage_error(
            COMMAND, f"<line_number> must be between 1 and {max(total, 1)}; got {line}."
        )
    window = editor.show(ctx, path, lines, editor.focus(line, ctx.config.window))
    return base.ToolResult(window, base.EXIT_OK, COMMAND.name)
