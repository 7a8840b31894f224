"""Ratios, tau_max, profiles and AUP on the hand-worked case (see hand_case.py)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from kubegym.errors import ConfigError
from kubegym.scoring import compute_aup, compute_ratios, compute_tau_max, make_tau_grid
from tests.unit.scoring.hand_case import table

# Best attempt, by hand.
# acc (max): feasible = baseline 0.5, A 0.8, D 0.8 (B 0.4 < 0.5, C missing).
#   best = 0.8, worst feasible = 0.5 → worst ratio = 0.8 / 0.5 = 1.6
#   ratios: A = D = 0.8/0.8 = 1, baseline = 1.6, B = C = 1.05 × 1.6 = 1.68
#   tau proposal = ceil(1.68) = 2
# loss (min): feasible = baseline 2.0, A 1.0, D 2.0 (B 4.0 > 2.0, C < 0).
#   best = 1.0, worst = 2.0 → worst ratio = 2.0 / 1.0 = 2
#   ratios: A = 1, baseline = D = 2, B = C = 1.05 × 2 = 2.1
#   tau proposal = ceil(2.1) = 3
# Best submission, by hand.
# acc (max): feasible = baseline 0.5, A 0.6 (B 0.45, D 0.2 worse; C missing).
#   worst ratio = 0.6 / 0.5 = 1.2; B = C = D = 1.05 × 1.2 = 1.26; proposal ceil(1.26) = 2
# loss (min): feasible = baseline 2.0, A 0.5, D 2.0 (B missing, C 3.0 worse).
#   worst ratio = 2.0 / 0.5 = 4; B = C = 1.05 × 4 = 4.2; proposal ceil(4.2) = 5
# tau_max = ceil(10 × log10(max(2, 3, 2, 5))) / 10 = ceil(6.9897) / 10 = 0.7


def test_best_attempt_ratios() -> None:
    ratios = compute_ratios(table(), "best_attempt")
    expected = pd.DataFrame(
        {
            "baseline": [1.6, 2.0],
            "A": [1.0, 1.0],
            "B": [1.68, 2.1],
            "C": [1.68, 2.1],
            "D": [1.0, 2.0],
        },
        index=pd.Index(["acc", "loss"], name="task"),
    )
    np.testing.assert_allclose(ratios.ratios[expected.columns].to_numpy(), expected.to_numpy())
    assert ratios.feasible.loc["acc"].tolist() == [True, True, False, False, True]
    assert ratios.feasible.loc["loss"].tolist() == [True, True, False, False, True]
    assert ratios.worst_ratio.tolist() == pytest.approx([1.6, 2.0])
    assert ratios.tau_cap.tolist() == [2.0, 3.0]


def test_best_submission_ratios() -> None:
    ratios = compute_ratios(table(), "best_submission")
    np.testing.assert_allclose(ratios.ratios.loc["acc"].to_numpy(), [1.2, 1.0, 1.26, 1.26, 1.26])
    np.testing.assert_allclose(ratios.ratios.loc["loss"].to_numpy(), [4.0, 1.0, 4.2, 4.2, 4.0])
    assert ratios.tau_cap.tolist() == [2.0, 5.0]


def test_tau_max_takes_the_largest_proposal_of_both_profiles() -> None:
    attempt = compute_ratios(table(), "best_attempt")
    submission = compute_ratios(table(), "best_submission")
    assert compute_tau_max(attempt) == 0.5  # ceil(10 × log10 3) / 10 = ceil(4.77) / 10
    assert compute_tau_max(attempt, submission) == 0.7


def test_grid_has_500_points_from_zero_to_tau_max() -> None:
    tau = make_tau_grid(0.7)
    assert len(tau) == 500
    assert tau[0] == 0.0
    assert tau[-1] == 0.7
    assert tau[1] == pytest.approx(0.7 / 499)


def test_profile_values_at_hand_picked_grid_points() -> None:
    # The step is h = 0.7 / 499 = 0.00140281. rho counts tasks with log10 r <= tau_i = i·h.
    # baseline: log10 1.6 = 0.20412 → counted from i = ceil(0.20412 / h) = ceil(145.51) = 146;
    #           log10 2 = 0.30103 → from i = ceil(214.59) = 215.
    # D: log10 1 = 0 → from i = 0; log10 2 → from i = 215.
    # B, C: log10 1.68 = 0.22531 → from i = ceil(160.62) = 161; log10 2.1 = 0.32222 → i = 230.
    result = compute_aup(table())
    profile = result.profiles["best_attempt"]
    assert profile["A"].iloc[0] == 1.0
    assert profile["D"].iloc[0] == 0.5
    assert profile["baseline"].iloc[0] == 0.0
    assert profile["baseline"].iloc[145] == 0.0
    assert profile["baseline"].iloc[146] == 0.5
    assert profile["baseline"].iloc[214] == 0.5
    assert profile["baseline"].iloc[215] == 1.0
    assert profile["B"].iloc[160] == 0.0
    assert profile["B"].iloc[161] == 0.5
    assert profile["B"].iloc[229] == 0.5
    assert profile["B"].iloc[230] == 1.0
    assert profile["C"].equals(profile["B"])


def test_aup_of_the_hand_case() -> None:
    # AUP = sum over i = 0..498 of h · rho(tau_i). A task whose ratio enters at index k adds
    # h · (499 − k) / 2 (2 tasks). So AUP = h/2 · Σ (499 − k) with h = 0.7 / 499:
    # best attempt
    #   A:        k = 0, 0          → h/2 · 998 = 0.7                      → 0.700
    #   D:        k = 0, 215        → h/2 · (499 + 284) = h · 391.5 = 0.54920 → 0.549
    #   baseline: k = 146, 215      → h/2 · (353 + 284) = h · 318.5 = 0.44679 → 0.447
    #   B, C:     k = 161, 230      → h/2 · (338 + 269) = h · 303.5 = 0.42575 → 0.426
    # best submission (log10 1.2 = 0.07918 → k = 57; log10 1.26 = 0.10037 → 72;
    #                  log10 4 = 0.60206 → 430; log10 4.2 = 0.62325 → 445)
    #   A:        k = 0, 0          → 0.7                                  → 0.700
    #   baseline: k = 57, 430       → h/2 · (442 + 69) = h · 255.5 = 0.35842 → 0.358
    #   D:        k = 72, 430       → h/2 · (427 + 69) = h · 248 = 0.34790   → 0.348
    #   B, C:     k = 72, 445       → h/2 · (427 + 54) = h · 240.5 = 0.33737 → 0.337
    result = compute_aup(table())
    assert result.tau_max == 0.7
    assert result.aup["best_attempt"].to_dict() == {
        "baseline": 0.447,
        "A": 0.7,
        "B": 0.426,
        "C": 0.426,
        "D": 0.549,
    }
    assert result.aup["best_submission"].to_dict() == {
        "baseline": 0.358,
        "A": 0.7,
        "B": 0.337,
        "C": 0.337,
        "D": 0.348,
    }
    h = 0.7 / 499
    unrounded = compute_aup(table(), decimals=None).aup
    assert unrounded.loc["D", "best_attempt"] == pytest.approx(h * 391.5, abs=1e-12)
    assert unrounded.loc["baseline", "best_submission"] == pytest.approx(h * 255.5, abs=1e-12)


def test_a_method_missing_from_a_task_counts_as_missing() -> None:
    # Dropping C's rows changes nothing: C had no feasible score on either task anyway.
    without_c_acc = table()[~((table()["method"] == "C") & (table()["task"] == "acc"))]
    result = compute_aup(without_c_acc)
    assert result.aup.loc["C", "best_attempt"] == 0.426


def test_no_feasible_score_is_an_error() -> None:
    frame = pd.DataFrame(
        [("t", "max", "baseline", -1.0, -1.0), ("t", "max", "A", -2.0, -2.0)],
        columns=["task", "direction", "method", "best_attempt", "best_submission"],
    )
    with pytest.raises(ConfigError, match="task 't' has no feasible score"):
        compute_aup(frame)


def test_a_feasible_zero_is_an_error() -> None:
    frame = pd.DataFrame(
        [
            ("t", "max", "baseline", -0.2, -0.2),
            ("t", "max", "A", 0.0, 0.0),
            ("t", "max", "B", 1, 1),
        ],
        columns=["task", "direction", "method", "best_attempt", "best_submission"],
    )
    with pytest.raises(ConfigError, match="feasible score of 0"):
        compute_aup(frame)


def test_two_rows_for_one_task_and_method_are_refused() -> None:
    frame = pd.concat([table(), table().iloc[[1]]])
    with pytest.raises(ConfigError, match="a second row for task 'acc' and method 'A'"):
        compute_ratios(frame)


def test_missing_baseline_score_constrains_nothing() -> None:
    # MLGym compares with NaN, which is always False: every non-negative score is feasible.
    frame = pd.DataFrame(
        [
            ("t", "max", "baseline", math.nan, math.nan),
            ("t", "max", "A", 2.0, 2.0),
            ("t", "max", "B", 1.0, 1.0),
        ],
        columns=["task", "direction", "method", "best_attempt", "best_submission"],
    )
    ratios = compute_ratios(frame)
    # worst ratio = 2 / 1 = 2 → the missing baseline gets 2.1
    assert ratios.ratios.loc["t"].tolist() == pytest.approx([2.1, 1.0, 2.0])
