"""Validation, seed folding and the CSV loader."""

from __future__ import annotations

import io
import math

import pandas as pd
import pytest

from kubegym.errors import ConfigError
from kubegym.scoring import best_over_seeds, normalize_direction, read_scores_csv, validate_scores
from tests.unit.scoring.hand_case import CSV, table

TRIALS = pd.DataFrame(
    [
        # task, direction, method, seed, best_attempt, best_submission
        ("acc", "maximize", "baseline", 0, 0.5, 0.5),
        ("acc", "maximize", "A", 0, 0.3, 0.2),
        ("acc", "maximize", "A", 1, math.nan, math.nan),  # a seed without a valid score
        ("acc", "maximize", "A", 2, 0.7, 0.6),
        ("loss", "minimize", "baseline", 0, 2.0, 2.0),
        ("loss", "minimize", "A", 0, 3.0, 3.5),
        ("loss", "minimize", "A", 1, 1.5, 2.5),
        ("loss", "minimize", "B", 0, math.nan, math.nan),
    ],
    columns=["task", "direction", "method", "seed", "best_attempt", "best_submission"],
)


def test_best_over_seeds_is_direction_aware_and_skips_missing_seeds() -> None:
    folded = best_over_seeds(TRIALS)
    assert list(folded.columns) == [
        "task",
        "direction",
        "method",
        "best_attempt",
        "best_submission",
    ]
    rows = {(r.task, r.method): (r.best_attempt, r.best_submission) for r in folded.itertuples()}
    assert rows[("acc", "A")] == (0.7, 0.6)  # max of 0.3, 0.7 and of 0.2, 0.6
    assert rows[("loss", "A")] == (1.5, 2.5)  # min of 3.0, 1.5 and of 3.5, 2.5
    assert all(math.isnan(v) for v in rows[("loss", "B")])  # no valid seed
    assert set(folded["direction"]) == {"max", "min"}


def test_one_row_per_task_and_method_passes_through() -> None:
    folded = best_over_seeds(table())
    pd.testing.assert_frame_equal(
        folded.reset_index(drop=True), validate_scores(table()).reset_index(drop=True)
    )


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [("max", "max"), ("Maximize", "max"), ("min", "min"), (" minimize ", "min")],
)
def test_directions(spelling: str, expected: str) -> None:
    assert normalize_direction(spelling) == expected


def test_unknown_direction_names_the_row() -> None:
    frame = table()
    frame.loc[3, "direction"] = "up"
    with pytest.raises(ConfigError, match=r"direction: row 3: unknown direction 'up'"):
        validate_scores(frame)


def test_directions_of_a_task_must_agree() -> None:
    frame = table()
    frame.loc[2, "direction"] = "min"
    with pytest.raises(ConfigError, match="task 'acc' has rows with different directions"):
        validate_scores(frame)


def test_missing_column() -> None:
    with pytest.raises(ConfigError, match="best_submission: missing column"):
        validate_scores(table().drop(columns=["best_submission"]))


def test_every_task_needs_a_baseline_row() -> None:
    with pytest.raises(ConfigError, match="task 'acc' has no row for the baseline method 'ref'"):
        validate_scores(table(), baseline="ref")


def test_text_scores_are_parsed_and_bad_ones_named() -> None:
    frame = read_scores_csv(io.StringIO(CSV.replace("0.45", "oops")))
    with pytest.raises(ConfigError, match=r"best_submission: row 4: 'oops' is not a number"):
        validate_scores(frame)


def test_loader_numbers_rows_by_line_and_keeps_empty_cells() -> None:
    frame = read_scores_csv(io.StringIO(CSV))
    assert list(frame.index) == list(range(2, 12))
    assert frame.loc[5, "best_attempt"] == ""  # C on acc
    clean = validate_scores(frame)
    assert math.isnan(clean.loc[5, "best_attempt"])
    assert clean.loc[10, "best_attempt"] == -1.0


def test_loader_reads_full_precision_exactly() -> None:
    text = (
        "task,direction,method,best_attempt,best_submission\nt,max,baseline,0.8799891474739243,1\n"
    )
    clean = validate_scores(read_scores_csv(io.StringIO(text)))
    assert clean.loc[2, "best_attempt"] == 0.8799891474739243


def test_loader_rejects_an_empty_file() -> None:
    with pytest.raises(ConfigError, match="is empty"):
        read_scores_csv(io.StringIO(""))


def test_infinite_scores_are_refused() -> None:
    frame = table()
    frame.loc[1, "best_attempt"] = math.inf
    with pytest.raises(ConfigError, match="row 1: scores must be finite"):
        validate_scores(frame)
