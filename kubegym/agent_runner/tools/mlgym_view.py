"""MLGym's file view: its ``_constrain_line`` and ``_print`` (``tools/defaults.sh``) in Python.

MLGym keeps the line at the window's middle (``CURRENT_LINE``) rather than its first line, and
computes the view with jq's floating-point arithmetic; the edit and insert of the ``mlgym`` tool
preset (`kubegym.agent_runner.tools.linted`) show their results and refusals through it so that
the model reads the same lines, counts and notes as under MLGym.
"""

from __future__ import annotations

import dataclasses
import math


@dataclasses.dataclass(frozen=True)
class View:
    """A rendered view and the first line it shows (1-based), for the editor's state."""

    text: str
    first_line: int


def _round(value: float) -> int:
    """jq's ``round``: halves away from zero (values here are never negative)."""
    return math.floor(value + 0.5)


def render(path: str, lines: list[str], current_line: int, window: int) -> View:
    """The view MLGym prints for ``CURRENT_LINE=current_line`` and ``WINDOW=window``."""
    total = len(lines)
    half = window / 2
    # _constrain_line: keep the middle at least half a window from either end.
    current = min(current_line, total - math.floor(half))
    current = max(current, math.floor(half))
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
    return View("\n".join(out), first)
