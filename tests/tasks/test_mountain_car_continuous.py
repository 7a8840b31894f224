"""The mountain-car-continuous task: valid, reproducibly prepared, its PPO baseline scored, bad
checkpoints refused.

MLGym's baseline (33.79) trains 5 seeds for 20M steps each: hours on a CPU. The
CI budget (0.001) trains one short PPO update per seed (256 environments x 78
steps) and evaluates 8 environments per seed over 200 steps. Such a policy
still acts at random with a standard deviation near 0.7 and never reaches the
goal: it pays the action cost, about -0.1 * E[a^2] * 200 = -10 (an untrained
network scores -11.2, one update -10.7). The range catches a policy stuck at
full force (-20), a zero or unsummed reward (0), and a goal bonus counted
wrongly (+100).
"""

from __future__ import annotations

from pathlib import Path

from tests.tasks import family_gymnax as gymnax

TASK = "mountain-car-continuous"
CI_BUDGET = 0.001


def test_preparation_is_reproducible_and_the_splits_differ() -> None:
    gymnax.assert_protocols(TASK, horizon=200)


def test_the_baseline_trains_and_scores_in_range() -> None:
    score = gymnax.baseline_score(TASK, CI_BUDGET)
    assert -14.0 < score < -7.0, score


def test_a_broken_checkpoint_is_an_eval_error(tmp_path: Path) -> None:
    gymnax.assert_a_broken_checkpoint_is_an_eval_error(TASK, tmp_path)


def test_too_few_checkpoints_is_an_eval_error(tmp_path: Path) -> None:
    gymnax.assert_too_few_checkpoints_is_an_eval_error(TASK, tmp_path)
