"""What the editing tools changed in one step, as bounded unified diffs for the trajectory.

`editor.save` calls `locate` then `record` each time a tool writes a file (``create``,
``edit``, ``insert``, and the mlgym preset's versions of them, which save through the same
function); the environment empties `base.ToolContext.edits` before each action and hands what
the step recorded to the agent loop, which writes it as
`kubegym.agent_runner.trajectory.Step.edits`.

Only tool edits are recorded. A shell command that changes files (``sed -i``, ``echo >``, a
training script writing checkpoints) leaves no diff: seeing those would mean listing and reading
the workspace through the sandbox after every command, which runs remotely on a cluster and
costs a round trip and the files' bytes each time, for every step.

The diff is made from the lines the tool read and the lines it wrote, so it shows the file as the
agent's tools saw it, and nothing is read to make it. Before a diff is kept, one command asks the
sandbox where the path really leads: a file outside the workspace (by its name, or through a
symbolic link that points out of it) is noted without its content, so a link to a secret never
copies the secret into the trajectory. Every diff is bounded (`MAX_DIFF_BYTES`, and
`MAX_STEP_BYTES` for a step's edits together), cut at a line with "… N more lines"; a file holding
NUL bytes is noted as binary, not diffed.
"""

from __future__ import annotations

import dataclasses
import posixpath
import shlex
from collections.abc import Sequence
from typing import Final

from kubegym.agent_runner.tools import base
from kubegym.sandbox import client

MAX_DIFF_BYTES: Final = 20_000
"""The most one file's diff holds (UTF-8 bytes); the rest is cut with a count of its lines."""

MAX_STEP_BYTES: Final = 60_000
"""The most one step's diffs hold together."""

CONTEXT_LINES: Final = 3
"""Unchanged lines shown around a change, as ``diff -u`` shows them."""

OUTSIDE: Final = "(outside the workspace: not recorded)\n"
BINARY: Final = "(binary file: not diffed)\n"
UNKNOWN: Final = "(where the file leads could not be checked: not recorded)\n"


@dataclasses.dataclass(frozen=True)
class Place:
    """Where a tool is about to write, as `locate` found it before the write."""

    path: str
    """Relative to the workspace; absolute when the file lies outside it."""

    note: str | None = None
    """Why the file's content is not recorded (`OUTSIDE`, `UNKNOWN`); None: it is."""


def locate(ctx: base.ToolContext, path: str) -> Place:
    """Where the file a tool is about to write at ``path`` (absolute) lies: asked before the
    write, since a write may replace a link with a plain file, and the tool read the link's
    target."""
    root = posixpath.normpath(ctx.workspace)
    inside = _relative(path, root)
    if inside is None:
        return Place(path, OUTSIDE)
    real = _real_paths(ctx, path, root)
    if real is None:
        return Place(inside, UNKNOWN)
    if _relative(real[0], real[1]) is None:
        return Place(inside, OUTSIDE)
    return Place(inside)


def record(
    ctx: base.ToolContext, place: Place, old: Sequence[str] | None, new: Sequence[str]
) -> None:
    """Note in ``ctx.edits`` that a tool wrote ``new`` over ``old`` at ``place`` (`locate`'s).

    Args:
        old: the file's lines as the tool read them; None for a file it created.
        new: the lines it wrote.
    """
    if place.note is not None:
        diff = place.note
    elif any("\0" in line for line in (*(old or ()), *new)):
        diff = BINARY
    else:
        diff = bounded(unified_diff(place.path, old, new), MAX_DIFF_BYTES)
    ctx.edits.append(base.FileEdit(place.path, diff))


def for_step(edits: Sequence[base.FileEdit]) -> list[dict[str, str]]:
    """A step's edits in the trajectory's form, their diffs together within `MAX_STEP_BYTES`."""
    left = MAX_STEP_BYTES
    wire = []
    for edit in edits:
        diff = bounded(edit.diff, max(left, 0))
        left -= len(diff.encode("utf-8"))
        wire.append(base.FileEdit(edit.path, diff).to_wire())
    return wire


