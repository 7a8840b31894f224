"""MLGym's file view: its ``_constrain_line`` and ``_print`` (``tools/defaults.sh``) in Python.

MLGym keeps the line at the window's middle (``CURRENT_LINE``) rather than its first line, and
computes the view with jq's floating-point arithmetic. The ``mlgym`` tool preset's editor
(`kubegym.agent_runner.tools.mlgym_editor`: open, goto, scroll, create) and its linted edit and
insert (`kubegym.agent_runner.tools.linted`) show files through it, so that the model reads the
same lines, counts and notes as under MLGym.
"""

from __future__ import annotations

import dataclasses
import math


@dataclasses.dataclass(frozen=True)
class View:
    """A rendered view, for the model, and where it stands, for the editor's state."""

    text: str
    first_line: int
    """The first line it shows (1-based)."""
    current_line: float
    """MLGym's ``CURRENT_LINE`` after ``_constrain_line`` (a half when the window is odd)."""


def constrain(current_line: float, total: int, window: int) -> float:
    """``_constrain_line``: the middle kept at least half a window from either end."""
    half = math.floor(window / 2)
    return max(min(current_line, total - half), half)


def _round(value: float) -> int:
    """jq's ``round``: halves away from zero (values here are never negative)."""
    return math.floor(value + 0.5)


def render(path: str, lines: list[str], current_line: float, window: int) -> View:
    """The view MLGym prints for ``CURRENT_LINE=current_line`` and ``WINDOW=window``
    (``_constrain_line`` then ``_print``)."""
    total = len(lines)
    half = window / 2
    current = constrain(current_line, total, window)
    above = math.floor(max(0.0, current - half))
    below = _round(max(0.0, total - current - half))
    # `grep -n $ | head -n HEAD | tail -n WINDOW`
    head = max(0, math.floor(max(current + half, half)))
    shown = list(enumerate(lines[:head], start=1))[-window:] if window > 0 else []
    out = [f"[File: {path} ({total} lines total)]"]
    if above > 0:
        out.append(f"({above} more lines above)")
    out.extend(f"{number}:{text}" for number, text in shown)
    if below > 0:
        out.append(f"({below} more lines below)")
    first = shown[0][0] if shown else 1
    return View("\n".join(out), first, current)
