"""The gymnax family's evaluation protocols: one small JSON file per split, for evaluate.py.

There is no data to download: the environment is one of gymnax's. Each file fixes
what evaluate.py does on that split: the environment, the evaluation seeds, the
number of environments per seed and the episode horizon. The test split uses
MLGym's evaluation (seeds 0-4, 256 environments, the task's horizon); the
validation split uses other seeds, so validating never shows test episodes.
Deterministic: the same bytes every run (the task YAML pins their sha256).

A task's prepare.py calls `main` with its environment and MLGym's horizon for it.
"""

import argparse
import json
from pathlib import Path

NUM_ENVS = 256  # environments per seed (MLGym's evaluate.py batch)
SPLITS = {"validation": [1000, 1001, 1002, 1003, 1004], "test": [0, 1, 2, 3, 4]}


def main(env: str, horizon: int) -> None:
    """Write ``--out``/hidden/<split>_seeds.json for the gymnax environment ``env``.

    Args:
        env: gymnax's id of the environment, such as ``Breakout-MinAtar``.
        horizon: steps per evaluation rollout (MLGym's evaluate.py ``max_frames``).
    """
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--source", action="append", default=[])
    args = parser.parse_args()
    hidden = args.out / "hidden"
    hidden.mkdir(parents=True, exist_ok=True)
    for split, seeds in SPLITS.items():
        protocol = {
            "env": env,
            "split": split,
            "seeds": seeds,
            "num_envs": NUM_ENVS,
            "horizon": horizon,
        }
        (hidden / f"{split}_seeds.json").write_text(
            json.dumps(protocol, indent=2, sort_keys=True) + "\n"
        )
