"""The ``edit`` tool: replace a range of lines of the open file (Python files must still parse)."""

from __future__ import annotations

from kubegym.agent_runner.tools import base, editor, linted

COMMAND = base.Command(
    name="edit",
    signature="edit <start_line>:<end_line>\n<replacement_text>\nend_of_edit",
    end_name="end_of_edit",
    docstring=(
        "Replaces lines <start_line> to <end_line> (both included) of the open file with "
        "<replacement_text>, which ends at a line holding only end_of_edit. The text is written "
        "exactly as given, so indent every line as it must appear in the file; an empty text "
        "deletes the lines. After an edit of a Python file that parsed before, the file must "
        "still parse: if it would not, the edit is NOT applied and the error is shown, so read "
        "it and send a corrected edit (the same edit again fails the same way)."
    ),
    arguments=(
        base.Argument(name="start_line", type="integer", description="the first line to replace"),
        base.Argument(
            name="end_line", type="integer", description="the last line to replace (included)"
        ),
        base.Argument(
            name="replacement_text",
            block=True,
            description="the new lines, ended by a line with only end_of_edit",
        ),
    ),
)


@base.tool(COMMAND)
def run(ctx: base.ToolContext, args: base.Arguments) -> base.ToolResult:
    try:
        path, lines = editor.open_lines(ctx)
    except editor.FileProblem as problem:
        return linted.unopened(ctx, COMMAND.name, problem)
    start, end = args.number("start_line"), args.number("end_line")
    total = len(lines)
    last = max(total, 1)  # an empty file still has a line 1 to replace
    if ctx.config.preset == "mlgym":
        # MLGym's script slices whatever range it gets: past the end appends, reversed repeats.
        if start < 1 or end < 0:
            return base.usage_error(COMMAND, f"the range {start}:{end} is invalid.")
    elif not 1 <= start <= end:
        return base.usage_error(
            COMMAND, f"the range {start}:{end} is invalid; need 1 <= start_line <= end_line."
        )
    elif end > last:
        return base.usage_error(
            COMMAND,
            f"end_line {end} is past the end of {path} ({total} lines). "
            f"To add lines after the end, use `insert {total}`.",
        )
    text = editor.split_lines(args.text("replacement_text"))
    new = lines[: start - 1] + text + lines[end:]
    if ctx.config.lint == "flake8":
        return linted.edit(ctx, path, lines, new, start, end, len(text))
    return editor.change(
        ctx, COMMAND, path, lines, new, (start, end), (start, start + len(text) - 1)
    )
