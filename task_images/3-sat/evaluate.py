"""Scores a 3-SAT branching heuristic: the DPLL solver's time with it, relative to the starter's.

Usage: evaluate.py --submission heuristic.py --split validation|test --data instances=PATH

The submitted `heuristic.py` runs in the scorer's jail (adapter.py, through
kubegym_eval's protocol), with the task's own copy of the solver
(`starter/solver.py`). This process sends it one formula at a time, times each answer on its
own clock, stops the worker when a formula takes longer than
`INSTANCE_TIMEOUT_S`, and checks every answer: a satisfying assignment for a
satisfiable formula, UNSAT for an unsatisfiable one. The worker never sees the
labels. Every answer carries the solver's decisions; this process replays them
through its own copy of the solver (the heuristic replaced by the list) and
counts `Decisions` itself: code in the jail can make the solver fast or slow,
but it cannot make the count differ from that of a real DPLL search that ends
in the answer it gave (a trace that does not replay to it voids the run). As in MLGym, one wrong answer voids the run: the script exits non-zero
with the reason, so validate/submit report an evaluation error.

The same formulas are also solved by the reference: the task's own starter heuristic
(its copy of `starter/heuristic.py`, never the agent's), behind the same adapter in
jails started the same way. The two take turns in blocks of `BLOCK` formulas (the
submission first, then ABBA, so a drift in the machine's speed weighs on both alike),
and a side's jail is stopped, all its processes with it, before the other side's
starts: nothing of the agent's runs while the reference is timed.

Metrics (kubegym_eval.report): `Time`, the agent's seconds divided by the
reference's on the same formulas (primary, lower is better; 1 = as fast as the
starter heuristic, on any machine); `Seconds`, the agent's seconds summed over all
formulas (MLGym's `Time`: machine-dependent); `Decisions`, the replayed decisions
summed over all formulas (deterministic, lower is better); `Correct` and
`Incorrect`, the counts MLGym reports (Incorrect is 0 whenever a score is
reported). By hand it also prints `ReferenceSeconds` and `instances`, which the
scorer does not keep. KUBEGYM_BUDGET scales the number of formulas (the first
ceil(budget × N) of the split; 1 = all of them).
"""

from __future__ import annotations

import argparse
import array
import importlib.util
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

try:
    import kubegym_eval  # the scorer puts its folder on PYTHONPATH: the metrics go to its pipe
except ImportError:  # run by hand: it ships in the kubegym package (and this repository)
    import importlib.util

    _kubegym = importlib.util.find_spec("kubegym")
    _roots = list(_kubegym.submodule_search_locations or []) if _kubegym else []
    _roots.append(str(Path(__file__).resolve().parent.parent.parent / "kubegym"))
    sys.path += [str(Path(root, "evaluator", "kit")) for root in _roots]
    import kubegym_eval

HERE = Path(__file__).resolve().parent
SOLVER = HERE / "starter" / "solver.py"
# Copied into every jail: the solver, and the starter heuristic the reference jails run.
JAIL_FILES = ["starter/solver.py", "starter/heuristic.py"]
INSTANCE_TIMEOUT_S = 20.0
IMPORT_TIMEOUT_S = 60.0
BLOCK = 6
"""Formulas per turn: one of each size (`prepare.py` cycles through six), half of them SAT."""

AGENT = "submission"
REFERENCE = "reference"
"""The two sides, as the adapter's ``heuristic`` option names them."""


def fail(message: str) -> NoReturn:
    print(message, file=sys.stderr)
    sys.exit(1)


# The parent: feeds, times and checks -------------------------------------------


