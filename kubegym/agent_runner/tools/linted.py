"""Edit and insert under MLGym's flake8 lint: the ``mlgym`` tool preset's ``lint="flake8"``.

Called by the ``edit`` and ``insert`` tools in place of `editor.change` (kubegym's syntax check).
As MLGym's ``edit_linting.sh`` and ``insert_linting.sh`` do, a change of a ``.py`` file is
refused when flake8 finds an error the file did not have before (`lint.new_errors`), with
MLGym's message and views; any other file is saved unchecked. Unlike MLGym, which writes the file
and copies a backup back over it, nothing is written until the lint has passed: a refused change
leaves the file on disk as it was, byte for byte, and leaves no backup file behind.
"""

from __future__ import annotations

import dataclasses
import posixpath

from kubegym.agent_runner.tools import base, editor, lint, mlgym_editor, mlgym_view

RULE = "-" * 49

_UPDATED = (
    "File updated. Please review the changes and make sure they are correct (correct "
    "indentation, no duplicate lines, etc). Edit the file again if necessary."
)


@dataclasses.dataclass(frozen=True)
class _Change:
    """One edit or insertion, with the numbers MLGym's script computes for it."""

    noun: str
    """``edit`` or ``insertion``."""
    window: tuple[int, int]
    """The original lines it replaces, as MLGym hands them to ``_split_string``."""
    n_lines: int
    """How many lines of text it brings."""
    after_view: tuple[int, int]
    """CURRENT_LINE and WINDOW of the refused change's view."""
    before_view: tuple[int, int]
    """CURRENT_LINE and WINDOW of the original code's view."""
    saved_line: int
    """CURRENT_LINE of the view shown after a saved change."""
    retry: str
    """MLGym's closing lines of a refusal."""


def unopened(ctx: base.ToolContext, tool: str, problem: editor.FileProblem) -> base.ToolResult:
    """The answer of an edit or insert whose file cannot be read; MLGym's words when none is open
    under the mlgym preset."""
    if ctx.config.preset == "mlgym" and ctx.state.open_file is None:
        return base.ToolResult(
            "No file open. Use the `open` command first.", base.EXIT_FAILED, tool
        )
    return base.ToolResult(str(problem), base.EXIT_FAILED, tool)


def _half(number: int) -> int:
    """``$((number / 2))``: bash divides towards zero (a reversed range gives a negative)."""
    return -(-number // 2) if number < 0 else number // 2


def edit(
    ctx: base.ToolContext,
    path: str,
    old: list[str],
    new: list[str],
    start: int,
    end: int,
    count: int,
) -> base.ToolResult:
    """Save lines ``start``..``end`` replaced by ``count`` lines, unless flake8 objects."""
    start0 = start - 1  # the script's 0-based start
    change = _Change(
        noun="edit",
        window=(start, end),
        n_lines=count,
        after_view=(count // 2 + start0, count + 10),
        before_view=(_half(end - start0 + 1) + start0, end - start0 + 10),
        saved_line=start0,
        retry=(
            "Your changes have NOT been applied. Please fix your edit command and try again.\n"
            "You either need to 1) Specify the correct start/end line arguments or 2) Correct "
            "your edit code.\n"
            "DO NOT re-run the same failed edit command. Running it again will lead to the same "
            "error."
        ),
    )
    return _apply(ctx, "edit", path, old, new, change)


def insert(
    ctx: base.ToolContext, path: str, old: list[str], new: list[str], after: int, count: int
) -> base.ToolResult:
    """Save ``count`` lines inserted after line ``after``, unless flake8 objects."""
    change = _Change(
        noun="insertion",
        window=(after + 1, after + count),
        n_lines=count,
        after_view=(after + count // 2, count + 10),
        before_view=(after, 10),
        saved_line=after + 1,
        retry=(
            "Your changes have NOT been applied. Please fix your insert command and try again.\n"
            "You either need to 1) Specify the correct line number argument or 2) Correct your "
            "insertion code.\n"
            "DO NOT re-run the same failed insert command. Running it again will lead to the "
            "same error."
        ),
    )
    return _apply(ctx, "insert", path, old, new, change)


def _apply(
    ctx: base.ToolContext, tool: str, path: str, old: list[str], new: list[str], change: _Change
) -> base.ToolResult:
    # MLGym writes the lines with `printf "%s\n"`, which prints one newline for no lines at all.
    new = new or [""]
    if ctx.config.preset == "mlgym" and not _writable(ctx, path):
        # MLGym checks this first, and also needs its folder for the backup copy it makes.
        return base.ToolResult(
            f"Error: You cannot edit read-only file {path}", base.EXIT_FAILED, tool
        )
    if path.endswith(".py"):
        try:
            before, after = lint.run(editor.join_lines(old), editor.join_lines(new))
        except lint.LintFailed as error:
            # No verdict, no change: the file stays as it was rather than unchecked.
            message = f"Error: the linter could not check your {change.noun} ({error}). It was NOT applied; {path} is unchanged."
            return base.ToolResult(message, base.EXIT_FAILED, tool)
        found = lint.new_errors(before, after, change.window, change.n_lines)
    else:
        found = []
    if found:
        return base.ToolResult(_refusal(path, old, new, change, found), base.EXIT_FAILED, tool)
    try:
        editor.save(ctx, path, new, old=old)
    except editor.FileProblem as problem:
        return base.ToolResult(str(problem), base.EXIT_FAILED, tool)
    view = mlgym_editor.show(ctx, path, new, change.saved_line)
    return base.ToolResult(f"{view}\n{_UPDATED}", base.EXIT_OK, tool)


def _writable(ctx: base.ToolContext, path: str) -> bool:
    """MLGym's test before an edit: the file is writable, and its folder (for the backup)."""
    quoted, folder = editor.quote(path), editor.quote(posixpath.dirname(path) or "/")
    return ctx.sandbox.exec(f"[ -w {quoted} ] && [ -w {folder} ]", timeout=30).exit_code == 0


def _refusal(
    path: str, old: list[str], new: list[str], change: _Change, found: list[lint.Flake8Error]
) -> str:
    """MLGym's message for a change that brought new errors, with both views."""
    would = mlgym_view.render(path, new, *change.after_view).text
    was = mlgym_view.render(path, old, *change.before_view).text
    doing = "editing" if change.noun == "edit" else "inserting into"
    return "\n".join(
        [
            f"Your proposed {change.noun} has introduced new syntax error(s). Please read this "
            f"error message carefully and then retry {doing} the file.",
            "",
            "ERRORS:",
            lint.describe(found),
            "",
            f"This is how your {change.noun} would have looked if applied",
            RULE,
            would,
            RULE,
            "",
            f"This is the original code before your {change.noun}",
            RULE,
            was,
            RULE,
            change.retry,
        ]
    )
