"""Times the solver with your heuristic on the training formulas, and checks every answer.

Usage: python run_local.py [--data data/train.jsonl] [--limit N]

Prints one JSON line: `Seconds` (the solving time, summed over the formulas),
`Decisions`, `Correct`, `Incorrect`. The evaluation runs the same solver with your
`heuristic.py` on formulas you do not see, drawn the same way, and also times the
example heuristic on them: its score `Time` is your seconds divided by the example's
(1.0: as fast as the example; lower is better). KUBEGYM_BUDGET (default 1) scales how
many formulas run here.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

from heuristic import heuristic_fn
from solver import DPLL, satisfies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/train.jsonl")
    parser.add_argument("--limit", type=int, default=None, help="run only the first N formulas")
    args = parser.parse_args()
    with open(args.data, encoding="utf-8") as f:
        instances = [json.loads(line) for line in f if line.strip()]
    budget = float(os.environ.get("KUBEGYM_BUDGET", "1") or "1")
    count = args.limit or min(len(instances), max(1, math.ceil(budget * len(instances))))
    seconds, decisions, correct, incorrect = 0.0, 0, 0, 0
    for instance in instances[:count]:
        solver = DPLL(instance["clauses"], heuristic_fn)
        started = time.perf_counter()
        satisfiable = solver.solve()
        seconds += time.perf_counter() - started
        decisions += solver.num_decisions
        right = satisfiable == instance["satisfiable"] and (
            not satisfiable or satisfies(instance["clauses"], solver.model())
        )
        if right:
            correct += 1
        else:
            incorrect += 1
            print(f"wrong answer on {instance['id']}: the evaluation would reject this heuristic")
    print(
        json.dumps(
            {
                "Seconds": round(seconds, 3),
                "Decisions": decisions,
                "Correct": correct,
                "Incorrect": incorrect,
            }
        )
    )


if __name__ == "__main__":
    main()