def read_instances(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def schedule(count: int, block: int = BLOCK) -> list[tuple[str, list[int]]]:
    """The jail sessions, in order: each side and the formulas (indexes) it solves in one jail.

    Blocks of ``block`` formulas; the submission goes first in even blocks and second
    in odd ones (submission, reference, reference, submission, ...: a broken submission
    fails before any reference time is spent), and a side's consecutive turns share one
    jail: about one jail per block.
    """
    sessions: list[tuple[str, list[int]]] = []
    for number, first in enumerate(range(0, count, block)):
        indexes = list(range(first, min(first + block, count)))
        for side in (AGENT, REFERENCE) if number % 2 == 0 else (REFERENCE, AGENT):
            if sessions and sessions[-1][0] == side:
                sessions[-1][1].extend(indexes)
            else:
                sessions.append((side, list(indexes)))
    return sessions


def open_jail(submission: Path, side: str) -> kubegym_eval.Agent:
    """The solver behind the adapter, driven by ``side``'s heuristic, loaded and ready."""
    try:
        return kubegym_eval.start(
            "adapter.py",
            submission,
            files=JAIL_FILES,
            options={"heuristic": side},
            timeout=IMPORT_TIMEOUT_S,
            task_dir=HERE,
        )
    except kubegym_eval.AgentError as exc:
        text = str(exc)
        if side == REFERENCE:
            fail(f"task error: the reference solver did not start: {text}")
        if "took longer than" in text:
            text = f"importing {submission.name} took longer than {IMPORT_TIMEOUT_S:g} s"
        fail(text)


def solve(
    jail: kubegym_eval.Agent, instance: dict[str, Any], side: str
) -> tuple[float, dict[str, Any], kubegym_eval.Arrays]:
    """The seconds ``side``'s jail took on ``instance``, its answer and its decision trace."""
    who = "the solver process" if side == AGENT else "the reference solver"
    started = time.perf_counter()
    try:
        answer, trace = jail.call(
            {"clauses": instance["clauses"]}, timeout=INSTANCE_TIMEOUT_S, doing="a formula"
        )
    except kubegym_eval.AgentError as exc:
        if "took longer than" in str(exc):
            what = f"{instance['id']} ({instance['num_vars']} variables)"
            if side == REFERENCE:
                what = f"the reference solver on {what}"
            fail(f"{what} took longer than {INSTANCE_TIMEOUT_S:g} s and the run was stopped")
        fail(str(exc).replace("the agent's code", who, 1))
    return time.perf_counter() - started, answer, trace


def wrong(instance: dict[str, Any], answer: dict[str, Any]) -> str | None:
    """Why ``answer`` is wrong for ``instance``; None when it is right."""
    if answer.get("satisfiable") is False:
        if instance["satisfiable"]:
            return "the solver reported UNSAT, but the formula is satisfiable"
        return None
    true = set(answer.get("true") or [])
    for clause in instance["clauses"]:
        if not any((lit > 0) == (abs(lit) in true) for lit in clause):
            return f"the solver reported SAT, but its assignment leaves the clause {clause} false"
    if not instance["satisfiable"]:
        fail(
            f"task data error: {instance['id']} is labelled UNSAT, but a satisfying "
            "assignment exists"
        )
    return None


def check(instance: dict[str, Any], answer: dict[str, Any]) -> None:
    """Exit with the reason when the submission's ``answer`` is wrong for ``instance``."""
    reason = wrong(instance, answer)
    if reason is not None:
        # The solver is the task's: only a heuristic that changed its state gets here.
        fail(
            f"wrong answer on {instance['id']}: {reason} "
            "(a heuristic must not change the solver's state)"
        )


def load_solver() -> Any:
    """The task's own solver (``starter/solver.py``), imported here on the trusted side."""
    spec = importlib.util.spec_from_file_location("kubegym_3sat_solver", SOLVER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def replay(
    solver: Any, instance: dict[str, Any], answer: dict[str, Any], arrays: kubegym_eval.Arrays
) -> int:
    """The decisions of a real search that follows the jail's trace; exits when there is none.

    The solver runs again with a "heuristic" that hands out the traced decisions in
    order (the solver itself refuses a variable that is unknown or assigned). The
    trace must be used up exactly, and the search must end where the jail's did.
    """
    name = instance["id"]
    if len(arrays) != 1 or arrays[0][0] != "<i4" or len(arrays[0][1]) != 1:
        fail(f"the solver's answer on {name} carries no decision trace")
    trace = array.array("i", arrays[0][2])
    if sys.byteorder != "little":
        trace.byteswap()
    decisions = iter(trace)

    def follow(*_: object) -> tuple[int, bool]:
        literal = next(decisions, 0)
        if literal == 0:
            raise solver.HeuristicError("the trace ended before the search did")
        return abs(literal), literal > 0

    dpll = solver.DPLL(instance["clauses"], follow)
    try:
        satisfiable = dpll.solve()
    except solver.HeuristicError as exc:
        fail(f"the decisions the solver reported on {name} do not replay: {exc}")
    left = sum(1 for _ in decisions)
    if left or bool(satisfiable) != (answer.get("satisfiable") is not False):
        fail(
            f"the decisions the solver reported on {name} do not replay to its answer "
            f"({left} decisions left over; the replay says "
            f"{'SAT' if satisfiable else 'UNSAT'})"
        )
    if satisfiable:
        check(instance, {"true": [v for v, value in dpll.model().items() if value]})
    return int(dpll.num_decisions)


def evaluate(submission: Path, instances: list[dict[str, Any]]) -> dict[str, float]:
    """The metrics of ``submission`` on ``instances``; exits with the reason when it fails."""
    solver = load_solver()
    seconds = {AGENT: 0.0, REFERENCE: 0.0}
    decisions = 0
    for side, indexes in schedule(len(instances)):
        # Closing a jail stops all of its processes before the other side's jail starts.
        with open_jail(submission, side) as jail:
            for index in indexes:
                instance = instances[index]
                elapsed, answer, trace = solve(jail, instance, side)
                seconds[side] += elapsed
                if side == REFERENCE:
                    if (reason := wrong(instance, answer)) is not None:
                        fail(f"task error: the reference is wrong on {instance['id']}: {reason}")
                    continue
                check(instance, answer)
                decisions += replay(solver, instance, answer, trace)  # never the jail's count
    return {
        "Time": round(seconds[AGENT] / seconds[REFERENCE], 4),
        "Seconds": round(seconds[AGENT], 3),
        "ReferenceSeconds": round(seconds[REFERENCE], 3),
        "Decisions": decisions,
        "Correct": len(instances),
        "Incorrect": 0,
        "instances": len(instances),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submission")
    parser.add_argument("--split", default="test")
    parser.add_argument("--data", action="append", default=[])
    args = parser.parse_args()
    data = dict(item.split("=", 1) for item in args.data)
    if "instances" not in data or args.submission is None:
        fail("usage: evaluate.py --submission heuristic.py --split S --data instances=PATH")
    submission = Path(args.submission).resolve()
    if not submission.is_file():
        fail(f"the submission {submission.name} is not a file")
    try:
        compile(submission.read_bytes(), submission.name, "exec")
    except (SyntaxError, ValueError) as exc:
        fail(f"{submission.name} is not valid Python: {exc}")
    instances = read_instances(Path(data["instances"]))
    budget = float(os.environ.get("KUBEGYM_BUDGET", "1") or "1")
    count = min(len(instances), max(1, math.ceil(budget * len(instances))))
    kubegym_eval.report(evaluate(submission, instances[:count]))


if __name__ == "__main__":
    main()
