"""How a report table reads for people: headers in words, CIs as one column, sensible precision.

Called by `kubegym.report.render` for the markdown and HTML renderings (report.json
keeps every column and full precision: it is for programs). A table's frame is
turned into text cells here:

* a pair of columns ``<x>_ci_low`` and ``<x>_ci_high`` becomes one column ``lo–hi``
  (the leaderboard's CIs were four wide columns that ran off the page);
* a header is the table's label for the column, else its name with spaces for
  underscores (so a browser can wrap it);
* a number uses the table's format for its column, else four significant digits
  without an exponent in the usual range;
* a table whose columns are one kind of thing (agents, say) turns so that the longer
  side runs down the page.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd

CI_LOW: Final = "_ci_low"
CI_HIGH: Final = "_ci_high"
CI_SUFFIX: Final = "_ci"
"""The label key of a merged CI column: ``<x>_ci``."""
DASH: Final = "\u2013"


@dataclass(frozen=True)
class Shown:
    """A table as people read it.

    Attributes:
        header: one label per column.
        rows: the cells as text.
        numeric: per column, whether it holds numbers (right-aligned).
    """

    header: list[str]
    rows: list[list[str]]
    numeric: list[bool]


def show(
    frame: pd.DataFrame,
    *,
    labels: Mapping[str, str] | None = None,
    formats: Mapping[str, str] | None = None,
    turn_as: str | None = None,
) -> Shown:
    """A table's text cells, its CI pairs merged.

    Args:
        frame: the table; a named index is shown as the first column.
        labels: column name → header (a merged CI column's name is ``<x>_ci``).
        formats: column name → a format spec for its numbers (``".3f"``, ``".1%"``);
            ``"*"`` applies to every column without its own.
        turn_as: when set, the table is shown turned (rows for columns) if it has more
            columns than rows; its columns then become rows named under this header.
    """
    labels = labels or {}
    formats = formats or {}
    if turn_as is not None and frame.shape[1] > frame.shape[0]:
        frame = frame.T
        frame.index.name = turn_as
    shown = frame.reset_index() if frame.index.name is not None else frame
    names = [str(c) for c in shown.columns]
    columns = [shown.iloc[:, i].tolist() for i in range(len(names))]
    header: list[str] = []
    cells: list[list[str]] = []
    numeric: list[bool] = []
    merged = {n[: -len(CI_HIGH)] for n in names if n.endswith(CI_HIGH)}
    for name, values in zip(names, columns, strict=True):
        spec = formats.get(name, formats.get("*"))
        if name.endswith(CI_HIGH) and name[: -len(CI_HIGH)] + CI_LOW in names:
            continue
        if name.endswith(CI_LOW) and name[: -len(CI_LOW)] in merged:
            base = name[: -len(CI_LOW)]
            highs = columns[names.index(base + CI_HIGH)]
            spec = formats.get(base, formats.get("*"))
            header.append(labels.get(base + CI_SUFFIX, "95% CI"))
            cells.append([_interval(lo, hi, spec) for lo, hi in zip(values, highs, strict=True)])
            numeric.append(True)
            continue
        header.append(labels.get(name, name.replace("_", " ")))
        cells.append([text(v, spec) for v in values])
        numeric.append(all(is_number(v) or plain(v) is None for v in values) and bool(values))
    rows = [list(row) for row in zip(*cells, strict=True)] if cells else []
    return Shown(header=header, rows=rows, numeric=numeric)


def plain(value: Any) -> Any:
    """A cell as a plain Python value: numpy scalars unwrapped, NaN as None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def is_number(value: Any) -> bool:
    """Whether a cell is a number (booleans are not)."""
    value = plain(value)
    return isinstance(value, int | float) and not isinstance(value, bool)


def text(value: Any, spec: str | None = None) -> str:
    """A cell as text: ``spec`` for numbers when given, else `number`; NaN empty."""
    value = plain(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return format(value, spec) if spec else number(value)
    return str(value)


def number(value: float) -> str:
    """Integers whole (thousands separated from 10,000), others to four significant digits.

    No exponent between 0.0001 and 10,000; trailing zeros dropped (``1.5``, not ``1.500``).
    """
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        whole = int(value)
        return f"{whole:,}" if abs(whole) >= 10_000 else str(whole)
    magnitude = abs(value)
    if not math.isfinite(value):
        return str(value)
    if magnitude >= 10_000:
        return f"{value:,.0f}"
    if magnitude < 1e-4:
        return f"{value:.2e}"
    decimals = max(0, 3 - math.floor(math.log10(magnitude)))
    return f"{value:.{decimals}f}".rstrip("0").rstrip(".")


def _interval(low: Any, high: Any, spec: str | None) -> str:
    low, high = plain(low), plain(high)
    if low is None and high is None:
        return ""
    return f"{text(low, spec)}{DASH}{text(high, spec)}"


__all__ = ["Shown", "is_number", "number", "plain", "show", "text"]
