"""The ``search_file`` tool: the lines of one file (the open one by default) that contain a term."""

from __future__ import annotations

import re

from kubegym.agent_runner.tools import base, editor, mlgym_search

COMMAND = base.Command(
    name="search_file",
    signature="search_file <search_term> [<file>]",
    docstring=(
        "Searches <file> (the open file by default) for <search_term>, a grep pattern, and lists "
        "the matching lines with their line numbers. Quote a term that contains spaces."
    ),
    arguments=(
        base.Argument(name="search_term", description="the text (grep pattern) to look for"),
        base.Argument(
            name="file", required=False, description="the file to search (default: the open file)"
        ),
    ),
)

_NO_FILE = "kubegym: no such file"
_LINE = re.compile(r"^(\d+):(.*)$")
_LONGEST_LINE = 300


@base.tool(COMMAND)
def run(ctx: base.ToolContext, args: base.Arguments) -> base.ToolResult:
    term = args.text("search_term")
    if not term:
        return base.usage_error(COMMAND, "the search term is empty.")
    name = args.optional_text("file")
    if ctx.config.preset == "mlgym":
        return mlgym_search.search_file(ctx, COMMAND.name, term, name)
    if name is None:
        if ctx.state.open_file is None:
            return base.ToolResult(
                "No file is open. Use `open <path>` first, or name the file to search.",
                base.EXIT_FAILED,
                COMMAND.name,
            )
        path = ctx.state.open_file
    else:
        path = editor.resolve(ctx, name)
    quoted = editor.quote(path)
    script = (
        f"( if [ -f {quoted} ]; then grep -n -e {editor.quote(term)} -- {quoted}; "
        f"else echo {editor.quote(_NO_FILE)}; fi )"
    )
    result = ctx.sandbox.exec(script, timeout=ctx.config.command_timeout_s)
    lines = result.output.splitlines()
    if lines == [_NO_FILE]:
        return base.ToolResult(f"Error: file {path} not found.", base.EXIT_FAILED, COMMAND.name)
    if result.exit_code not in (0, 1) or (lines and lines[0].startswith("grep:")):
        return base.ToolResult(
            f'Error: the search for "{term}" failed:\n{result.output.strip()}',
            base.EXIT_FAILED,
            COMMAND.name,
        )
    matches = [match for match in map(_LINE.match, lines) if match is not None]
    if not matches:
        return base.ToolResult(
            f'No matches found for "{term}" in {path}.', base.EXIT_FAILED, COMMAND.name
        )
    out = [f'Found {len(matches)} matches for "{term}" in {path}:']
    for match in matches[: ctx.config.max_results]:
        text = match.group(2)
        if len(text) > _LONGEST_LINE:
            text = text[:_LONGEST_LINE] + " …(line cut)"
        out.append(f"Line {match.group(1)}:{text}")
    if len(matches) > ctx.config.max_results:
        out.append(
            f"({len(matches) - ctx.config.max_results} more lines not shown. "
            "Narrow the search with a more specific term.)"
        )
    out.append(f'End of matches for "{term}" in {path}.')
    return base.ToolResult("\n".join(out), base.EXIT_OK, COMMAND.name)
