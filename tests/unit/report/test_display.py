"""How the report's tables read for people: CI pairs as one column, words, precision, turning."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from kubegym.report import display


def test_a_ci_pair_is_one_column_next_to_its_value() -> None:
    frame = pd.DataFrame(
        {"aup": [1.23456], "aup_ci_low": [1.1], "aup_ci_high": [1.5], "mean_rank": [2.0]},
        index=pd.Index(["agent-a"], name="method"),
    )
    shown = display.show(frame, formats={"aup": ".3f"}, labels={"aup_ci": "AUP CI"})
    assert shown.header == ["method", "aup", "AUP CI", "mean rank"]
    assert shown.rows == [["agent-a", "1.235", "1.100\u20131.500", "2"]]
    assert shown.numeric == [False, True, True, True]


def test_a_lone_ci_bound_stays_a_column() -> None:
    shown = display.show(pd.DataFrame({"x_ci_low": [0.5]}))
    assert shown.header == ["x ci low"]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.44161234, "0.4416"),
        (2.38912, "2.389"),
        (1.5, "1.5"),
        (12345.678, "12,346"),
        (20000.0, "20,000"),
        (7, "7"),
        (0.00001234, "1.23e-05"),
        (-3.14159, "-3.142"),
        (math.nan, ""),
        (True, "yes"),
    ],
)
def test_numbers_read_to_four_significant_digits_without_exponents(
    value: object, text: str
) -> None:
    assert display.text(value) == text


def test_a_table_wider_than_long_turns_when_asked() -> None:
    counts = pd.DataFrame(
        [[1] * 5], index=pd.Index(["python"], name="tool"), columns=[f"a{i}" for i in range(5)]
    )
    shown = display.show(counts, turn_as="agent")
    assert shown.header == ["agent", "python"]
    assert [row[0] for row in shown.rows] == ["a0", "a1", "a2", "a3", "a4"]
    assert display.show(counts).header[0] == "tool"


def test_shares_read_as_percentages() -> None:
    shares = pd.DataFrame({"a": [0.2353]}, index=pd.Index(["python"], name="tool"))
    assert display.show(shares, formats={"*": ".1%"}).rows == [["python", "23.5%"]]
