"""Scores a Breakout-MinAtar submission: the mean return of its 5 PPO checkpoints over evaluation episodes.

Usage: evaluate.py --submission checkpoints/ --split validation|test --data seeds=SEEDS.json

The submission is a folder holding ``config.yaml`` (with ``train_config.network_config``)
and five ``*.pkl`` checkpoints, each a pickled dict whose ``network`` entry is the
parameter tree of the starter code's ``Model``. The evaluator rebuilds that network
itself (it runs none of the submission's code, and unpickles only plain containers
and numpy arrays), then, as MLGym does, rolls out every checkpoint for a fixed
number of steps in ``num_envs`` environments per evaluation seed, summing each
environment's rewards until its first episode ends. The seeds, the number of
environments and the horizon come from the split's JSON file (made by prepare.py);
``KUBEGYM_BUDGET`` (default 1) scales the number of environments. Prints
``{"reward_mean": ..., "reward_std": ...}`` as the last line; exits non-zero with
the reason when the submission is missing or malformed.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import pickle
import sys
from pathlib import Path
from typing import Any

import distrax
import flax.linen as nn
import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import yaml
from gymnax.environments import spaces

try:
    import kubegym_eval  # the scorer puts its folder on PYTHONPATH: the metrics go to its pipe
except ImportError:  # run by hand: it ships in the kubegym package (and this repository)
    import importlib.util

    _kubegym = importlib.util.find_spec("kubegym")
    _roots = list(_kubegym.submodule_search_locations or []) if _kubegym else []
    _roots.append(str(Path(__file__).resolve().parent.parent.parent / "kubegym"))
    sys.path += [str(Path(root, "evaluator", "kit")) for root in _roots]
    import kubegym_eval

NUM_CHECKPOINTS = 5
ENV_NAME = "Breakout-MinAtar"


def _bias_init() -> nn.initializers.Initializer:
    return nn.initializers.uniform(0.05)


class Model(nn.Module):
    """The starter code's actor-critic network (src/networks.py), rebuilt here so that no
    submitted code runs in the evaluator; parameter names and shapes must match it."""

    num_output_units: int
    num_hidden_units: int
    num_hidden_layers: int
    continuous: bool = False
    min_std: float = 0.001
    flatten_3d: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, distrax.Distribution]:
        x = x.astype(jnp.float32)
        if self.flatten_3d and x.ndim >= 3:
            x = x.reshape(-1) if x.ndim == 3 else x.reshape(x.shape[0], -1)
        h_v = x
        for i in range(self.num_hidden_layers):
            h_v = nn.relu(
                nn.Dense(self.num_hidden_units, name=f"critic_fc_{i + 1}", bias_init=_bias_init())(
                    h_v
                )
            )
        value = nn.Dense(1, name="critic_fc_v", bias_init=_bias_init())(h_v)
        h_a = x
        for i in range(self.num_hidden_layers):
            h_a = nn.relu(
                nn.Dense(self.num_hidden_units, name=f"actor_fc_{i + 1}", bias_init=_bias_init())(
                    h_a
                )
            )
        if self.continuous:
            mu = nn.Dense(self.num_output_units, name="actor_fc_mu", bias_init=_bias_init())(h_a)
            raw_scale = nn.Dense(
                self.num_output_units, name="actor_fc_scale", bias_init=_bias_init()
            )(h_a)
            pi: distrax.Distribution = distrax.MultivariateNormalDiag(
                mu, jax.nn.softplus(raw_scale) + self.min_std
            )
        else:
            logits = nn.Dense(
                self.num_output_units, name="actor_fc_logits", bias_init=_bias_init()
            )(h_a)
            pi = distrax.Categorical(logits=logits)
        return value, pi


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


def build_model(network_config: dict) -> tuple[Any, Any, Any, Any]:
    """The environment, its parameters, the Model and a template parameter tree."""

    env, env_params = gymnax.make(ENV_NAME)
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
    env, env_params, model, template = build_model(config["network_config"])
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
    if protocol["env"] != ENV_NAME:
        sys.exit(f"the seeds file is for {protocol['env']}, not {ENV_NAME}")
    try:
        metrics = score(args.submission, protocol, float(os.environ.get("KUBEGYM_BUDGET", "1")))
    except SubmissionError as e:
        sys.exit(f"invalid submission: {e}")
    if not all(math.isfinite(v) for v in metrics.values()):
        sys.exit(f"the evaluation gave non-finite metrics {metrics}")
    kubegym_eval.report(metrics)


if __name__ == "__main__":
    main()
