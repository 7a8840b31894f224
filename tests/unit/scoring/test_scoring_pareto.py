"""The cost-versus-score Pareto front: who no other method beats on both at once."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from kubegym.scoring import pareto_front


def front(points: dict[str, tuple[float, float]]) -> set[str]:
    cost = pd.Series({name: c for name, (c, _) in points.items()})
    value = pd.Series({name: v for name, (_, v) in points.items()})
    marked = pareto_front(cost, value)
    assert marked.dtype == bool and list(marked.index) == list(points)
    return {str(name) for name, on in marked.items() if on}


def test_the_cheapest_the_best_and_the_trade_offs_between() -> None:
    # cost, AUP: D is beaten by B (cheaper and better), E by C (as cheap, better)
    points = {
        "A": (0.1, 0.9),
        "B": (1.0, 1.2),
        "C": (5.0, 1.4),
        "D": (2.0, 1.1),
        "E": (5.0, 1.3),
    }
    assert front(points) == {"A", "B", "C"}


def test_one_method_that_beats_all_is_the_whole_front() -> None:
    assert front({"cheap-good": (0.0, 1.5), "x": (0.0, 0.9), "y": (3.0, 1.5)}) == {"cheap-good"}


def test_equal_points_do_not_dominate_each_other() -> None:
    assert front({"a": (1.0, 1.0), "b": (1.0, 1.0), "c": (2.0, 0.5)}) == {"a", "b"}


def test_a_missing_cost_or_value_is_off_the_front_and_dominates_nothing() -> None:
    points = {"a": (math.nan, 2.0), "b": (1.0, math.nan), "c": (1.0, 1.0), "d": (2.0, 0.5)}
    assert front(points) == {"c"}


def test_an_empty_table_has_an_empty_front() -> None:
    empty = pd.Series([], dtype=float)
    assert pareto_front(empty, empty).empty


def test_the_series_must_share_an_index() -> None:
    with pytest.raises(ValueError, match="same index"):
        pareto_front(pd.Series({"a": 1.0}), pd.Series({"b": 1.0}))
