"""The ``mlgym`` tool preset's editor: open, goto, scroll and create as MLGym's ``defaults.sh``.

MLGym positions its window by its middle line (``CURRENT_LINE``): ``open`` and ``goto`` put the
asked line a sixth of a window below the top, scrolling moves the middle by a window less the
overlap, ``create`` writes one empty line. Their warnings and errors are MLGym's words. The
``open``, ``goto``, ``scroll_up``, ``scroll_down`` and ``create`` tools call these functions when
`base.ToolConfig.preset` is ``mlgym``; file access stays the editor's (`editor.load`,
`editor.save`), through the sandbox.
"""

from __future__ import annotations

import math
import posixpath

from kubegym.agent_runner.tools import base, editor, mlgym_view

OPEN_CHAR_LIMIT = 20_000
"""MLGym's ``open`` with a line number refuses a file of more characters (bytes, as ``wc -c``)."""

NO_FILE = "No file open. Use the open command first."

_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*")

SCROLL_WARNING = (
    "\n\nWARNING: Scrolling many times in a row is very inefficient.\n"
    "If you know what you are looking for, use `search_file <pattern>` instead.\n"
)


def show(ctx: base.ToolContext, path: str, lines: list[str], current_line: float) -> str:
    """Render ``path`` around MLGym's ``CURRENT_LINE`` and make it the open file."""
    view = mlgym_view.render(path, lines, current_line, ctx.config.window)
    ctx.state.open_file = path
    ctx.state.current_line = view.current_line
    ctx.state.first_line = view.first_line
    return view.text


def _around(line: int, window: int) -> int:
    """MLGym's middle for showing ``line``: ``[line + WINDOW/2 - floor(WINDOW/6), 1] | max | floor``."""
    return math.floor(max(line + window / 2 - math.floor(window / 6), 1))


