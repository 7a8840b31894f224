"""The split files of a repeated game: the seed and MLGym's counts of each split.

The games need no data; what the splits hold is how they are played. Each file
gives the seed of the column player's random generator (validation and test
differ) and MLGym's counts (10 rounds a game, 10,000 games). Only the evaluator
reads them. Deterministic: the seeds are fixed by the task, and the JSON is
written sorted.

A task's prepare.py calls `main` with its game's name and its seeds.
Usage: prepare.py --out DIR   (writes DIR/hidden/validation.json and DIR/hidden/test.json)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main(game: str, splits: dict[str, int]) -> None:
    """Write ``--out``/hidden/<split>.json for each split's seed in ``splits``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--source", action="append", default=[], help="unused: no sources")
    args = parser.parse_args()
    hidden = args.out / "hidden"
    hidden.mkdir(parents=True, exist_ok=True)
    for split, seed in splits.items():
        schedule = {"game": game, "split": split, "seed": seed, "rounds": 10, "games": 10000}
        text = json.dumps(schedule, indent=2, sort_keys=True) + "\n"
        (hidden / f"{split}.json").write_text(text, encoding="utf-8")
