"""The ``search_dir`` tool: which files under a folder contain a term, and how often."""

from __future__ import annotations

import re

from kubegym.agent_runner.tools import base, editor, mlgym_search

COMMAND = base.Command(
    name="search_dir",
    signature="search_dir <search_term> [<dir>]",
    docstring=(
        "Searches every text file under <dir> (hidden files and folders skipped) for "
        "<search_term>, a grep pattern, and lists the files that contain it with their number "
        "of matching lines. Quote a term that contains spaces."
    ),
    arguments=(
        base.Argument(name="search_term", description="the text (grep pattern) to look for"),
        base.Argument(
            name="dir",
            required=False,
            description="the folder to search (default: the current folder)",
        ),
    ),
)

_NO_DIR = "kubegym: no such folder"
_COUNT = re.compile(r"^(.*):(\d+)$")


@base.tool(COMMAND)
def run(ctx: base.ToolContext, args: base.Arguments) -> base.ToolResult:
    term = args.text("search_term")
    if not term:
        return base.usage_error(COMMAND, "the search term is empty.")
    if ctx.config.preset == "mlgym":
        return mlgym_search.search_dir(ctx, COMMAND.name, term, args.optional_text("dir"))
    folder = editor.resolve(ctx, args.optional_text("dir") or ".")
    script = (
        f"( if cd -- {editor.quote(folder)} 2>/dev/null; then "
        "find . -mindepth 1 -name '.*' -prune -o -type f "
        f"-exec grep -cIH -e {editor.quote(term)} -- {{}} + ; "
        f"else echo {editor.quote(_NO_DIR)}; fi )"
    )
    result = ctx.sandbox.exec(script, timeout=ctx.config.command_timeout_s)
    lines = result.output.splitlines()
    if _NO_DIR in lines:
        return base.ToolResult(
            f"Error: directory {folder} not found.", base.EXIT_FAILED, COMMAND.name
        )
    counts: list[tuple[str, int]] = []
    errors: list[str] = []
    for line in lines:
        match = _COUNT.match(line)
        if match is None:
            errors.append(line)
        elif int(match.group(2)) > 0:
            counts.append((match.group(1), int(match.group(2))))
    if not counts:
        if any(line.startswith("grep:") and "No such file" not in line for line in errors):
            detail = "\n".join(errors[:5])
            return base.ToolResult(
                f'Error: the search for "{term}" failed:\n{detail}', base.EXIT_FAILED, COMMAND.name
            )
        return base.ToolResult(
            f'No matches found for "{term}" in {folder}.', base.EXIT_FAILED, COMMAND.name
        )
    counts.sort()
    total = sum(count for _, count in counts)
    out = [f'Found {total} matches for "{term}" in {len(counts)} files under {folder}:']
    out.extend(f"{path} ({count} matches)" for path, count in counts[: ctx.config.max_results])
    if len(counts) > ctx.config.max_results:
        out.append(
            f"({len(counts) - ctx.config.max_results} more files not shown. "
            "Narrow the search: a more specific term, or a sub-folder.)"
        )
    out.append(f'End of matches for "{term}" in {folder}.')
    return base.ToolResult("\n".join(out), base.EXIT_OK, COMMAND.name)
