"""The run leaderboard the runner writes and `kubegym report` recomputes: one computation."""

from __future__ import annotations

import pandas as pd

from kubegym.scoring import REFERENCE, compute_leaderboard, tidy_trials
from kubegym.scoring.leaderboard import REFERENCE_COLUMNS, TRIAL_COLUMNS

REFERENCES = pd.DataFrame([("acc", "max", 0.5), ("loss", "min", 2.0)], columns=REFERENCE_COLUMNS)


def trials(*rows: tuple[object, ...]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=TRIAL_COLUMNS)


def test_reference_rows_come_first_and_infra_failures_are_left_out() -> None:
    rows = tidy_trials(
        REFERENCES,
        trials(
            ("acc", "max", "A", 0, 0.9, 0.8, None),
            ("acc", "max", "A", 1, None, None, "infra"),
            ("loss", "min", "A", 0, 1.0, 1.5, "agent"),
        ),
    )
    assert rows["method"].tolist() == [REFERENCE, REFERENCE, "A", "A"]
    assert rows["seed"].tolist() == [0, 0, 0, 0]
    assert rows["best_submission"].tolist() == [0.5, 2.0, 0.8, 1.5]


def test_a_run_with_no_agent_scores_has_an_empty_leaderboard() -> None:
    board = compute_leaderboard(tidy_trials(REFERENCES, trials()))
    assert board.result is None and board.error is None
    assert board.to_json("r") == {
        "run": "r",
        "reference": REFERENCE,
        "tau_max": None,
        "scope": {
            "methods": [REFERENCE],
            "tasks": ["acc", "loss"],
            "reference": REFERENCE,
            "best_submission": "final-submit",
            "tau_max": None,
            "profile": None,
            "designs": None,
        },
        "agents": {},
    }


def test_scores_that_break_the_profiles_give_an_error_not_a_crash() -> None:
    # a feasible score of 0 on a maximised task makes its ratios undefined
    zero = pd.DataFrame([("acc", "max", 0.0)], columns=REFERENCE_COLUMNS)
    board = compute_leaderboard(tidy_trials(zero, trials(("acc", "max", "A", 0, 0.0, 0.0, None))))
    assert board.result is None
    assert "feasible score of 0" in str(board.to_json("r")["error"])


def test_the_json_holds_aup_cis_and_per_task_bests() -> None:
    board = compute_leaderboard(
        tidy_trials(
            REFERENCES,
            trials(
                ("acc", "max", "A", 0, 0.9, 0.8, None),
                ("acc", "max", "A", 1, 0.7, 0.7, None),
                ("loss", "min", "A", 0, 1.0, 1.5, None),
            ),
        )
    ).to_json("r")
    assert list(board["agents"]) == [REFERENCE, "A"]
    assert set(board["agents"]["A"]) == {
        "best_attempt",
        "best_attempt_ci",
        "best_submission",
        "best_submission_ci",
    }
    assert board["tasks"]["acc"]["A"] == {"best_attempt": 0.9, "best_submission": 0.8}
    assert board["tasks"]["loss"][REFERENCE] == {"best_attempt": 2.0, "best_submission": 2.0}
