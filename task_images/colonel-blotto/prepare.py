"""Writes the Colonel Blotto task's split files: the seed and the counts of each split.

The game needs no data; what the splits hold is how they are played. Each file
gives the seed of the partner's random generator (validation and test differ)
and MLGym's counts (10 rounds a simulation, 10,000 simulations; the board,
6 battlefields and 120 soldiers a side, is fixed in evaluate.py). Only the
evaluator reads them. Deterministic: the seeds are fixed here, and the JSON is written sorted.

Usage: prepare.py --out DIR   (writes DIR/hidden/validation.json and DIR/hidden/test.json)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

GAME = "colonel-blotto"
SPLITS = {"validation": 20250303, "test": 20250909}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--source", action="append", default=[], help="unused: no sources")
    args = parser.parse_args()
    hidden = args.out / "hidden"
    hidden.mkdir(parents=True, exist_ok=True)
    for split, seed in SPLITS.items():
        schedule = {"game": GAME, "split": split, "seed": seed, "rounds": 10, "games": 10000}
        text = json.dumps(schedule, indent=2, sort_keys=True) + "\n"
        (hidden / f"{split}.json").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
