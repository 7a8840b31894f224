"""Writes the Breakout-MinAtar task's evaluation protocols: one small JSON file per split.

There is no data to download: the environment is gymnax's ``Breakout-MinAtar``. Each
file fixes what evaluate.py does on that split: the environment, the evaluation
seeds, the number of environments per seed and the episode horizon. The test
split uses MLGym's evaluation (seeds 0-4, 256 environments, 999 steps); the
validation split uses other seeds, so validating never shows test episodes.
Deterministic: the same bytes every run (the task YAML pins their sha256).
"""

import argparse
import json
from pathlib import Path

ENV = "Breakout-MinAtar"
NUM_ENVS = 256  # environments per seed (MLGym's evaluate.py batch)
HORIZON = 999  # steps per rollout (MLGym's evaluate.py max_frames for this task)
SPLITS = {"validation": [1000, 1001, 1002, 1003, 1004], "test": [0, 1, 2, 3, 4]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--source", action="append", default=[])
    args = parser.parse_args()
    hidden = args.out / "hidden"
    hidden.mkdir(parents=True, exist_ok=True)
    for split, seeds in SPLITS.items():
        protocol = {
            "env": ENV,
            "split": split,
            "seeds": seeds,
            "num_envs": NUM_ENVS,
            "horizon": HORIZON,
        }
        (hidden / f"{split}_seeds.json").write_text(
            json.dumps(protocol, indent=2, sort_keys=True) + "\n"
        )


if __name__ == "__main__":
    main()
