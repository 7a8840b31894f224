"""The ``mlgym`` tool preset's searches: search_dir, search_file and find_file as MLGym's ``search.sh``.

The same searches run in the sandbox (``find``, ``grep``, ``sort | uniq -c`` under ``realpath``)
and their results are told in MLGym's words: absolute paths, its counts, its "End of matches"
lines, its limit of 100 files for ``search_dir``. Its quirks are kept: ``search_dir`` skips any
path with a hidden part, lists each file by the first word of its path, and ``search_file``
never reaches its 100-line limit (it counts file names, always one). A search runs under the
same timeout rule as a shell command. Called by the three tools when `base.ToolConfig.preset`
is ``mlgym``.
"""

from __future__ import annotations

from kubegym.agent_runner.tools import base, bash, editor

MAX_FILES = 100
"""``search_dir`` refuses to list more files than this (MLGym's limit)."""

_MISSING = "kubegym: missing"


def _run(ctx: base.ToolContext, tool: str, action: str, script: str) -> str | base.ToolResult:
    """The script's output, or MLGym's timeout answer when the search ran out of time."""
    timeout = ctx.config.timeout_for(action)
    result = ctx.sandbox.exec(f"( export LC_ALL=C; {script} )", timeout=timeout)
    if result.timed_out or result.exit_code is None:
        answer = bash.mlgym_timeout(timeout if timeout is not None else ctx.task_timeout_s)
        return base.ToolResult(answer.output, answer.exit_code, tool)
    return result.output


def _in_folder(
    ctx: base.ToolContext, tool: str, folder: str | None, search: str, words: list[str]
) -> tuple[str, list[str]] | base.ToolResult:
    """Run ``search`` with ``$d`` the folder's real path (the shell's folder by default).

    Returns:
        The folder's real path and the search's output lines; or the answer for the model
        when the folder is missing or the search ran out of time.
    """
    if folder is None:
        resolve = 'd=$(realpath ./); printf "%s\\n" "$d"'
    else:
        quoted = editor.quote(folder)
        resolve = (
            f"if [ ! -d {quoted} ]; then echo {editor.quote(_MISSING)}; exit 0; fi; "
            f'd=$(realpath -- {quoted}); printf "%s\\n" "$d"'
        )
    action = " ".join([tool, *words, *([folder] if folder else [])])
    output = _run(ctx, tool, action, f"{resolve}; {search}")
    if isinstance(output, base.ToolResult):
        return output
    lines = output.splitlines()
    if lines[:1] == [_MISSING]:
        return base.ToolResult(f"Directory {folder} not found", base.EXIT_FAILED, tool)
    return lines[0], lines[1:]


def search_dir(ctx: base.ToolContext, tool: str, term: str, folder: str | None) -> base.ToolResult:
    """``search_dir <search_term> [<dir>]``."""
    search = (
        f"find \"$d\" -type f ! -path '*/.*' -exec grep -nIH -- {editor.quote(term)} {{}} + "
        "2>/dev/null | cut -d: -f1 | sort | uniq -c"
    )
    found = _in_folder(ctx, tool, folder, search, [term])
    if isinstance(found, base.ToolResult):
        return found
    where, counts = found[0], [line.split() for line in found[1] if line.strip()]
    if not counts:
        return base.ToolResult(f'No matches found for "{term}" in {where}', base.EXIT_FAILED, tool)
    if len(counts) > MAX_FILES:
        message = (
            f'More than {len(counts)} files matched for "{term}" in {where}. '
            "Please narrow your search."
        )
        return base.ToolResult(message, base.EXIT_FAILED, tool)
    total = sum(int(fields[0]) for fields in counts)
    out = [f'Found {total} matches for "{term}" in {where}:']
    out += [f"{fields[1] if len(fields) > 1 else ''} ({fields[0]} matches)" for fields in counts]
    out.append(f'End of matches for "{term}" in {where}')
    return base.ToolResult("\n".join(out), base.EXIT_OK, tool)


def search_file(ctx: base.ToolContext, tool: str, term: str, name: str | None) -> base.ToolResult:
    """``search_file <search_term> [<file>]``."""
    if name is None:
        if ctx.state.open_file is None:
            return base.ToolResult(
                "No file open. Use the open command first.", base.EXIT_FAILED, tool
            )
        target = ctx.state.open_file
    else:
        target = name
    quoted = editor.quote(target)
    action = " ".join([tool, term, *([name] if name else [])])
    script = (
        f"if [ ! -f {quoted} ]; then echo {editor.quote(_MISSING)}; exit 0; fi; "
        f'f=$(realpath -- {quoted}); printf "%s\\n" "$f"; grep -n -- {editor.quote(term)} "$f" 2>/dev/null'
    )
    output = _run(ctx, tool, action, script)
    if isinstance(output, base.ToolResult):
        return output
    lines = output.split("\n")
    if lines[:1] == [_MISSING]:
        message = (
            "Usage: search_file <search_term> [<file>]\n"
            f"Error: File name {name} not found. Please provide a valid file name."
        )
        return base.ToolResult(message, base.EXIT_FAILED, tool)
    where = lines[0]
    matches = [line.partition(":") for line in lines[1:] if line.partition(":")[0].isdigit()]
    if not matches:
        return base.ToolResult(f'No matches found for "{term}" in {where}', base.EXIT_FAILED, tool)
    out = [f'Found {len(matches)} matches for "{term}" in {where}:']
    out += [f"Line {number}:{text}" for number, _, text in matches]
    out.append(f'End of matches for "{term}" in {where}')
    return base.ToolResult("\n".join(out), base.EXIT_OK, tool)


def find_file(
    ctx: base.ToolContext, tool: str, pattern: str, folder: str | None
) -> base.ToolResult:
    """``find_file <file_name> [<dir>]``: absolute paths, in ``find``'s order."""
    search = f'find "$d" -type f -name {editor.quote(pattern)} 2>/dev/null'
    found = _in_folder(ctx, tool, folder, search, [pattern])
    if isinstance(found, base.ToolResult):
        return found
    where, paths = found[0], [line for line in found[1] if line]
    if not paths:
        message = f'No matches found for "{pattern}" in {where}'
        return base.ToolResult(message, base.EXIT_FAILED, tool)
    out = [f'Found {len(paths)} matches for "{pattern}" in {where}:', *paths]
    return base.ToolResult("\n".join(out), base.EXIT_OK, tool)
