"""The editor the file tools share: paths, reading and writing through the sandbox, the window.

Used by the tools ``open``, ``goto``, ``scroll_up``, ``scroll_down``, ``create``, ``edit``,
``insert`` and ``search_file``. Every file access goes through the `Sandbox` protocol, so the
tools behave the same whether the sandbox is a local jail or a pod.
"""

from __future__ import annotations

import ast
import posixpath
import shlex

from kubegym.agent_runner.tools import base, file_edits
from kubegym.sandbox import client

RULE = "-" * 49


class FileProblem(Exception):
    """A file cannot be used as asked; the message is written for the model."""


def working_dir(ctx: base.ToolContext) -> str:
    """The shell's current folder inside the sandbox."""
    result = ctx.sandbox.exec("pwd", timeout=30)
    return result.output.strip().splitlines()[-1] if result.output.strip() else "/"


def resolve(ctx: base.ToolContext, path: str) -> str:
    """``path`` as an absolute, normalized path; relative paths start at the shell's folder."""
    if path == "~" or path.startswith("~/"):
        home = ctx.sandbox.exec('printf "%s" "$HOME"', timeout=30).output.strip() or "/"
        path = home + path[1:]
    elif not posixpath.isabs(path):
        path = posixpath.join(working_dir(ctx), path)
    return posixpath.normpath(path)


def quote(text: str) -> str:
    return shlex.quote(text)


def split_lines(text: str) -> list[str]:
    """The lines of ``text`` without their newlines; a last newline does not add an empty line."""
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def join_lines(lines: list[str]) -> str:
    return "\n".join(lines) + "\n" if lines else ""


def load(ctx: base.ToolContext, path: str) -> list[str]:
    """The lines of the text file at ``path`` (absolute).

    Raises:
        FileProblem: missing, a folder, unreadable, too big, or not UTF-8 text.
    """
    return decode(ctx, path, read(ctx, path))


def read(ctx: base.ToolContext, path: str) -> bytes:
    """The bytes of the file at ``path`` (absolute).

    Raises:
        FileProblem: missing, a folder or unreadable.
    """
    try:
        return ctx.sandbox.read_file(path)
    except FileNotFoundError:
        raise FileProblem(f"File {path} not found.") from None
    except IsADirectoryError:
        raise FileProblem(
            f"{path} is a directory. You can only open files; use `ls` or `find_file` to look inside it."
        ) from None
    except PermissionError:
        raise FileProblem(f"You may not read {path} (permission denied).") from None
    except client.SandboxBusy:
        raise
    except client.SandboxError as error:
        raise FileProblem(f"Cannot read {path}: {error}") from None


