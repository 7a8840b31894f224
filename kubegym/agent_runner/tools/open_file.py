"""The ``open`` tool: show a file in the editor's window, from the top or around a line."""

from __future__ import annotations

from kubegym.agent_runner.tools import base, editor, mlgym_editor

COMMAND = base.Command(
    name="open",
    signature="open <path> [<line_number>]",
    docstring=(
        "Opens the file at <path> in the editor and shows {window} lines of it, with line numbers. "
        "With <line_number>, the window moves so that this line is in view. "
        "Quote paths that contain spaces."
    ),
    arguments=(
        base.Argument(name="path", description="the file to open"),
        base.Argument(
            name="line_number",
            type="integer",
            required=False,
            description="a line to bring into view (default: the top of the file)",
        ),
    ),
)


@base.tool(COMMAND)
def run(ctx: base.ToolContext, args: base.Arguments) -> base.ToolResult:
    path = editor.resolve(ctx, args.text("path"))
    if ctx.config.preset == "mlgym":
        line = args.optional_number("line_number")
        return mlgym_editor.open_file(ctx, COMMAND.name, args.text("path"), path, line)
    try:
        lines = editor.load(ctx, path)
    except editor.FileProblem as problem:
        return base.ToolResult(str(problem), base.EXIT_FAILED, COMMAND.name)
    line = args.optional_number("line_number")
    warning = ""
    if line is None:
        first = 1
    else:
        total = len(lines)
        if line > max(total, 1):
            warning = f"Warning: line {line} is past the end of the file ({total} lines); showing the end.\n"
            line = max(total, 1)
        elif line < 1:
            warning = f"Warning: line {line} is before the first line; showing the top.\n"
            line = 1
        first = editor.focus(line, ctx.config.window)
    return base.ToolResult(
        warning + editor.show(ctx, path, lines, first), base.EXIT_OK, COMMAND.name
    )
