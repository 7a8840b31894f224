"""The metamaze task: valid, reproducibly prepared, its PPO baseline scored, bad checkpoints refused.

MLGym's baseline (15.73) trains 5 seeds for 10M steps each: hours on a CPU. The
CI budget (0.002) trains 9 PPO updates per seed and evaluates 8 environments per
seed, so the policy is still close to random: an untrained network scores about
2 (a random walk that stumbles on the goal now and then). The range catches a
pipeline that never reaches the goal (0) or a broken reward sum (above 10 per
episode would need the goal found in nearly every episode).
"""

from __future__ import annotations

from pathlib import Path

from tests.tasks import family_gymnax as gymnax

TASK = "metamaze"
CI_BUDGET = 0.002


def test_preparation_is_reproducible_and_the_splits_differ() -> None:
    gymnax.assert_protocols(TASK, horizon=199)


def test_the_baseline_trains_and_scores_in_range() -> None:
    score = gymnax.baseline_score(TASK, CI_BUDGET)
    assert 0.2 < score < 8.0, score


def test_a_broken_checkpoint_is_an_eval_error(tmp_path: Path) -> None:
    gymnax.assert_a_broken_checkpoint_is_an_eval_error(TASK, tmp_path)


def test_too_few_checkpoints_is_an_eval_error(tmp_path: Path) -> None:
    gymnax.assert_too_few_checkpoints_is_an_eval_error(TASK, tmp_path)
