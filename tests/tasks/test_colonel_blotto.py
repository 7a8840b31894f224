"""The colonel-blotto task: valid, reproducibly prepared, its baseline near MLGym's, bad strategies refused.

MLGym's baseline is -0.2480 over 10,000 simulations of 10 rounds (one unseeded
run). The CI budget plays 1,000 simulations (standard error about 0.007) with
the test split's fixed seed, so the score is the same on every run; the range
allows MLGym's number about ±5 standard errors.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path

import pytest

from kubegym.evaluator import jails
from kubegym.tasks import datasets, venvs
from tests.tasks import family_games as games
from tests.tasks.conftest import prepared

TASK = "colonel-blotto"
CI_BUDGET = 0.1
MLGYM_BASELINE = -0.2480


def test_preparation_is_reproducible_and_the_splits_differ() -> None:
    games.assert_schedules(TASK)


def test_the_starter_partner_plays_like_the_evaluators() -> None:
    evaluator = games.load(TASK, "evaluate.py", "blotto_evaluate")
    target = games.load(TASK, "starter/target.py", "blotto_target")
    for seed in range(20):
        random.seed(seed)
        theirs = [target.column_strategy([]) for _ in range(50)]
        rng = random.Random(seed)
        ours = [evaluator.column_move([], rng) for _ in range(50)]
        assert theirs == ours
        assert all(sum(a) == 120 and min(a) >= 0 and len(a) == 6 for a in ours)


def test_the_payoff_follows_mlgyms_example() -> None:
    evaluator = games.load(TASK, "evaluate.py", "blotto_evaluate")
    assert evaluator.row_payoff([20, 20, 20, 20, 30, 10], [40, 40, 20, 10, 5, 5]) == 1
    assert evaluator.row_payoff([40, 40, 20, 10, 5, 5], [20, 20, 20, 20, 30, 10]) == -1
    assert evaluator.row_payoff([20] * 6, [20] * 6) == 0


def test_the_baseline_scores_near_mlgyms() -> None:
    games.assert_the_baseline_scores_near(TASK, CI_BUDGET, MLGYM_BASELINE, within=0.035)


BROKEN = {
    "syntax": ("def row_strategy(history)\n    return [20] * 6\n", "SyntaxError"),
    "too-many-soldiers": (
        "def row_strategy(history):\n    return [60, 50, 40, 0, 0, 0]\n",
        "sum to at most 120",
    ),
    "negative": (
        "def row_strategy(history):\n    return [-10, 50, 20, 20, 20, 20]\n",
        "non-negative",
    ),
    "five-fields": ("def row_strategy(history):\n    return [24] * 5\n", "returned 5 numbers"),
    "not-integers": ("def row_strategy(history):\n    return [20.0] * 6\n", "not an integer"),
    "raises": (
        "def row_strategy(history):\n    if len(history) == 3:\n"
        "        raise RuntimeError('boom')\n    return [20] * 6\n",
        "RuntimeError: boom",
    ),
    "renamed": ("def my_strategy(history):\n    return [20] * 6\n", "no function row_strategy"),
    "too-slow": (
        "import time\n\ndef row_strategy(history):\n    time.sleep(30)\n",
        "longer than 2 s",
    ),
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_a_broken_strategy_is_an_eval_error_with_the_reason(kind: str, tmp_path: Path) -> None:
    source, reason = BROKEN[kind]
    games.assert_a_broken_strategy_is_an_eval_error(TASK, source, reason, tmp_path)


def test_a_numpy_allocation_is_accepted(tmp_path: Path) -> None:
    strategy = tmp_path / "strategy.py"
    strategy.write_text(
        "import numpy as np\n\ndef row_strategy(history):\n    return np.full(6, 20)\n"
    )
    task = prepared(TASK)
    spec = task.task.spec
    python = venvs.python(venvs.ensure(spec.environment.requirements))
    schedule = datasets.materialize(task, spec.validation_data[0])
    evaluate = str(task.resolve(spec.evaluation.script))
    argv = [str(python), evaluate, "--submission", str(strategy), "--split", "validation"]
    result = subprocess.run(
        [*argv, "--data", f"schedule={schedule}"],
        # Run by hand, as the scorer would (its kit on PYTHONPATH, without the jail).
        env={
            "PATH": os.environ.get("PATH", ""),
            "KUBEGYM_BUDGET": "0.01",
            "PYTHONPATH": str(jails.KIT_DIR),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout.splitlines()[-1])
    assert metrics["games"] == 100 and -1.0 <= metrics["Score"] <= 1.0
