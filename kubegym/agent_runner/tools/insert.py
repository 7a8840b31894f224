"""The ``insert`` tool: add lines after a line of the open file (Python files must still parse)."""

from __future__ import annotations

from kubegym.agent_runner.tools import base, editor, linted

COMMAND = base.Command(
    name="insert",
    signature="insert <line_number>\n<text_to_add>\nend_of_insert",
    end_name="end_of_insert",
    docstring=(
        "Inserts <text_to_add> after line <line_number> of the open file (0 inserts at the top); "
        "the text ends at a line holding only end_of_insert. The text is written exactly as "
        "given, so indent every line as it must appear in the file. After an insertion into a "
        "Python file that parsed before, the file must still parse: if it would not, nothing is "
        "inserted and the error is shown, so read it and send a corrected insert."
    ),
    arguments=(
        base.Argument(
            name="line_number",
            type="integer",
            description="the line after which the text goes (0: before the first line)",
        ),
        base.Argument(
            name="text_to_add",
            block=True,
            description="the lines to insert, ended by a line with only end_of_insert",
        ),
    ),
)


@base.tool(COMMAND)
def run(ctx: base.ToolContext, args: base.Arguments) -> base.ToolResult:
    try:
        path, lines = editor.open_lines(ctx)
    except editor.FileProblem as problem:
        return linted.unopened(ctx, COMMAND.name, problem)
    after = args.number("line_number")
    text = editor.split_lines(args.text("text_to_add"))
    # MLGym's script slices whatever it gets: a line past the end appends, no text adds nothing.
    mlgym = ctx.config.preset == "mlgym"
    if not (0 <= after <= len(lines) or (mlgym and after >= 0)):
        return base.usage_error(
            COMMAND,
            f"<line_number> must be between 0 and {len(lines)} (the file's length); got {after}.",
        )
    if not text and not mlgym:
        return base.usage_error(COMMAND, "there is no text to insert before end_of_insert.")
    new = lines[:after] + text + lines[after:]
    if ctx.config.lint == "flake8":
        return linted.insert(ctx, path, lines, new, after, len(text))
    return editor.change(
        ctx, COMMAND, path, lines, new, (after, after + 1), (after + 1, after + len(text))
    )
