"""The prisoners-dilemma task: valid, reproducibly prepared, its baseline near MLGym's, bad strategies refused.

MLGym's baseline is 2.3716 over 10,000 games of 10 rounds (one unseeded run).
The CI budget plays 1,000 games (standard error about 0.016) with the test
split's fixed seed, so the score is the same on every run; the range allows
MLGym's number about ±4.5 standard errors.
"""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path
from types import ModuleType

import pytest

from tests.tasks.conftest import (
    TASK_IMAGES,
    assert_reproducible,
    baseline,
    prepared,
    score_file,
)

TASK = "prisoners-dilemma"
FOLDER = TASK_IMAGES / TASK
CI_BUDGET = 0.1
MLGYM_BASELINE = 2.3716


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_preparation_is_reproducible_and_the_splits_differ() -> None:
    root = assert_reproducible(TASK)
    validation = json.loads((root / "hidden/validation.json").read_text())
    test = json.loads((root / "hidden/test.json").read_text())
    assert validation["seed"] != test["seed"]
    assert validation["games"] == test["games"] == 10000 and test["rounds"] == 10


def test_the_starter_partner_plays_like_the_evaluators() -> None:
    evaluator = _load(FOLDER / "evaluate.py", "pd_evaluate")
    target = _load(FOLDER / "starter" / "target.py", "pd_target")
    histories = random.Random(1)
    for seed in range(20):
        history = [(histories.randint(0, 1), histories.randint(0, 1)) for _ in range(seed % 10)]
        random.seed(seed)
        theirs = [target.column_strategy(history) for _ in range(50)]
        rng = random.Random(seed)
        ours = [evaluator.column_move(history, rng) for _ in range(50)]
        assert theirs == ours


def test_the_baseline_scores_near_mlgyms() -> None:
    results = baseline(TASK, budget=CI_BUDGET)
    assert results.exit_reason == "submitted", results.message
    assert results.score is not None
    assert abs(results.score - MLGYM_BASELINE) < 0.07, results.score


BROKEN = {
    "syntax": ("def row_strategy(history)\n    return 0\n", "SyntaxError"),
    "invalid-move": ("def row_strategy(history):\n    return 2\n", "returned 2"),
    "float-move": ("def row_strategy(history):\n    return 1.0\n", "must be the integer 0 or 1"),
    "raises": (
        "def row_strategy(history):\n    if len(history) == 3:\n"
        "        raise RuntimeError('boom')\n    return 0\n",
        "RuntimeError: boom",
    ),
    "renamed": ("def my_strategy(history):\n    return 0\n", "no function row_strategy"),
    "too-slow": (
        "import time\n\ndef row_strategy(history):\n    time.sleep(30)\n",
        "longer than 2 s",
    ),
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_a_broken_strategy_is_an_eval_error_with_the_reason(kind: str, tmp_path: Path) -> None:
    source, reason = BROKEN[kind]
    strategy = tmp_path / "strategy.py"
    strategy.write_text(source)
    prepared(TASK)
    scoring = score_file(TASK, strategy, "validation")
    assert scoring.metrics is None
    assert scoring.error is not None and reason in scoring.error, scoring.error
