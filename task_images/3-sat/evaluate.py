"""Scores a 3-SAT branching heuristic: the time the DPLL solver takes with it (lower is better).

Usage: evaluate.py --submission heuristic.py --split validation|test --data instances=PATH

The submitted `heuristic.py` runs in the scorer's jail (adapter.py, through
kubegym_eval's protocol), with the task's own copy of the solver
(`starter/solver.py`). This process sends it one formula at a time, times each answer on its
own clock, stops the worker when a formula takes longer than
`INSTANCE_TIMEOUT_S`, and checks every answer: a satisfying assignment for a
satisfiable formula, UNSAT for an unsatisfiable one. The worker never sees the
labels. As in MLGym, one wrong answer voids the run: the script exits non-zero
with the reason, so validate/submit report an evaluation error.

Metrics (kubegym_eval.report): `Time`, the seconds summed over all
formulas (primary, lower is better); `Decisions`, the heuristic's decisions
summed over all formulas (deterministic, lower is better); `Correct` and
`Incorrect`, the counts MLGym reports (Incorrect is 0 whenever a score is
reported). KUBEGYM_BUDGET scales the number of formulas (the first
ceil(budget × N) of the split; 1 = all of them).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

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
INSTANCE_TIMEOUT_S = 20.0
IMPORT_TIMEOUT_S = 60.0


def fail(message: str) -> None:
    print(message, file=sys.stderr)
    sys.exit(1)


# The parent: feeds, times and checks -------------------------------------------


def read_instances(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def ask(
    agent: kubegym_eval.Agent, clauses: list[list[int]], timeout: float
) -> dict[str, Any] | None:
    """The solver's answer; None when it took longer than ``timeout`` seconds."""
    try:
        answer, _ = agent.call({"clauses": clauses}, timeout=timeout, doing="a formula")
    except kubegym_eval.AgentError as exc:
        if "took longer than" in str(exc):
            return None
        fail(str(exc).replace("the agent's code", "the solver process", 1))
    return answer


def check(instance: dict[str, Any], answer: dict[str, Any]) -> None:
    """Exit with the reason when ``answer`` is wrong for ``instance``."""
    name = instance["id"]
    if answer.get("satisfiable") is False:
        if instance["satisfiable"]:
            fail(
                f"wrong answer on {name}: the solver reported UNSAT, but the formula is "
                "satisfiable (a heuristic must not change the solver's state)"
            )
        return
    true = set(answer.get("true") or [])
    for clause in instance["clauses"]:
        if not any((lit > 0) == (abs(lit) in true) for lit in clause):
            fail(
                f"wrong answer on {name}: the solver reported SAT, but its assignment "
                f"leaves the clause {clause} false"
            )
    if not instance["satisfiable"]:
        fail(f"task data error: {name} is labelled UNSAT, but a satisfying assignment exists")


def evaluate(submission: Path, instances: list[dict[str, Any]]) -> dict[str, float]:
    try:
        agent = kubegym_eval.start(
            "adapter.py",
            submission,
            files=["starter/solver.py"],
            timeout=IMPORT_TIMEOUT_S,
            task_dir=HERE,
        )
    except kubegym_eval.AgentError as exc:
        text = str(exc)
        if "took longer than" in text:
            text = f"importing {submission.name} took longer than {IMPORT_TIMEOUT_S:g} s"
        fail(text)
    with agent:
        seconds = 0.0
        decisions = 0
        for instance in instances:
            started = time.perf_counter()
            answer = ask(agent, instance["clauses"], INSTANCE_TIMEOUT_S)
            elapsed = time.perf_counter() - started
            if answer is None:
                fail(
                    f"{instance['id']} ({instance['num_vars']} variables) took longer than "
                    f"{INSTANCE_TIMEOUT_S:g} s and the run was stopped"
                )
            check(instance, answer)
            seconds += elapsed
            decisions += int(answer["decisions"])
    return {
        "Time": round(seconds, 3),
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
