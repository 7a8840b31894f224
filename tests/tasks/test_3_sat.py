"""The 3-sat task: valid, reproducibly prepared, its baseline exact in decisions, bad heuristics
refused, and its Time relative to a reference that the submission cannot touch.

Solving time is noisy (and this machine is shared), so the baseline's test
pins the deterministic decision count exactly and gives `Time` (the submission's
seconds over the reference's, 1 for the starter by construction) a loose range.
At the CI budget the evaluation runs the first 12 of the 60 test formulas. The
attacks on the reference score through the real jail at budget 1 (60 formulas).
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

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
# The starter heuristic's decisions on the first 12 test formulas, and on all 60 (deterministic).
CI_DECISIONS = 1168
TEST_DECISIONS = 10841
STARTER = (FOLDER / "starter" / "heuristic.py").read_text()


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
    # The starter is the reference: about 1 (noise only); the bounds catch another reference.
    assert 0.5 < results.final["Time"] < 2.0, results.final
    assert 0.0 < results.final["Seconds"] < 8.0, results.final


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
    assert ours.metrics["Time"] * 2 < starter.metrics["Time"], (ours.metrics, starter.metrics)


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
    # Fast because it decides nothing: every formula "UNSAT" at once, a tiny Time if counted.
    "answers-unsat-at-once": (
        "import solver\n"
        "solver.DPLL.solve = lambda self: False\n"
        "def heuristic_fn(c, a, cc, h, l):\n    return 1, True\n",
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


# Time relative to a reference ------------------------------------------------------


def test_the_schedule_alternates_in_blocks_and_gives_each_side_every_formula() -> None:
    evaluate = _load(FOLDER / "evaluate.py", "sat_evaluate")
    agent, reference = evaluate.AGENT, evaluate.REFERENCE
    assert evaluate.schedule(12, block=6) == [
        (agent, list(range(6))),
        (reference, list(range(12))),
        (agent, list(range(6, 12))),
    ]
    for count in (1, 5, 13, 60):
        sessions = evaluate.schedule(count)
        assert [side for side, _ in sessions[::2]] == [agent] * len(sessions[::2])
        assert [side for side, _ in sessions[1::2]] == [reference] * len(sessions[1::2])
        for side in (agent, reference):
            solved = [i for s, indexes in sessions if s == side for i in indexes]
            assert solved == list(range(count))


class _Watched:
    """A started jail whose calls and close are written to ``events``."""

    def __init__(self, jail: Any, side: str, events: list[tuple[str, str]]) -> None:
        self.jail, self.side, self.events = jail, side, events

    def call(self, *args: Any, **kwargs: Any) -> Any:
        self.events.append(("call", self.side))
        return self.jail.call(*args, **kwargs)

    def __enter__(self) -> _Watched:
        return self

    def __exit__(self, *exc: object) -> None:
        self.jail.close()
        self.events.append(("close", self.side))


def test_no_jail_of_the_submission_is_alive_while_the_reference_is_timed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A jail's processes could load the machine while the other side is timed, so the
    two sides' jails never overlap: each is closed before the next one starts. The
    reference jails ask the adapter for the task's heuristic, with the same adapter and
    files as the submission's (run by hand here: plain child processes)."""
    evaluate = _load(FOLDER / "evaluate.py", "sat_evaluate")
    events: list[tuple[str, str]] = []
    asked: list[Mapping[str, Any]] = []
    real_start = evaluate.kubegym_eval.start

    def start(adapter: str, submission: Path, **kwargs: Any) -> _Watched:
        side = kwargs["options"]["heuristic"]
        asked.append({"adapter": adapter, **kwargs})
        events.append(("open", side))
        return _Watched(real_start(adapter, submission, **kwargs), side, events)

    monkeypatch.setattr(evaluate.kubegym_eval, "start", start)
    heuristic = tmp_path / "heuristic.py"
    heuristic.write_text(STARTER)
    rows = _read(preparation.prepare(bundle(TASK)) / "data" / "train.jsonl")
    metrics = evaluate.evaluate(heuristic, rows[:12])

    open_side: str | None = None
    for kind, side in events:
        if kind == "open":
            assert open_side is None, events  # the other side's jail is closed first
            open_side = side
        else:
            assert side == open_side, events  # calls go to the one jail open now
            if kind == "close":
                open_side = None
    opened = [side for kind, side in events if kind == "open"]
    assert opened == [evaluate.AGENT, evaluate.REFERENCE, evaluate.AGENT]
    assert (
        events.count(("call", evaluate.AGENT)) == events.count(("call", evaluate.REFERENCE)) == 12
    )
    assert {a["adapter"] for a in asked} == {"adapter.py"}
    assert all(a["files"] == ["starter/solver.py", "starter/heuristic.py"] for a in asked)
    assert metrics["Decisions"] > 0 and metrics["Correct"] == 12
    ratio = metrics["Seconds"] / metrics["ReferenceSeconds"]
    assert metrics["Time"] == pytest.approx(ratio, rel=0.01)


