"""A trial's steps, read page by page from ``trajectory.jsonl`` without parsing the whole file.

Called by `kubegym.viewer.app`. The first read of a trajectory scans its bytes
once for line ends (no JSON parsing) and keeps the offsets, cached by the
file's size and mtime; a page then seeks to its first line and parses only its
own lines. A file that grew (a live trial) is scanned on from where the last
scan stopped. Each step's long text is cut to `FIELD_LIMIT` characters in a
page, with the full length given, and fetched whole (up to `FULL_LIMIT`) by
`step_field`; a line over `LINE_LIMIT` bytes is never parsed at all.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from typing import Any, Final

FIELD_LIMIT: Final = 2_000
"""Characters of a step's thought, action or observation shown in a page."""
DIFF_LIMIT: Final = 20_000
"""Characters of one edit's diff shown in a page."""
FULL_LIMIT: Final = 1_000_000
"""Characters of one field `step_field` returns (a "show all" stays bounded too)."""
LINE_LIMIT: Final = 4_000_000
"""Bytes of one trajectory line the viewer parses; a longer line is shown as its size."""
PAGE_LIMIT: Final = 200
"""The most steps one page holds."""
TEXT_FIELDS: Final = ("thought", "action", "observation")
_CHUNK: Final = 1 << 20


@dataclass
class LineIndex:
    """Byte offsets of a trajectory's lines, as far as the file has been scanned.

    Attributes:
        starts: the offset of each complete line.
        ends: the offset just past each line's newline.
        scanned: how many bytes were scanned (the end of the last complete line).
        size, mtime_ns: the file's, when scanned.
    """

    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    scanned: int = 0
    size: int = -1
    mtime_ns: int = -1


class TrajectoryIndex:
    """Line indexes of the trajectories read so far, by path; safe to share between threads."""

    def __init__(self, max_files: int = 256):
        self._indexes: dict[str, LineIndex] = {}
        self._lock = threading.Lock()
        self._max_files = max_files

    def lines(self, path: str) -> LineIndex:
        """The line index of `path`, scanned up to the file's current end.

        Raises:
            FileNotFoundError: there is no such file.
        """
        stat = os.stat(path)
        with self._lock:
            index = self._indexes.get(path)
            if index is None or stat.st_size < index.scanned:
                index = LineIndex()  # new, or rewritten shorter (a rerun): scan again
            if index.size != stat.st_size or index.mtime_ns != stat.st_mtime_ns:
                _scan(path, index)
                index.size, index.mtime_ns = stat.st_size, stat.st_mtime_ns
            if path not in self._indexes and len(self._indexes) >= self._max_files:
                self._indexes.pop(next(iter(self._indexes)))
            self._indexes[path] = index
            return index


def _scan(path: str, index: LineIndex) -> None:
    # Only complete lines are indexed: a live trial's half-written last line waits.
    with open(path, "rb") as f:
        f.seek(index.scanned)
        offset = index.scanned
        start = offset
        while chunk := f.read(_CHUNK):
            at = chunk.find(b"\n")
            while at != -1:
                end = offset + at + 1
                if end - start > 1:  # skip blank lines
                    index.starts.append(start)
                    index.ends.append(end)
                start = end
                at = chunk.find(b"\n", at + 1)
            offset += len(chunk)
        index.scanned = start


def _cut(value: Any, limit: int) -> tuple[str, int]:
    text = value if isinstance(value, str) else ("" if value is None else json.dumps(value))
    return text[:limit], len(text)


