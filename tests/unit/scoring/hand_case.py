"""The small score table the scoring tests work out by hand (shared by several test files).

Two tasks, five methods (the baseline, A, B, C, D):

    task  dir  method    best_attempt  best_submission
    acc   max  baseline  0.5           0.5
    acc   max  A         0.8           0.6
    acc   max  B         0.4   (worse than the baseline: infeasible)   0.45 (worse)
    acc   max  C         —     (missing)                               —    (missing)
    acc   max  D         0.8   (equal to the best)                     0.2  (worse)
    loss  min  baseline  2.0           2.0
    loss  min  A         1.0           0.5
    loss  min  B         4.0   (worse than the baseline)               —    (missing)
    loss  min  C         -1.0  (negative: infeasible)                  3.0  (worse)
    loss  min  D         2.0   (equal to the baseline: feasible)       2.0  (equal)
"""

from __future__ import annotations

import pandas as pd

COLUMNS = ["task", "direction", "method", "best_attempt", "best_submission"]
ROWS = [
    ("acc", "max", "baseline", 0.5, 0.5),
    ("acc", "max", "A", 0.8, 0.6),
    ("acc", "max", "B", 0.4, 0.45),
    ("acc", "max", "C", None, None),
    ("acc", "max", "D", 0.8, 0.2),
    ("loss", "min", "baseline", 2.0, 2.0),
    ("loss", "min", "A", 1.0, 0.5),
    ("loss", "min", "B", 4.0, None),
    ("loss", "min", "C", -1.0, 3.0),
    ("loss", "min", "D", 2.0, 2.0),
]

CSV = "task,direction,method,best_attempt,best_submission\n" + "\n".join(
    ",".join("" if v is None else str(v) for v in row) for row in ROWS
)


def table() -> pd.DataFrame:
    """The hand case as a DataFrame (None → NaN)."""
    return pd.DataFrame(ROWS, columns=COLUMNS)
