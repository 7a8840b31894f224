"""The ``find_file`` tool: the files under a folder whose name matches a name or a glob."""

from __future__ import annotations

from kubegym.agent_runner.tools import base, editor, mlgym_search

COMMAND = base.Command(
    name="find_file",
    signature="find_file <file_name> [<dir>]",
    docstring=(
        "Finds the files under <dir> whose name is <file_name>; shell wildcards work "
        '(quote them: find_file "*.py"). Lists their paths relative to <dir>.'
    ),
    arguments=(
        base.Argument(
            name="file_name", description="the file name or wildcard pattern to look for"
        ),
        base.Argument(
            name="dir",
            required=False,
            description="the folder to search (default: the current folder)",
        ),
    ),
)

_NO_DIR = "kubegym: no such folder"


@base.tool(COMMAND)
def run(ctx: base.ToolContext, args: base.Arguments) -> base.ToolResult:
    name = args.text("file_name")
    if ctx.config.preset == "mlgym":
        return mlgym_search.find_file(ctx, COMMAND.name, name, args.optional_text("dir"))
    if not name or "/" in name:
        return base.usage_error(
            COMMAND, "<file_name> must be a file name (no '/'), such as train.py."
        )
    folder = editor.resolve(ctx, args.optional_text("dir") or ".")
    script = (
        f"( if cd -- {editor.quote(folder)} 2>/dev/null; then "
        f"find . -type f -name {editor.quote(name)} 2>/dev/null | LC_ALL=C sort; "
        f"else echo {editor.quote(_NO_DIR)}; fi )"
    )
    result = ctx.sandbox.exec(script, timeout=ctx.config.command_timeout_s)
    paths = [line for line in result.output.splitlines() if line]
    if paths == [_NO_DIR]:
        return base.ToolResult(
            f"Error: directory {folder} not found.", base.EXIT_FAILED, COMMAND.name
        )
    if not paths:
        return base.ToolResult(
            f'No files named "{name}" found under {folder}.', base.EXIT_FAILED, COMMAND.name
        )
    out = [f'Found {len(paths)} files named "{name}" under {folder}:']
    out.extend(paths[: ctx.config.max_results])
    if len(paths) > ctx.config.max_results:
        out.append(
            f"({len(paths) - ctx.config.max_results} more files not shown. "
            "Narrow the search: a more specific name, or a sub-folder.)"
        )
    return base.ToolResult("\n".join(out), base.EXIT_OK, COMMAND.name)
