"""The ``create`` tool: make a new, empty file and open it in the editor."""

from __future__ import annotations

from kubegym.agent_runner.tools import base, editor, mlgym_editor

COMMAND = base.Command(
    name="create",
    signature="create <filename>",
    docstring=(
        "Creates a new, empty file and opens it in the editor; then add its text with "
        "`insert 0` or `edit 1:1`. Fails if the file already exists (use `open` for that)."
    ),
    arguments=(base.Argument(name="filename", description="the path of the file to create"),),
)


@base.tool(COMMAND)
def run(ctx: base.ToolContext, args: base.Arguments) -> base.ToolResult:
    path = editor.resolve(ctx, args.text("filename"))
    if ctx.config.preset == "mlgym":
        return mlgym_editor.create(ctx, COMMAND.name, args.text("filename"), path)
    if (
        ctx.sandbox.exec(f"test -e {editor.quote(path)} || test -L {editor.quote(path)}").exit_code
        == 0
    ):
        return base.ToolResult(
            f"Error: {path} already exists. Use `open {path}` to see or edit it.",
            base.EXIT_FAILED,
            COMMAND.name,
        )
    try:
        editor.save(ctx, path, [], old=None)
    except editor.FileProblem as problem:
        return base.ToolResult(str(problem), base.EXIT_FAILED, COMMAND.name)
    window = editor.show(ctx, path, [], 1)
    return base.ToolResult(f"Created {path}.\n{window}", base.EXIT_OK, COMMAND.name)