SLEEPER = STARTER.replace(
    "def heuristic_fn(clauses, assignments, conflict_count, assignment_history, level):\n",
    "def heuristic_fn(clauses, assignments, conflict_count, assignment_history, level):\n"
    "    # It cannot tell whether it is timed as the submission or as the reference, so it\n"
    "    # slows down on every formula (at its first decision): were it also the\n"
    "    # reference, both sides would slow alike and Time would stay near 1.\n"
    "    if len(level) == 1:\n"
    "        import time\n"
    "        time.sleep(0.1)\n",
)


def test_a_heuristic_that_slows_down_in_case_it_is_the_reference_slows_only_itself(
    tmp_path: Path,
) -> None:
    """Attack: sleep 0.1 s on every formula, hoping the reference runs this file too.
    Guarantee: the reference is the task's own heuristic, never the submission, so the
    sleeps count against the submission alone (about 6 s over the reference's ~1.6)."""
    assert SLEEPER != STARTER
    heuristic = tmp_path / "heuristic.py"
    heuristic.write_text(SLEEPER)
    scoring = score_file(TASK, heuristic, "test")
    assert scoring.metrics is not None, scoring.error
    assert scoring.metrics["Decisions"] == TEST_DECISIONS  # the starter's search, slowed
    assert scoring.metrics["Seconds"] > 6.0
    assert scoring.metrics["Time"] > 2.0, scoring.metrics


SPINNERS = """
import mmap, os, struct, time

# When heuristic_fn last ran, shared with the spinners: they burn every CPU while this
# jail is idle (the reference may be timed then) and rest while it solves. They give up
# after a minute, so that a run where they escape their jail ends too.
_LAST = mmap.mmap(-1, 8)


def _spin():
    give_up = time.monotonic() + 60
    while time.monotonic() < give_up:
        if time.monotonic() - struct.unpack("d", _LAST[:8])[0] > 0.005:
            end = time.monotonic() + 0.002
            while time.monotonic() < end:
                pass
        else:
            time.sleep(0.001)


for _ in range(min(64, (os.cpu_count() or 2) + 2)):
    if os.fork() == 0:  # daemonised: a new session, its parent gone
        os.setsid()
        if os.fork() == 0:
            _spin()
        os._exit(0)
    os.wait()
""" + STARTER.replace(
    "    rng = random.Random(10)\n",
    "    _LAST[:8] = struct.pack('d', time.monotonic())\n    rng = random.Random(10)\n",
)


def test_a_heuristic_that_loads_the_machine_while_it_is_idle_gains_nothing(
    tmp_path: Path,
) -> None:
    """Attack: the starter heuristic plus daemonised spinners, one per CPU and two more,
    that burn CPU whenever the heuristic is idle, that is while the other side would be
    timed, to slow the reference and look fast beside it (on this 2-core machine, about
    Time 0.5 if they ran beside it). Guarantee: the submission's jail, spinners and all,
    is stopped before a reference jail starts, so Time stays near the starter's 1."""
    assert "_spin()" in SPINNERS and "_LAST[:8] = " in SPINNERS
    heuristic = tmp_path / "heuristic.py"
    heuristic.write_text(SPINNERS)
    scoring = score_file(TASK, heuristic, "test")
    assert scoring.metrics is not None, scoring.error
    assert scoring.metrics["Decisions"] == TEST_DECISIONS
    assert scoring.metrics["Time"] > 0.8, scoring.metrics


def test_editing_the_workspace_copies_of_the_starter_changes_nothing(tmp_path: Path) -> None:
    """Attack: the workspace's solver.py, and a starter/ folder and reference.py beside
    the submission, sleep on every formula, in case the reference is taken from the
    workspace. Guarantee: the reference is the task's own copy; the honest starter
    submission still scores about 1 (a slowed reference would make it ~0.2) and its
    exact decisions."""
    heuristic = tmp_path / "heuristic.py"
    heuristic.write_text(STARTER)
    workspace = tmp_path / "scored-workspace"  # where score_file lays out the workspace
    (workspace / "starter").mkdir(parents=True)
    solver = (FOLDER / "starter" / "solver.py").read_text()
    slow_solver = solver.replace(
        "        self.level = [[]]\n",
        "        __import__('time').sleep(0.1)\n        self.level = [[]]\n",
    )
    assert slow_solver != solver
    for name, text in {
        "solver.py": slow_solver,
        "starter/solver.py": slow_solver,
        "starter/heuristic.py": SLEEPER,
        "reference.py": SLEEPER,
    }.items():
        (workspace / name).write_text(text)
    scoring = score_file(TASK, heuristic, "test")
    assert scoring.metrics is not None, scoring.error
    assert scoring.metrics["Decisions"] == TEST_DECISIONS
    assert 0.5 < scoring.metrics["Time"] < 2.0, scoring.metrics
