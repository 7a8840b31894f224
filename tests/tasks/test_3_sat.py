"""The 3-sat task: valid, reproducibly prepared, its baseline exact in decisions, bad heuristics refused.

Solving time is noisy (and this machine is shared), so the baseline's test
pins the deterministic decision count exactly and gives `Time` a loose range.
At the CI budget the evaluation runs the first 12 of the 60 test formulas.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from kubegym.tasks import preparation
from tests.tasks.conftest import (
    TASK_IMAGES,
    assert_reproducible,
    baseline,
    bundle,
    prepared,
    score_file,
)

TASK = "3-sat"
FOLDER = TASK_IMAGES / TASK
CI_BUDGET = 0.2
# The starter heuristic's decisions on the first 12 test formulas (deterministic).
CI_DECISIONS = 1168


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _read(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_preparation_is_reproducible_balanced_and_the_splits_differ() -> None:
    root = assert_reproducible(TASK)
    spec = bundle(TASK).task.spec
    names = [d.path for d in (*spec.datasets, *spec.validation_data, *spec.evaluation.test_data)]
    splits = {name: _read(root / name) for name in names if name}
    formulas = [json.dumps(i["clauses"]) for rows in splits.values() for i in rows]
    assert len(formulas) == len(set(formulas)) == 180
    for rows in splits.values():
        assert sum(bool(i["satisfiable"]) for i in rows) == 30
        for instance in rows:
            assert instance["num_clauses"] == round(4.26 * int(instance["num_vars"]))  # type: ignore[call-overload]


def test_the_solver_agrees_with_pycosats_labels() -> None:
    solver = _load(FOLDER / "starter" / "solver.py", "sat_solver")
    heuristic = _load(FOLDER / "starter" / "heuristic.py", "sat_heuristic")
    rows = _read(preparation.prepare(bundle(TASK)) / "data" / "train.jsonl")
    for instance in rows[:12]:
        dpll = solver.DPLL(instance["clauses"], heuristic.heuristic_fn)
        assert dpll.solve() is instance["satisfiable"], instance["id"]
        if instance["satisfiable"]:
            assert solver.satisfies(instance["clauses"], dpll.model())


def test_the_baseline_runs_through_the_sandbox_and_scores_its_known_decisions() -> None:
    results = baseline(TASK, budget=CI_BUDGET)
    assert results.exit_reason == "submitted", results.message
    assert results.final is not None
    assert results.final["Decisions"] == CI_DECISIONS
    assert results.final["Correct"] == 12 and results.final["Incorrect"] == 0
    # About 0.3-0.7 s here; the bound only catches a broken or pathological run.
    assert 0.0 < results.final["Time"] < 8.0, results.final


SMARTER = """
def heuristic_fn(clauses, assignments, conflict_count, assignment_history, level):
    score = {}
    for clause in clauses:
        free = [lit for lit in clause if abs(lit) not in assignments]
        for lit in free:
            score[lit] = score.get(lit, 0.0) + 4.0 ** -len(free)
    def weight(v):
        a, b = score.get(v, 0.0), score.get(-v, 0.0)
        return a + b + 2 * min(a, b)
    variable = max(sorted({abs(lit) for lit in score}), key=weight)
    return variable, score.get(variable, 0.0) >= score.get(-variable, 0.0)
"""


def test_a_better_heuristic_scores_fewer_decisions(tmp_path: Path) -> None:
    (tmp_path / "smarter").mkdir()
    (tmp_path / "starter").mkdir()
    smarter = tmp_path / "smarter" / "heuristic.py"
    smarter.write_text(SMARTER)
    # A copy: score_file lays its workspace out beside the file it scores.
    original = tmp_path / "starter" / "heuristic.py"
    original.write_text((FOLDER / "starter" / "heuristic.py").read_text())
    prepared(TASK)
    ours = score_file(TASK, smarter, "validation")
    assert ours.metrics is not None, ours.error
    starter = score_file(TASK, original, "validation")
    assert starter.metrics is not None, starter.error
    assert ours.metrics["Correct"] == starter.metrics["Correct"] == 60
    assert ours.metrics["Decisions"] * 4 < starter.metrics["Decisions"]


BROKEN = {
    "syntax": ("def heuristic_fn(clauses\n", "not valid Python"),
    "renamed": ("def my_heuristic(*args):\n    return 1, True\n", "no function heuristic_fn"),
    "unknown-variable": (
        "def heuristic_fn(c, a, cc, h, l):\n    return 10**6, True\n",
        "not in the formula",
    ),
    "assigned-variable": (
        "def heuristic_fn(c, a, cc, h, l):\n    return (next(iter(a)) if a else 1), True\n",
        "already assigned",
    ),
    "not-a-pair": (
        "def heuristic_fn(c, a, cc, h, l):\n    return 3\n",
        "must return (variable, value)",
    ),
    "raises": (
        "def heuristic_fn(c, a, cc, h, l):\n    raise RuntimeError('boom')\n",
        "RuntimeError: boom",
    ),
    "corrupts-the-solver": (
        "def heuristic_fn(clauses, a, cc, h, l):\n"
        "    v = next(abs(x) for c in clauses for x in c if abs(x) not in a)\n"
        "    clauses.clear()\n"
        "    return v, True\n",
        "wrong answer",
    ),
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_a_broken_heuristic_is_an_eval_error_with_the_reason(kind: str, tmp_path: Path) -> None:
    source, reason = BROKEN[kind]
    heuristic = tmp_path / "heuristic.py"
    heuristic.write_text(source)
    prepared(TASK)
    scoring = score_file(TASK, heuristic, "validation")
    assert scoring.metrics is None
    assert scoring.error is not None and reason in scoring.error, scoring.error


def test_a_formula_past_the_time_limit_stops_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    evaluate = _load(FOLDER / "evaluate.py", "sat_evaluate")
    monkeypatch.setattr(evaluate, "INSTANCE_TIMEOUT_S", 0.5)
    slow = tmp_path / "heuristic.py"
    slow.write_text("import time\n\ndef heuristic_fn(*args):\n    time.sleep(30)\n")
    rows = _read(preparation.prepare(bundle(TASK)) / "data" / "train.jsonl")
    with pytest.raises(SystemExit):
        evaluate.evaluate(slow, rows[:1])
    assert "took longer than 0.5 s" in capsys.readouterr().err
