"""Trains the PPO baseline with 5 model seeds and saves the submission: `checkpoints/`.

Run from the workspace: ``python src/train.py [--config src/config.yaml]``. Writes
``checkpoints/config-42-{0..4}.pkl`` (the trained parameters of each seed) and
``checkpoints/config.yaml`` (the configuration they were trained with), which is
what the evaluator loads. ``KUBEGYM_BUDGET`` (default 1) scales ``num_train_steps``.
"""

from __future__ import annotations

import argparse
import os
import pickle
import shutil
import time
from pathlib import Path

import jax
import numpy as np
import yaml
from networks import get_model_ready
from policy import make_train, num_updates

SEED = 42  # MLGym's training seed; keep it
NUM_CHECKPOINTS = 5
MIN_ROLLOUT = 16  # the shortest rollout a tiny budget trains on


def load_config(path: Path) -> dict:
    """The `train_config` of a config file, with floats written as `5e-04` read as floats."""
    with path.open() as f:
        config = yaml.safe_load(f)["train_config"]
    for name in ("lr_begin", "lr_end", "lr_warmup"):
        config[name] = float(config[name])
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, default=Path(__file__).parent / "config.yaml")
    parser.add_argument("--out", type=Path, default=Path("checkpoints"))
    args = parser.parse_args()

    config = load_config(args.config)
    budget = float(os.environ.get("KUBEGYM_BUDGET", "1"))
    config["num_train_steps"] = max(1, int(int(config["num_train_steps"]) * budget))
    fits = int(config["num_train_steps"]) // int(config["num_train_envs"])
    if fits < int(config["n_steps"]):
        # A budget too small for one full update (tests, smoke runs) trains one shorter one.
        config["n_steps"] = max(MIN_ROLLOUT, fits)
    print(
        f"{config['env_name']}: {num_updates(config)} PPO updates per seed (budget {budget:g})",
        flush=True,
    )

    # As MLGym's train.py: one training key, five initialisation keys.
    keys = jax.random.split(jax.random.PRNGKey(SEED), NUM_CHECKPOINTS + 1)
    train_key, init_keys = keys[0], keys[1:]
    model, _ = get_model_ready(init_keys[0], config)
    train = jax.jit(make_train(config, model))

    args.out.mkdir(parents=True, exist_ok=True)
    for i, init_key in enumerate(init_keys):
        started = time.time()
        _, params = get_model_ready(init_key, config)
        params, logs = train(train_key, params)
        returns = np.asarray(logs["episode_return"])
        seen = returns[np.isfinite(returns)]
        last = float(seen[-max(1, len(seen) // 10) :].mean()) if seen.size else float("nan")
        record = {
            "network": jax.tree.map(np.asarray, params),
            "train_config": config,
            "log_return": returns.tolist(),
        }
        path = args.out / f"config-{SEED}-{i}.pkl"
        with path.open("wb") as f:
            pickle.dump(record, f, protocol=pickle.HIGHEST_PROTOCOL)
        print(
            f"seed {i}: training return {last:.2f} in {time.time() - started:.0f}s -> {path}",
            flush=True,
        )
    shutil.copyfile(args.config, args.out / "config.yaml")
    print(f"saved {NUM_CHECKPOINTS} checkpoints and config.yaml in {args.out}/")


if __name__ == "__main__":
    main()
