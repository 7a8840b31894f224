"""The best-submission rules: kubegym's final valid submit, or MLGym's last score entry."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from kubegym.api import trials
from kubegym.errors import ConfigError
from kubegym.scoring import FINAL_SUBMIT, LAST_SCORE, REFERENCE, compute_leaderboard, last_score
from kubegym.scoring.leaderboard import (
    LAST_SCORE_COLUMN,
    REFERENCE_COLUMNS,
    TRIAL_COLUMNS,
    tidy_trials,
)


def validate(test: float | None, *, error: str | None = None) -> trials.Score:
    return trials.Score(
        step=1,
        action="validate",
        metrics=None if error else {"acc": 0.1},
        test_metrics=None if test is None else {"acc": test},
        error=error,
    )


def submit(test: float | None, *, error: str | None = None) -> trials.Score:
    metrics = None if test is None else {"acc": test}
    return trials.Score(step=9, action="submit", metrics=metrics, test_metrics=metrics, error=error)


def test_the_last_score_is_the_last_entry_even_a_validate() -> None:
    assert last_score([validate(0.9), validate(0.4)], "acc") == 0.4  # not the best: the last
    assert last_score([validate(0.9), submit(0.7)], "acc") == 0.7


def test_scorings_that_failed_are_not_entries() -> None:
    # MLGym's list grows only on evaluations that succeeded: a refused validate or a submit
    # without an artifact leaves the earlier validate the last entry.
    refused = validate(0.99, error="Validation refused: this trial allows 1 validate call(s)")
    assert last_score([validate(0.6), refused, submit(None, error="no artifact")], "acc") == 0.6


def test_no_valid_scoring_or_no_test_score_for_the_metric_is_no_score() -> None:
    assert last_score([], "acc") is None
    assert last_score([submit(None, error="no artifact")], "acc") is None
    # The last valid entry lacks the metric: no score, and no falling back to an earlier one.
    assert last_score([validate(0.8), validate(None)], "acc") is None
    assert last_score([validate(0.8)], "loss") is None


REFERENCES = pd.DataFrame([("acc", "max", 0.5)], columns=REFERENCE_COLUMNS)


def rows(*trial_rows: tuple[object, ...]) -> pd.DataFrame:
    return pd.DataFrame(list(trial_rows), columns=[*TRIAL_COLUMNS, LAST_SCORE_COLUMN])


def test_a_validate_ending_a_trial_counts_under_last_score_and_not_under_final_submit() -> None:
    # A validated 0.9 and never submitted validly (the agent's failure): MLGym's tables
    # count 0.9 as its submission, kubegym's rule counts nothing.
    finished = rows(
        ("acc", "max", "A", 0, 0.9, None, "agent", 0.9),
        ("acc", "max", "B", 0, 0.7, 0.7, None, 0.7),
    )
    kubegym = compute_leaderboard(tidy_trials(REFERENCES, finished), best_submission=FINAL_SUBMIT)
    mlgym = compute_leaderboard(tidy_trials(REFERENCES, finished), best_submission=LAST_SCORE)
    assert kubegym.table is not None and mlgym.table is not None
    by_method = {m: row for m, row in kubegym.table.set_index("method").iterrows()}
    assert math.isnan(by_method["A"]["best_submission"])
    assert by_method["A"]["best_attempt"] == 0.9
    assert mlgym.table.set_index("method").loc["A", "best_submission"] == 0.9
    # The reference and the other agent are the same under both rules.
    for method in (REFERENCE, "B"):
        assert (
            mlgym.table.set_index("method").loc[method, "best_submission"]
            == kubegym.table.set_index("method").loc[method, "best_submission"]
        )
    assert kubegym.to_json("r")["scope"]["best_submission"] == FINAL_SUBMIT
    assert mlgym.to_json("r")["scope"]["best_submission"] == LAST_SCORE
    assert kubegym.to_json("r")["agents"]["A"] != mlgym.to_json("r")["agents"]["A"]


def test_the_rule_defaults_to_kubegyms_and_an_unknown_rule_is_refused() -> None:
    finished = rows(("acc", "max", "A", 0, 0.9, None, "agent", 0.9))
    board = compute_leaderboard(tidy_trials(REFERENCES, finished))
    assert board.scope is not None and board.scope.best_submission == FINAL_SUBMIT
    with pytest.raises(ConfigError, match="unknown best-submission rule 'best-ever'"):
        compute_leaderboard(tidy_trials(REFERENCES, finished), best_submission="best-ever")


def test_mlgyms_rule_needs_the_last_scores() -> None:
    # Rows without the column cannot be scored under MLGym's rule: an error, not silent NaNs.
    finished = pd.DataFrame([("acc", "max", "A", 0, 0.9, 0.8, None)], columns=TRIAL_COLUMNS)
    with pytest.raises(ConfigError, match="'last_score' column is missing"):
        compute_leaderboard(tidy_trials(REFERENCES, finished), best_submission=LAST_SCORE)
