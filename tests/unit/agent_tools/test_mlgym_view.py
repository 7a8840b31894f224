"""MLGym's file view (its ``_constrain_line`` and ``_print`` with jq's arithmetic), case by case.

The expected lines were worked out by hand from MLGym's ``tools/defaults.sh`` and checked
against it (bash and jq) on these and 150 random cases.
"""

from __future__ import annotations

import pytest

from kubegym.agent_runner.tools import mlgym_view


def lines(total: int) -> list[str]:
    return [f"line {number}" for number in range(1, total + 1)]


@pytest.mark.parametrize(
    ("total", "current", "window", "first", "last", "above", "below"),
    [
        # A fresh view (MLGym's edit at line 1: CURRENT_LINE 0) shows the first window.
        (2500, 0, 1000, 1, 1000, None, "(1500 more lines below)"),
        (2500, 1200, 1000, 701, 1700, "(700 more lines above)", "(800 more lines below)"),
        # Odd windows (an edit's view is its line count + 10): jq halves them exactly.
        (37, 20, 13, 14, 26, "(13 more lines above)", "(11 more lines below)"),
        (37, 40, 13, 25, 37, "(24 more lines above)", None),
        (37, 40, 10, 28, 37, "(27 more lines above)", None),
        # A file shorter than the window is shown whole.
        (8, 3, 1000, 1, 8, None, None),
        (8, 0, 10, 1, 8, None, None),
    ],
)
def test_the_view_shows_mlgym_s_lines_and_counts(
    total: int,
    current: int,
    window: int,
    first: int,
    last: int,
    above: str | None,
    below: str | None,
) -> None:
    view = mlgym_view.render("/w/t.py", lines(total), current, window)
    expected = [f"[File: /w/t.py ({total} lines total)]"]
    expected += [above] if above else []
    expected += [f"{number}:line {number}" for number in range(first, last + 1)]
    expected += [below] if below else []
    assert view.text == "\n".join(expected)
    assert view.first_line == first


def test_an_empty_file_shows_its_header_alone() -> None:
    view = mlgym_view.render("/w/empty.py", [], 0, 1000)
    assert (view.text, view.first_line) == ("[File: /w/empty.py (0 lines total)]", 1)
