"""What the tests of every repeated game check (the task_images/families/repeated-games family).

Each check takes the task's name: its split files are reproducible and their seeds
differ, its baseline lands near MLGym's number, a broken strategy is an eval_error
with the reason, and the starter's partner plays as the evaluator's does. Modules are
loaded from the task's files as the evaluator sees them (the task's folder laid over
the family's), so a game's evaluate.py finds the family's repeated_game.py beside it.
"""

from __future__ import annotations

import importlib.util
import json
import random
import sys
from pathlib import Path
from types import ModuleType

from tests.tasks.conftest import assert_reproducible, baseline, bundle, prepared, score_file

#: Broken strategies of a game whose moves are 0 or 1, with what the error must say.
BINARY_BROKEN = {
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


def load(task: str, relative: str, name: str) -> ModuleType:
    """The module at ``relative`` in the task's files, loaded under ``name``."""
    root = bundle(task).root
    spec = importlib.util.spec_from_file_location(name, root / relative)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(Path(root / relative).parent))  # as when it runs as a script
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(Path(root / relative).parent))
    return module


def assert_schedules(task: str) -> None:
    """The split files are reproducible; the seeds differ; MLGym's counts."""
    root = assert_reproducible(task)
    validation = json.loads((root / "hidden/validation.json").read_text())
    test = json.loads((root / "hidden/test.json").read_text())
    assert validation["seed"] != test["seed"]
    assert validation["games"] == test["games"] == 10000 and test["rounds"] == 10


def assert_the_partner_plays_like_the_evaluators(task: str) -> None:
    """On random 0-or-1 histories, the starter's partner and the evaluator's make the same moves."""
    evaluator = load(task, "evaluate.py", f"{task}_evaluate")
    target = load(task, "starter/target.py", f"{task}_target")
    histories = random.Random(1)
    for seed in range(20):
        history = [(histories.randint(0, 1), histories.randint(0, 1)) for _ in range(seed % 10)]
        random.seed(seed)
        theirs = [target.column_strategy(history) for _ in range(50)]
        rng = random.Random(seed)
        ours = [evaluator.column_move(history, rng) for _ in range(50)]
        assert theirs == ours


def assert_the_baseline_scores_near(task: str, budget: float, mlgym: float, within: float) -> None:
    results = baseline(task, budget=budget)
    assert results.exit_reason == "submitted", results.message
    assert results.score is not None
    assert abs(results.score - mlgym) < within, results.score


def assert_a_broken_strategy_is_an_eval_error(
    task: str, source: str, reason: str, tmp_path: Path
) -> None:
    strategy = tmp_path / "strategy.py"
    strategy.write_text(source)
    prepared(task)
    scoring = score_file(task, strategy, "validation")
    assert scoring.metrics is None
    assert scoring.error is not None and reason in scoring.error, scoring.error
