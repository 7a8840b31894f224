"""Scores a gymnax task's submission: the mean return of its 5 PPO checkpoints over evaluation episodes.

Usage: evaluate.py --submission checkpoints/ --split validation|test --data seeds=SEEDS.json

The gymnax family's evaluator (breakout-minatar, metamaze, mountain-car-continuous).
The submission is a folder holding ``config.yaml`` (with ``train_config.network_config``)
and five ``*.pkl`` checkpoints, each a pickled dict whose ``network`` entry is the
parameter tree of the starter code's ``Model``. The evaluator rebuilds that network
itself, from the task's own copy of the starter code (``starter/src/networks.py``
beside this script, never the agent's workspace: it runs none of the submission's
code, and unpickles only plain containers and numpy arrays), then, as MLGym does,
rolls out every checkpoint for a fixed number of steps in ``num_envs`` environments
per evaluation seed, summing each environment's rewards until its first episode ends.
The environment, the seeds, the number of environments and the horizon come from the
split's JSON file (made by the task's prepare.py); the environment must be the one
the task's starter configuration trains for. ``KUBEGYM_BUDGET`` (default 1) scales
the number of environments. Prints ``{"reward_mean": ..., "reward_std": ...}`` as the
last line; exits non-zero with the reason when the submission is missing or malformed.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import math
import os
import pickle
import sys
from pathlib import Path
from typing import Any

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import yaml
from gymnax.environments import spaces

try:
    import kubegym_eval  # the scorer puts its folder on PYTHONPATH: the metrics go to its pipe
except ImportError:  # run by hand: PYTHONPATH=<kubegym>/evaluator/kit, or kubegym installed
    _kubegym = importlib.util.find_spec("kubegym")
    _roots = list(_kubegym.submodule_search_locations or []) if _kubegym else []
    sys.path += [str(Path(root, "evaluator", "kit")) for root in _roots]
    import kubegym_eval

NUM_CHECKPOINTS = 5
# The task's own starter code (the data image's eval folder holds it too), never the agent's.
STARTER = Path(__file__).resolve().parent / "starter" / "src"


def _starter_networks() -> Any:
    """The starter code's networks.py, loaded from the task's files (its ``Model`` is scored)."""
    spec = importlib.util.spec_from_file_location("starter_networks", STARTER / "networks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # flax's dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


Model = _starter_networks().Model


class SubmissionError(Exception):
    """The submission cannot be scored; the message says why."""


_ALLOWED_GLOBALS = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("builtins", "dict"),
        ("builtins", "list"),
        ("builtins", "tuple"),
        ("collections", "OrderedDict"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
    }
)


class _SafeUnpickler(pickle.Unpickler):
    """Unpickles plain Python containers and numpy arrays, nothing that runs code."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS or (
            module == "numpy.dtypes" and name.endswith("DType")
        ):
            return super().find_class(module, name)
        raise SubmissionError(
            f"the checkpoint pickles {module}.{name}; save plain dicts of numpy arrays "
            "(jax.tree.map(numpy.asarray, params)), as src/train.py does"
        )


def load_checkpoint(path: Path) -> Any:
    """The ``network`` parameter tree of one checkpoint file."""
    try:
        record = _SafeUnpickler(io.BytesIO(path.read_bytes())).load()
    except SubmissionError:
        raise
    except Exception as e:  # any unpickling failure is the submission's fault
        raise SubmissionError(
            f"{path.name} is not a readable pickle: {type(e).__name__}: {e}"
        ) from e
    if not isinstance(record, dict) or "network" not in record:
        raise SubmissionError(
            f"{path.name} must hold a dict with a 'network' entry (the model parameters)"
        )
    return record["network"]


def load_config(folder: Path) -> dict:
    """``train_config`` of the submission's config.yaml (only ``network_config`` is used)."""
    path = folder / "config.yaml"
    if not path.is_file():
        raise SubmissionError("the submission has no config.yaml next to its checkpoints")
    try:
        config = yaml.safe_load(path.read_text())
        network = dict(config["train_config"]["network_config"])
    except Exception as e:
        raise SubmissionError(
            f"config.yaml has no readable train_config.network_config: {e}"
        ) from e
    return {"network_config": network}


def check_params(template: Any, params: Any, name: str) -> Any:
    """``params`` as float32 arrays, after checking they have the template's structure and shapes."""

    try:
        params = jax.tree.map(lambda _, p: np.asarray(p, dtype=np.float32), template, params)
    except Exception as e:
        raise SubmissionError(
            f"{name}: the parameters do not match the Model built from config.yaml's network_config: {e}"
        ) from e
    for (where, want), got in zip(
        jax.tree_util.tree_leaves_with_path(template), jax.tree.leaves(params), strict=True
    ):
        if want.shape != got.shape:
            raise SubmissionError(
                f"{name}: parameter {jax.tree_util.keystr(where)} has shape {got.shape}, "
                f"the Model built from config.yaml's network_config expects {want.shape}"
            )
        if not np.all(np.isfinite(got)):
            raise SubmissionError(
                f"{name}: parameter {jax.tree_util.keystr(where)} holds non-finite values"
            )
    return params