def unified_diff(path: str, old: Sequence[str] | None, new: Sequence[str]) -> str:
    """A unified diff of one contiguous change, as ``diff -u`` would print it for a tool's edit.

    A tool changes one run of lines, so the common head and tail are cut off in one pass
    and the rest is one hunk: linear in the file's length, where a general diff can be
    quadratic on a large file of repeated lines.
    """
    before = list(old or ())
    after = list(new)
    name = _header_name(path)
    head = f"--- {'/dev/null' if old is None else 'a/' + name}\n+++ b/{name}\n"
    if before == after:
        return head if old is None else ""
    prefix = 0
    limit = min(len(before), len(after))
    while prefix < limit and before[prefix] == after[prefix]:
        prefix += 1
    suffix = 0
    while (
        suffix < limit - prefix
        and before[len(before) - 1 - suffix] == after[len(after) - 1 - suffix]
    ):
        suffix += 1
    start = max(0, prefix - CONTEXT_LINES)
    before_end = len(before) - suffix
    after_end = len(after) - suffix
    tail = min(suffix, CONTEXT_LINES)
    context_before = before[start:prefix]
    context_after = before[before_end : before_end + tail]
    removed = before[prefix:before_end]
    added = after[prefix:after_end]
    old_count = len(context_before) + len(removed) + len(context_after)
    new_count = len(context_before) + len(added) + len(context_after)
    lines = [
        f"@@ -{_range(start, old_count)} +{_range(start, new_count)} @@",
        *(" " + line for line in context_before),
        *("-" + line for line in removed),
        *("+" + line for line in added),
        *(" " + line for line in context_after),
    ]
    return head + "\n".join(lines) + "\n"


def bounded(diff: str, limit: int) -> str:
    """``diff`` within ``limit`` UTF-8 bytes, cut after a whole line with "… N more lines"."""
    if len(diff.encode("utf-8")) <= limit:
        return diff
    lines = diff.splitlines(keepends=True)
    kept: list[str] = []
    used = 0
    for line in lines:
        size = len(line.encode("utf-8"))
        if used + size > limit:
            cut = line.encode("utf-8")[: limit - used].decode("utf-8", "ignore")
            if not kept and cut:
                # One line longer than the whole allowance: keep its start.
                kept.append(cut + "\n")
            break
        kept.append(line)
        used += size
    rest = len(lines) - len(kept)
    return "".join(kept) + f"… {rest} more line{'s' if rest != 1 else ''}\n"


def _relative(path: str, root: str) -> str | None:
    """``path`` relative to ``root`` (both absolute), or None when it lies outside."""
    path = posixpath.normpath(path)
    if path == root:
        return None  # the workspace itself is a folder, never an edited file
    if not path.startswith(root.rstrip("/") + "/"):
        return None
    return path[len(root.rstrip("/")) + 1 :]


def _real_paths(ctx: base.ToolContext, path: str, root: str) -> tuple[str, str] | None:
    """Where ``path`` and the workspace really lead, every link followed, as the sandbox sees
    them; None when the sandbox cannot say."""
    quoted = f"-- {shlex.quote(path)} {shlex.quote(root)}"
    try:
        result = ctx.sandbox.exec(
            # Each path ended by a NUL (a file name may hold a newline, never a NUL); -m: a
            # tool may write into folders that do not exist yet.
            f"realpath -mz {quoted} 2>/dev/null || readlink -mz {quoted}",
            timeout=30,
        )
    except client.SandboxBusy:
        raise
    except client.SandboxError:
        return None
    lines = result.output.split("\0")
    if (
        result.exit_code != 0
        or len(lines) != 3
        or lines[2]
        or not all(p.startswith("/") for p in lines[:2])
    ):
        return None
    return lines[0], lines[1]


def _header_name(path: str) -> str:
    """The path as a diff header holds it: a control character (a newline would start a forged
    header line) is written as an escape."""
    if any(ord(c) < 0x20 or c == "\x7f" for c in path):
        return path.encode("unicode_escape").decode("ascii")
    return path


def _range(start: int, count: int) -> str:
    """A hunk's ``start,count`` in ``diff -u``'s numbering (an empty range starts a line before)."""
    first = start + 1 if count else start
    return f"{first},{count}"


__all__ = [
    "BINARY",
    "MAX_DIFF_BYTES",
    "MAX_STEP_BYTES",
    "OUTSIDE",
    "UNKNOWN",
    "Place",
    "bounded",
    "for_step",
    "locate",
    "record",
    "unified_diff",
]