def _shown(raw: dict[str, Any], number: int) -> dict[str, Any]:
    """One parsed step as a page shows it: long text cut, lengths given."""
    step: dict[str, Any] = {"index": number, "step": raw.get("step", number + 1)}
    lengths: dict[str, int] = {}
    for name in TEXT_FIELDS:
        step[name], lengths[name] = _cut(raw.get(name), FIELD_LIMIT)
    for name in ("exit_code", "prompt_tokens", "completion_tokens", "cost_usd", "seconds", "time"):
        value = raw.get(name)
        step[name] = value if isinstance(value, int | float | str) or value is None else None
    score = raw.get("score")
    step["score"] = score if isinstance(score, dict) else None
    edits = raw.get("edits")
    step["edits"] = []
    if isinstance(edits, list):
        for edit in edits[:50]:
            if isinstance(edit, dict):
                diff, length = _cut(edit.get("diff"), DIFF_LIMIT)
                path, _ = _cut(edit.get("path"), 500)
                step["edits"].append({"path": path, "diff": diff, "length": length})
    step["lengths"] = lengths
    step["truncated"] = [n for n, length in lengths.items() if length > FIELD_LIMIT]
    return step


def read_page(index: TrajectoryIndex, path: str, start: int = 0, limit: int = 50) -> dict[str, Any]:
    """Steps ``start`` to ``start + limit`` of the trajectory at `path`.

    Returns:
        ``{"total", "start", "steps", "next"}``; ``next`` is the start of the next
        page, or None at the end. A line that is not JSON, or longer than
        `LINE_LIMIT`, is a step with ``error`` saying so.
    """
    limit = max(1, min(limit, PAGE_LIMIT))
    lines = index.lines(path)
    total = len(lines.starts)
    start = max(0, min(start, total))
    stop = min(total, start + limit)
    steps: list[dict[str, Any]] = []
    with open(path, "rb") as f:
        for number in range(start, stop):
            size = lines.ends[number] - lines.starts[number]
            if size > LINE_LIMIT:
                steps.append(
                    {
                        "index": number,
                        "step": number + 1,
                        "error": f"line of {size} bytes, too large to show",
                        "bytes": size,
                    }
                )
                continue
            f.seek(lines.starts[number])
            steps.append(_parse(f.read(size), number))
    return {"total": total, "start": start, "steps": steps, "next": stop if stop < total else None}


def _parse(line: bytes, number: int) -> dict[str, Any]:
    try:
        raw = json.loads(line)
    except ValueError:
        return {"index": number, "step": number + 1, "error": "not a JSON line"}
    if not isinstance(raw, dict):
        return {"index": number, "step": number + 1, "error": "not a JSON object"}
    return _shown(raw, number)


def step_field(index: TrajectoryIndex, path: str, number: int, name: str) -> dict[str, Any]:
    """One field of one step in full (up to `FULL_LIMIT` characters): the "show all" fetch.

    `name` is a text field (`TEXT_FIELDS`) or ``edits/<i>`` for one edit's diff.

    Raises:
        LookupError: no such step or field, or the step's line is over `LINE_LIMIT`.
    """
    lines = index.lines(path)
    if not 0 <= number < len(lines.starts):
        raise LookupError(f"no step {number}")
    size = lines.ends[number] - lines.starts[number]
    if size > LINE_LIMIT:
        raise LookupError(f"step {number} is a line of {size} bytes, too large to show")
    with open(path, "rb") as f:
        f.seek(lines.starts[number])
        try:
            raw = json.loads(f.read(size))
        except ValueError:
            raw = None
    if not isinstance(raw, dict):
        raise LookupError(f"step {number} is not a JSON object")
    if name in TEXT_FIELDS:
        value = raw.get(name)
    elif name.startswith("edits/") and name[6:].isdigit():
        edits = raw.get("edits") or []
        at = int(name[6:])
        if not isinstance(edits, list) or at >= len(edits) or not isinstance(edits[at], dict):
            raise LookupError(f"step {number} has no edit {at}")
        value = edits[at].get("diff")
    else:
        raise LookupError(f"no field {name!r}")
    text, length = _cut(value, FULL_LIMIT)
    return {
        "index": number,
        "field": name,
        "text": text,
        "length": length,
        "truncated": length > FULL_LIMIT,
    }
