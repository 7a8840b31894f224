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

import json
import pickle
import shutil
from pathlib import Path

from tests.tasks.conftest import TASK_IMAGES, assert_reproducible, baseline, score_file

TASK = "breakout-minatar"
FOLDER = TASK_IMAGES / TASK
CI_BUDGET = 0.001


def test_preparation_is_reproducible_and_the_splits_differ() -> None:
    root = assert_reproducible(TASK)
    validation = json.loads((root / "hidden/validation_seeds.json").read_text())
    test = json.loads((root / "hidden/test_seeds.json").read_text())
    assert not set(validation["seeds"]) & set(test["seeds"])
    assert test["seeds"] == [0, 1, 2, 3, 4]  # MLGym's evaluation seeds
    assert test["num_envs"] == 256 and test["horizon"] == 999


def test_the_baseline_trains_and_scores_in_range() -> None:
    results = baseline(TASK, budget=CI_BUDGET)
    assert results.exit_reason == "submitted", results.message
    assert results.score is not None
    print(f"{TASK} baseline at budget {CI_BUDGET}: {results.score}")
    assert 0.05 < results.score < 3.0, results.score


def test_a_broken_checkpoint_is_an_eval_error(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    shutil.copyfile(FOLDER / "starter/src/config.yaml", folder / "config.yaml")
    for i in range(5):
        (folder / f"config-42-{i}.pkl").write_bytes(pickle.dumps({"network": {"params": {}}}))
    (folder / "config-42-0.pkl").write_bytes(b"not a pickle")
    scoring = score_file(TASK, folder)
    assert scoring.error is not None
    assert "config-42-0.pkl is not a readable pickle" in scoring.error


def test_too_few_checkpoints_is_an_eval_error(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    shutil.copyfile(FOLDER / "starter/src/config.yaml", folder / "config.yaml")
    (folder / "config-42-0.pkl").write_bytes(pickle.dumps({"network": {}}))
    scoring = score_file(TASK, folder)
    assert scoring.error is not None
    assert "expected 5 checkpoint files" in scoring.error