def _is_image(head: bytes) -> bool:
    """Whether a file's first bytes are an image's, as ``file --mime-type`` would say (PNG, JPEG,
    GIF, TIFF, WebP, SVG)."""
    if head.startswith(_IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return True
    text = head[:1024].lstrip().lower()
    return text.startswith(b"<svg") or (text.startswith(b"<?xml") and b"<svg" in text)


def open_file(
    ctx: base.ToolContext, tool: str, name: str, path: str, line: int | None
) -> base.ToolResult:
    """``open <path> [<line_number>]``: MLGym's refusals of a folder, a missing file or an
    image (naming the path as the model wrote it), then the view."""
    quoted = editor.quote(path)
    kind = ctx.sandbox.exec(
        f"if [ -f {quoted} ]; then echo file; elif [ -d {quoted} ]; then echo dir; fi", timeout=30
    ).output.strip()
    if kind == "dir":
        message = f"Error: {name} is a directory. You can only open files. Use cd or ls to navigate directories."
        return base.ToolResult(message, base.EXIT_FAILED, tool)
    if kind != "file":
        return base.ToolResult(f"File {name} not found", base.EXIT_FAILED, tool)
    try:
        data = editor.read(ctx, path)
        if _is_image(data[:1024]):
            message = f"Error: {name} is an image file. Current environment does not support image viewing."
            return base.ToolResult(message, base.EXIT_FAILED, tool)
        lines = editor.decode(ctx, path, data)
    except editor.FileProblem as problem:
        return base.ToolResult(str(problem), base.EXIT_FAILED, tool)
    return open_at(ctx, tool, path, lines, line)


def open_at(
    ctx: base.ToolContext, tool: str, path: str, lines: list[str], line: int | None
) -> base.ToolResult:
    """``open <path> [<line_number>]``."""
    window = ctx.config.window
    warning = ""
    if line is None:
        current: float = window / 2
    else:
        if (
            len(editor.join_lines(lines).encode("utf-8", errors="surrogateescape"))
            > OPEN_CHAR_LIMIT
        ):
            message = (
                f"The file is larger than {OPEN_CHAR_LIMIT} characters, please use "
                "'head -n NUM_LINES' to open it"
            )
            return base.ToolResult(message, base.EXIT_FAILED, tool)
        total = len(lines)
        if line > total:
            warning = (
                f"Warning: <line_number> ({line}) is greater than the number of lines in the "
                f"file ({total})\nWarning: Setting <line_number> to {total}\n"
            )
            current = total
        elif line < 1:
            warning = (
                f"Warning: <line_number> ({line}) is less than 1\n"
                "Warning: Setting <line_number> to 1\n"
            )
            current = 1
        else:
            current = _around(line, window)
    return base.ToolResult(warning + show(ctx, path, lines, current), base.EXIT_OK, tool)


def goto(ctx: base.ToolContext, tool: str, line: int) -> base.ToolResult:
    """``goto <line_number>``."""
    try:
        path, lines = editor.open_lines(ctx)
    except editor.FileProblem as problem:
        text = NO_FILE if ctx.state.open_file is None else str(problem)
        return base.ToolResult(text, base.EXIT_FAILED, tool)
    if line < 0:
        message = "Usage: goto <line>\nError: <line> must be a number"
        return base.ToolResult(message, base.EXIT_USAGE, tool)
    if line > len(lines):
        message = f"Error: <line> must be less than or equal to {len(lines)}"
        return base.ToolResult(message, base.EXIT_USAGE, tool)
    view = show(ctx, path, lines, _around(line, ctx.config.window))
    return base.ToolResult(view, base.EXIT_OK, tool)


def scroll(ctx: base.ToolContext, tool: str, pages: int) -> base.ToolResult:
    """``scroll_down`` (``pages`` 1) or ``scroll_up`` (-1): the middle moves a window less the
    overlap; from the third scroll in a row MLGym's warning follows the view."""
    try:
        path, lines = editor.open_lines(ctx)
    except editor.FileProblem as problem:
        text = NO_FILE if ctx.state.open_file is None else str(problem)
        return base.ToolResult(text, base.EXIT_FAILED, tool)
    step = ctx.config.window - ctx.config.overlap
    view = show(ctx, path, lines, ctx.state.current_line + pages * step)
    ctx.state.scrolls_in_a_row += 1
    warning = (
        SCROLL_WARNING if ctx.state.scrolls_in_a_row >= ctx.config.scroll_warning_after else ""
    )
    return base.ToolResult(view + warning, base.EXIT_OK, tool)


def create(ctx: base.ToolContext, tool: str, name: str, path: str) -> base.ToolResult:
    """``create <filename>``: a file of one empty line, opened; an existing file is opened.

    Args:
        name: the file name as the model wrote it (MLGym's error quotes it).
        path: the same file, resolved.
    """
    exists = ctx.sandbox.exec(f"test -e {editor.quote(path)}", timeout=30).exit_code == 0
    folder = posixpath.dirname(path) or "/"
    if not exists and ctx.sandbox.exec(f"test -d {editor.quote(folder)}", timeout=30).exit_code:
        # MLGym's `printf "\n" > "$1"` makes no folder: bash complains, then its open does.
        message = f"bash: {name}: No such file or directory\nFile {name} not found"
        return base.ToolResult(message, base.EXIT_FAILED, tool)
    if not exists:
        try:
            editor.save(ctx, path, [""], old=None)
        except editor.FileProblem as problem:
            return base.ToolResult(str(problem), base.EXIT_FAILED, tool)
    try:
        lines = editor.load(ctx, path)
    except editor.FileProblem as problem:
        return base.ToolResult(str(problem), base.EXIT_FAILED, tool)
    view = open_at(ctx, tool, path, lines, None)
    if exists:
        return base.ToolResult(
            f"Error: File '{name}' already exists.\n{view.output}", base.EXIT_FAILED, tool
        )
    return view