def decode(ctx: base.ToolContext, path: str, data: bytes) -> list[str]:
    """The lines of ``data``, the text of the file at ``path``.

    Raises:
        FileProblem: too big for the editor, or not UTF-8 text.
    """
    if len(data) > ctx.config.max_open_bytes:
        raise FileProblem(
            f"{path} is {len(data)} bytes, too big for the editor (limit {ctx.config.max_open_bytes}). "
            "Read parts of it with `head`, `tail`, `sed -n 'A,Bp'` or `grep -n`."
        )
    if b"\0" in data[:8192]:
        raise FileProblem(f"{path} is a binary file; the editor shows only text files.")
    try:
        return split_lines(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise FileProblem(f"{path} is not UTF-8 text; the editor shows only text files.") from None


def save(ctx: base.ToolContext, path: str, lines: list[str], *, old: list[str] | None) -> None:
    """Write ``lines`` to ``path`` (absolute), ending with a newline, and record the edit for
    the step's trajectory (`file_edits.record`).

    Args:
        old: the file's lines as the tool read them; None for a file the tool creates.

    Raises:
        FileProblem: the file cannot be written.
    """
    place = file_edits.locate(ctx, path)
    try:
        ctx.sandbox.write_file(path, join_lines(lines).encode("utf-8"))
    except PermissionError:
        raise FileProblem(f"You cannot edit the read-only file {path}.") from None
    except client.SandboxBusy:
        raise
    except (IsADirectoryError, NotADirectoryError, FileNotFoundError, client.SandboxError) as error:
        raise FileProblem(f"Cannot write {path}: {error}") from None
    file_edits.record(ctx, place, old, lines)


def open_lines(ctx: base.ToolContext) -> tuple[str, list[str]]:
    """The open file's path and lines.

    Raises:
        FileProblem: no file is open, or it can no longer be read.
    """
    path = ctx.state.open_file
    if path is None:
        raise FileProblem("No file is open. Use `open <path>` first.")
    return path, load(ctx, path)


def clamp(first: int, total: int, size: int) -> int:
    """The first line of a window of ``size`` lines that stays inside a file of ``total`` lines."""
    return max(1, min(first, total - size + 1))


def focus(line: int, size: int) -> int:
    """The first line of a window that shows ``line`` a sixth of the way down (as MLGym does)."""
    return line - size // 6


def render(path: str, lines: list[str], first: int, size: int, note: str = "") -> str:
    """A window of ``lines`` with line numbers, a header, and how many lines lie beyond."""
    total = len(lines)
    first = clamp(first, total, size)
    last = min(total, first + size - 1)
    out = [f"[File: {path} ({total} lines total{note})]"]
    if first > 1:
        out.append(f"({first - 1} more lines above)")
    out.extend(f"{number}:{lines[number - 1]}" for number in range(first, last + 1))
    if last < total:
        out.append(f"({total - last} more lines below)")
    if total == 0:
        out.append("(this file is empty)")
    return "\n".join(out)


def show(ctx: base.ToolContext, path: str, lines: list[str], first: int) -> str:
    """Open ``path`` in the editor with its window at ``first``, and render it."""
    size = ctx.config.window
    ctx.state.open_file = path
    ctx.state.first_line = clamp(first, len(lines), size)
    return render(path, lines, ctx.state.first_line, size)


def syntax_error(path: str, lines: list[str]) -> str | None:
    """For a Python file: why its text does not parse, with the line shown; None when it does."""
    if not path.endswith(".py"):
        return None
    try:
        ast.parse(join_lines(lines), filename=path)
    except SyntaxError as error:
        where = f"line {error.lineno}" if error.lineno else "unknown line"
        if error.offset:
            where += f", column {error.offset}"
        text = [f"SyntaxError: {error.msg} ({where})"]
        if error.lineno and 1 <= error.lineno <= len(lines):
            source = lines[error.lineno - 1]
            prefix = f"{error.lineno}:"
            text.append(prefix + source)
            if error.offset and error.offset > 0:
                text.append(" " * (len(prefix) + error.offset - 1) + "^")
        return "\n".join(text)
    except ValueError as error:  # null bytes in the source
        return f"SyntaxError: {error}"
    return None


def change(
    ctx: base.ToolContext,
    command: base.Command,
    path: str,
    old: list[str],
    new: list[str],
    span: tuple[int, int],
    changed: tuple[int, int],
) -> base.ToolResult:
    """Save an edit or insertion of the open file, unless it breaks a Python file that parsed.

    Args:
        span: the first and last original lines the change touches (for the "before" view).
        changed: the first and last lines of the new text in the result (for the "after" view).
    """
    noun = "edit" if command.name == "edit" else "insertion"
    broken = syntax_error(path, new)
    if broken is not None and syntax_error(path, old) is None:
        # Nothing has been written: the file on disk is the original, the rollback is free.
        after_first, after_last = changed
        before_first, before_last = span
        would = render(path, new, after_first - 5, after_last - after_first + 11, ", NOT saved")
        was = render(path, old, before_first - 5, before_last - before_first + 11)
        message = [
            f"Error: your {noun} would introduce a syntax error, so it was NOT applied. "
            f"{path} is unchanged.",
            "",
            broken,
            "",
            f"This is how the {noun} would have looked:",
            RULE,
            would,
            RULE,
            "",
            "This is the original code:",
            RULE,
            was,
            RULE,
            "Fix the line numbers or the code (indentation included) and try again. "
            "Repeating the same command gives the same error.",
        ]
        return base.ToolResult("\n".join(message), base.EXIT_FAILED, command.name)
    try:
        save(ctx, path, new, old=old)
    except FileProblem as problem:
        return base.ToolResult(str(problem), base.EXIT_FAILED, command.name)
    window = show(ctx, path, new, focus(changed[0], ctx.config.window))
    message = [
        window,
        "File updated. Check the change: indentation, duplicated or missing lines. "
        "Edit again if it is not what you meant.",
    ]
    if broken is not None:
        message.append(
            f"Note: the file still does not parse (it did not before this {noun}):\n{broken}"
        )
    return base.ToolResult("\n".join(message), base.EXIT_OK, command.name)
