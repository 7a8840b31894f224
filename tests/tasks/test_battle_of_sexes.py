"""The battle-of-sexes task: valid, reproducibly prepared, its baseline near MLGym's, bad strategies refused.

MLGym's baseline is 1.0227 over 10,000 games of 10 rounds (one unseeded run).
The CI budget plays 1,000 games (standard error about 0.011) with the test
split's fixed seed, so the score is the same on every run; the range allows
MLGym's number about ±4.5 standard errors.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tasks import family_games as games

TASK = "battle-of-sexes"
CI_BUDGET = 0.1
MLGYM_BASELINE = 1.0227


def test_preparation_is_reproducible_and_the_splits_differ() -> None:
    games.assert_schedules(TASK)


def test_the_starter_partner_plays_like_the_evaluators() -> None:
    games.assert_the_partner_plays_like_the_evaluators(TASK)


def test_the_baseline_scores_near_mlgyms() -> None:
    games.assert_the_baseline_scores_near(TASK, CI_BUDGET, MLGYM_BASELINE, within=0.05)


@pytest.mark.parametrize("kind", sorted(games.BINARY_BROKEN))
def test_a_broken_strategy_is_an_eval_error_with_the_reason(kind: str, tmp_path: Path) -> None:
    source, reason = games.BINARY_BROKEN[kind]
    games.assert_a_broken_strategy_is_an_eval_error(TASK, source, reason, tmp_path)
