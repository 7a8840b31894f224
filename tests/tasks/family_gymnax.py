"""What the tests of every gymnax task check (the task_images/families/gymnax family).

Each check takes the task's name: its protocol files are reproducible and the splits
differ, its PPO baseline trains and is scored, and a broken or incomplete checkpoint
folder is an eval_error with the reason. The task's own test file says its budget and
the range its baseline must land in.
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

from tests.tasks.conftest import TASK_IMAGES, assert_reproducible, baseline, score_file


def assert_protocols(task: str, horizon: int) -> None:
    """The protocol files are reproducible; validation and test seeds differ; the test split is MLGym's."""
    root = assert_reproducible(task)
    validation = json.loads((root / "hidden/validation_seeds.json").read_text())
    test = json.loads((root / "hidden/test_seeds.json").read_text())
    assert not set(validation["seeds"]) & set(test["seeds"])
    assert test["seeds"] == [0, 1, 2, 3, 4]  # MLGym's evaluation seeds
    assert test["num_envs"] == 256 and test["horizon"] == horizon


def baseline_score(task: str, budget: float) -> float:
    """The score of the task's baseline, trained and submitted at ``budget``."""
    results = baseline(task, budget=budget)
    assert results.exit_reason == "submitted", results.message
    assert results.score is not None
    print(f"{task} baseline at budget {budget}: {results.score}")
    return results.score


def _checkpoints(task: str, tmp_path: Path) -> Path:
    """An empty checkpoints/ folder with the task's starter config.yaml in it."""
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    shutil.copyfile(TASK_IMAGES / task / "starter/src/config.yaml", folder / "config.yaml")
    return folder


def assert_a_broken_checkpoint_is_an_eval_error(task: str, tmp_path: Path) -> None:
    folder = _checkpoints(task, tmp_path)
    for i in range(5):
        (folder / f"config-42-{i}.pkl").write_bytes(pickle.dumps({"network": {"params": {}}}))
    (folder / "config-42-0.pkl").write_bytes(b"not a pickle")
    scoring = score_file(task, folder)
    assert scoring.error is not None
    assert "config-42-0.pkl is not a readable pickle" in scoring.error


def assert_too_few_checkpoints_is_an_eval_error(task: str, tmp_path: Path) -> None:
    folder = _checkpoints(task, tmp_path)
    (folder / "config-42-0.pkl").write_bytes(pickle.dumps({"network": {}}))
    scoring = score_file(task, folder)
    assert scoring.error is not None
    assert "expected 5 checkpoint files" in scoring.error
