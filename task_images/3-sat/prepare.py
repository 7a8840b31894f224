"""Makes the 3-sat task's instances: seeded random 3-SAT formulas, labelled by pycosat.

Usage: prepare.py --out DIR

Every formula has n variables and round(4.26 n) clauses of three distinct
variables with random signs: the ratio where random 3-SAT is hardest and about
half the formulas are satisfiable. n cycles through `SIZES`, and the label
alternates SAT/UNSAT (formulas are drawn until one with the wanted label comes
up), so any prefix of a file, which is what a smaller KUBEGYM_BUDGET evaluates,
is a balanced mix. pycosat (PicoSAT) gives the labels; its models of the
satisfiable formulas are checked here too.

Writes JSON Lines, one formula per line (`id`, `num_vars`, `num_clauses`,
`satisfiable`, `clauses`):
  DIR/data/train.jsonl         the agent's instances, to experiment with
  DIR/hidden/validation.jsonl  what `validate` scores (held out)
  DIR/hidden/test.jsonl        what `submit` scores (hidden)
Deterministic: the same bytes on every run (the task YAML pins their sha256).
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import pycosat

RATIO = 4.26
SIZES = (25, 30, 35, 40, 45, 50)
# name → (seed, number of formulas); the three sets never share a formula.
SPLITS = {
    "data/train.jsonl": (20260301, 60),
    "hidden/validation.jsonl": (20260302, 60),
    "hidden/test.jsonl": (20260303, 60),
}


def random_formula(rng: random.Random, num_vars: int) -> list[list[int]]:
    """A uniform random 3-SAT formula at the clause ratio `RATIO`."""
    clauses = []
    for _ in range(round(RATIO * num_vars)):
        variables = rng.sample(range(1, num_vars + 1), 3)
        clauses.append([v if rng.random() < 0.5 else -v for v in variables])
    return clauses


def label(clauses: list[list[int]]) -> bool:
    """True when satisfiable, by PicoSAT; a model it returns is checked against the clauses."""
    answer = pycosat.solve(clauses)
    if answer == "UNSAT":
        return False
    if answer == "UNKNOWN" or not isinstance(answer, list):
        raise RuntimeError(f"pycosat could not decide a formula: {answer!r}")
    true = {lit for lit in answer if lit > 0}
    if not all(any((lit > 0) == (abs(lit) in true) for lit in c) for c in clauses):
        raise RuntimeError("pycosat returned a model that does not satisfy its formula")
    return True


def instances(prefix: str, seed: int, count: int) -> list[dict[str, object]]:
    rng = random.Random(seed)
    out = []
    for k in range(count):
        num_vars = SIZES[k % len(SIZES)]
        wanted = k % 2 == 0
        while True:
            clauses = random_formula(rng, num_vars)
            if label(clauses) == wanted:
                break
        out.append(
            {
                "id": f"{prefix}-{k:04d}",
                "num_vars": num_vars,
                "num_clauses": len(clauses),
                "satisfiable": wanted,
                "clauses": clauses,
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--source", action="append", default=[], help="unused: no sources")
    args = parser.parse_args()
    for relative, (seed, count) in SPLITS.items():
        path = args.out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        prefix = Path(relative).stem
        with path.open("w", encoding="utf-8", newline="\n") as f:
            for instance in instances(prefix, seed, count):
                f.write(json.dumps(instance, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
