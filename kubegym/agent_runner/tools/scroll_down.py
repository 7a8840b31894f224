"""The ``scroll_down`` tool: move the editor's window one page towards the end of the file."""

from __future__ import annotations

from kubegym.agent_runner.tools import base, editor, mlgym_editor

COMMAND = base.Command(
    name="scroll_down",
    signature="scroll_down",
    docstring="Moves the editor's window down {window} lines in the open file.",
)


def scroll(ctx: base.ToolContext, command: base.Command, pages: int) -> base.ToolResult:
    """Move the window ``pages`` pages (negative: up), keeping a few lines of overlap."""
    if ctx.config.preset == "mlgym":
        return mlgym_editor.scroll(ctx, command.name, pages)
    try:
        path, lines = editor.open_lines(ctx)
    except editor.FileProblem as problem:
        return base.ToolResult(str(problem), base.EXIT_FAILED, command.name)
    size, before = ctx.config.window, ctx.state.first_line
    window = editor.show(ctx, path, lines, before + pages * (size - ctx.config.overlap))
    notes = []
    if ctx.state.first_line == before:
        edge = "end" if pages > 0 else "top"
        notes.append(f"(Already at the {edge} of the file.)")
    ctx.state.scrolls_in_a_row += 1
    if ctx.state.scrolls_in_a_row >= ctx.config.scroll_warning_after:
        notes.append(
            "Warning: scrolling many times in a row is slow. If you know what you are looking for, "
            "use `search_file <term>` or `goto <line_number>`."
        )
    return base.ToolResult("\n".join([window, *notes]), base.EXIT_OK, command.name)


@base.tool(COMMAND)
def run(ctx: base.ToolContext, args: base.Arguments) -> base.ToolResult:
    return scroll(ctx, COMMAND, +1)
