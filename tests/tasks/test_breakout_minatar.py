"""The breakout-minatar task: valid, reproducibly prepared, its PPO baseline scored, bad
checkpoints refused.

MLGym's baseline (48.82) trains 5 seeds for 10M steps each: hours on a CPU. The
CI budget (0.001) trains one PPO update per seed (64 environments x 128 steps)
and evaluates 8 environments per seed over 999 steps. Such a policy still moves
the paddle at random and breaks a brick in about a third of the games (an
untrained network scores 0.38). The range catches a rollout that never
counts a brick (0) and a reward sum that runs on past the end of the episode.
"""

from __future__ import annotations

from pathlib import Path

from tests.tasks import family_gymnax as gymnax

TASK = "breakout-minatar"
CI_BUDGET = 0.001


def test_preparation_is_reproducible_and_the_splits_differ() -> None:
    gymnax.assert_protocols(TASK, horizon=999)


def test_the_baseline_trains_and_scores_in_range() -> None:
    score = gymnax.baseline_score(TASK, CI_BUDGET)
    assert 0.05 < score < 3.0, score


def test_a_broken_checkpoint_is_an_eval_error(tmp_path: Path) -> None:
    gymnax.assert_a_broken_checkpoint_is_an_eval_error(TASK, tmp_path)


def test_too_few_checkpoints_is_an_eval_error(tmp_path: Path) -> None:
    gymnax.assert_too_few_checkpoints_is_an_eval_error(TASK, tmp_path)