def build_model(env_name: str, network_config: dict) -> tuple[Any, Any, Any, Any]:
    """The environment, its parameters, the Model and a template parameter tree."""

    env, env_params = gymnax.make(env_name)
    action_space = env.action_space(env_params)
    continuous = not isinstance(action_space, spaces.Discrete)
    outputs = int(action_space.shape[0]) if continuous else int(action_space.n)
    allowed = {"num_hidden_units", "num_hidden_layers", "min_std", "flatten_3d"}
    unknown = sorted(set(network_config) - allowed)
    if unknown:
        raise SubmissionError(
            f"network_config has unknown keys {unknown}; allowed: {sorted(allowed)}"
        )
    try:
        model = Model(num_output_units=outputs, continuous=continuous, **network_config)
        obs = jnp.zeros(env.observation_space(env_params).shape, jnp.float32)
        template = model.init(jax.random.PRNGKey(0), obs)
    except Exception as e:
        raise SubmissionError(
            f"cannot build the Model from network_config {network_config}: {e}"
        ) from e
    return env, env_params, model, template


def mean_returns(
    env: Any,
    env_params: Any,
    model: Any,
    stacked: Any,
    seeds: list[int],
    num_envs: int,
    horizon: int,
):
    """Returns of every (checkpoint, seed, environment): shape (checkpoints, seeds, num_envs)."""

    step_envs = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    reset_envs = jax.vmap(env.reset, in_axes=(0, None))

    def rollout(params: Any, key: jax.Array) -> jax.Array:
        reset_key, key = jax.random.split(key)
        obs, state = reset_envs(jax.random.split(reset_key, num_envs), env_params)

        def step(carry: tuple, _: None) -> tuple[tuple, None]:
            obs, state, key, total, alive = carry
            key, act_key, step_key = jax.random.split(key, 3)
            _, pi = model.apply(params, obs)
            action = pi.sample(seed=act_key)
            obs, state, reward, terminated, truncated, _ = step_envs(
                jax.random.split(step_key, num_envs), state, action, env_params
            )
            total = total + reward * alive
            alive = alive * (1.0 - jnp.logical_or(terminated, truncated))
            return (obs, state, key, total, alive), None

        init = (obs, state, key, jnp.zeros(num_envs), jnp.ones(num_envs))
        (_, _, _, total, _), _ = jax.lax.scan(step, init, None, horizon)
        return total

    keys = jnp.stack([jax.random.PRNGKey(s) for s in seeds])
    per_seed = jax.vmap(rollout, in_axes=(None, 0))
    return jax.jit(jax.vmap(per_seed, in_axes=(0, None)))(stacked, keys)


def score(submission: Path, protocol: dict, budget: float) -> dict[str, float]:
    """The metrics of a submission under one split's protocol."""

    if not submission.is_dir():
        raise SubmissionError(
            f"the submission must be a folder (checkpoints/), found {'a file' if submission.exists() else 'nothing'}"
        )
    files = sorted(submission.glob("*.pkl"))
    if len(files) != NUM_CHECKPOINTS:
        raise SubmissionError(
            f"expected {NUM_CHECKPOINTS} checkpoint files (*.pkl) in checkpoints/, found {len(files)}"
        )
    config = load_config(submission)
    env, env_params, model, template = build_model(protocol["env"], config["network_config"])
    params = [check_params(template, load_checkpoint(f), f.name) for f in files]
    stacked = jax.tree.map(lambda *leaves: np.stack(leaves), *params)
    num_envs = max(8, round(int(protocol["num_envs"]) * budget))
    returns = np.asarray(
        mean_returns(
            env,
            env_params,
            model,
            stacked,
            list(protocol["seeds"]),
            num_envs,
            int(protocol["horizon"]),
        )
    )
    return {"reward_mean": float(returns.mean()), "reward_std": float(returns.std())}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--submission", required=True, type=Path)
    parser.add_argument("--split", required=True, choices=["validation", "test"])
    parser.add_argument("--data", action="append", default=[])
    args = parser.parse_args()
    data = dict(item.split("=", 1) for item in args.data)
    protocol = json.loads(Path(data["seeds"]).read_text())
    trained = yaml.safe_load((STARTER / "config.yaml").read_text())["train_config"]["env_name"]
    if protocol["env"] != trained:
        sys.exit(f"the seeds file is for {protocol['env']}, the task trains for {trained}")
    try:
        metrics = score(args.submission, protocol, float(os.environ.get("KUBEGYM_BUDGET", "1")))
    except SubmissionError as e:
        sys.exit(f"invalid submission: {e}")
    if not all(math.isfinite(v) for v in metrics.values()):
        sys.exit(f"the evaluation gave non-finite metrics {metrics}")
    kubegym_eval.report(metrics)


if __name__ == "__main__":
    main()
