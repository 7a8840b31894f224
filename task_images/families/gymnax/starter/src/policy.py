"""PPO for gymnax environments: rollouts, generalised advantage estimation and clipped updates.

`train.py` calls `make_train(config, model)` and runs the returned function once per
model seed. The whole training loop is one `jax.lax.scan`, so it compiles once and
runs without Python in the loop. The hyper-parameters are the keys of
`config.yaml`'s `train_config` (MLGym's names).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import flax.linen as nn
import gymnax
import jax
import jax.numpy as jnp
import optax


class Transition(NamedTuple):
    """One environment step of a batch of environments."""

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    done: jax.Array
    log_prob: jax.Array
    value: jax.Array


def num_updates(config: dict) -> int:
    """How many PPO updates `num_train_steps` environment steps make (at least one)."""
    per_update = int(config["num_train_envs"]) * int(config["n_steps"])
    return max(1, int(config["num_train_steps"]) // per_update)


def make_optimizer(config: dict) -> optax.GradientTransformation:
    """Adam with global-norm clipping and a linear learning-rate ramp from lr_begin to lr_end."""
    ramp = max(1, int(float(config["num_train_steps"]) * float(config["lr_warmup"])))
    schedule = optax.linear_schedule(float(config["lr_begin"]), float(config["lr_end"]), ramp)
    return optax.chain(
        optax.clip_by_global_norm(float(config["max_grad_norm"])),
        optax.scale_by_adam(eps=1e-5),
        optax.scale_by_schedule(lambda count: -schedule(count)),
    )


def advantages(
    traj: Transition, last_value: jax.Array, gamma: float, lam: float
) -> tuple[jax.Array, jax.Array]:
    """GAE(gamma, lambda) advantages and value targets, scanning the rollout backwards."""

    def back(
        carry: tuple[jax.Array, jax.Array], step: Transition
    ) -> tuple[tuple[jax.Array, jax.Array], jax.Array]:
        gae, next_value = carry
        alive = 1.0 - step.done
        delta = step.reward + gamma * next_value * alive - step.value
        gae = delta + gamma * lam * alive * gae
        return (gae, step.value), gae

    _, adv = jax.lax.scan(back, (jnp.zeros_like(last_value), last_value), traj, reverse=True)
    return adv, adv + traj.value


def ppo_loss(
    params: Any,
    apply_fn: Callable[..., Any],
    batch: tuple[Transition, jax.Array, jax.Array],
    config: dict,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The clipped PPO objective, a clipped value loss and an entropy bonus."""
    traj, adv, target = batch
    clip = float(config["clip_eps"])
    value, pi = apply_fn(params, traj.obs)
    value = value[:, 0]
    log_prob = pi.log_prob(traj.action)

    value_clipped = traj.value + jnp.clip(value - traj.value, -clip, clip)
    value_loss = (
        0.5 * jnp.maximum(jnp.square(value - target), jnp.square(value_clipped - target)).mean()
    )

    ratio = jnp.exp(log_prob - traj.log_prob)
    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    actor_loss = -jnp.minimum(ratio * adv, jnp.clip(ratio, 1.0 - clip, 1.0 + clip) * adv).mean()
    entropy = pi.entropy().mean()

    total = (
        actor_loss
        + float(config["critic_coeff"]) * value_loss
        - float(config["entropy_coeff"]) * entropy
    )
    return total, {"value_loss": value_loss, "actor_loss": actor_loss, "entropy": entropy}


def make_train(
    config: dict, model: nn.Module
) -> Callable[[jax.Array, Any], tuple[Any, dict[str, jax.Array]]]:
    """A jit-able ``train(rng, params) -> (params, logs)`` for the environment in `config`.

    ``logs["episode_return"][u]`` is the mean return of the episodes that ended during
    update ``u`` (NaN when none ended).
    """
    env, env_params = gymnax.make(config["env_name"])
    n_envs, n_steps = int(config["num_train_envs"]), int(config["n_steps"])
    n_minibatch, n_epochs = int(config["n_minibatch"]), int(config["epoch_ppo"])
    batch_size = n_envs * n_steps
    if batch_size % n_minibatch:
        raise ValueError(
            f"num_train_envs * n_steps ({batch_size}) must divide into n_minibatch ({n_minibatch})"
        )
    gamma, lam = float(config["gamma"]), float(config["gae_lambda"])
    tx = make_optimizer(config)
    step_envs = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    reset_envs = jax.vmap(env.reset, in_axes=(0, None))

    def train(rng: jax.Array, params: Any) -> tuple[Any, dict[str, jax.Array]]:
        opt_state = tx.init(params)
        rng, reset_key = jax.random.split(rng)
        obs, state = reset_envs(jax.random.split(reset_key, n_envs), env_params)
        running = jnp.zeros(n_envs)

        def env_step(
            carry: tuple, _: None
        ) -> tuple[tuple, tuple[Transition, jax.Array, jax.Array]]:
            params, obs, state, running, rng = carry
            rng, act_key, step_key = jax.random.split(rng, 3)
            value, pi = model.apply(params, obs)
            action = pi.sample(seed=act_key)
            log_prob = pi.log_prob(action)
            next_obs, next_state, reward, terminated, truncated, _ = step_envs(
                jax.random.split(step_key, n_envs), state, action, env_params
            )
            done = jnp.logical_or(terminated, truncated).astype(jnp.float32)
            running = running + reward
            finished = (running * done, done)
            running = running * (1.0 - done)
            step = Transition(obs, action, reward.astype(jnp.float32), done, log_prob, value[:, 0])
            return (params, next_obs, next_state, running, rng), (step, *finished)

        def minibatch_step(carry: tuple, batch: tuple) -> tuple[tuple, dict[str, jax.Array]]:
            params, opt_state = carry
            grads, info = jax.grad(ppo_loss, has_aux=True)(params, model.apply, batch, config)
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), info

        def epoch(carry: tuple, _: None) -> tuple[tuple, dict[str, jax.Array]]:
            params, opt_state, data, rng = carry
            rng, perm_key = jax.random.split(rng)
            order = jax.random.permutation(perm_key, batch_size)
            shuffled = jax.tree.map(
                lambda x: x[order].reshape(n_minibatch, batch_size // n_minibatch, *x.shape[1:]),
                data,
            )
            (params, opt_state), info = jax.lax.scan(minibatch_step, (params, opt_state), shuffled)
            return (params, opt_state, data, rng), info

        def update(carry: tuple, _: None) -> tuple[tuple, dict[str, jax.Array]]:
            params, opt_state, obs, state, running, rng = carry
            (_, obs, state, running, rng), (traj, ended_return, ended) = jax.lax.scan(
                env_step, (params, obs, state, running, rng), None, n_steps
            )
            last_value, _ = model.apply(params, obs)
            adv, target = advantages(traj, last_value[:, 0], gamma, lam)
            data = jax.tree.map(lambda x: x.reshape(batch_size, *x.shape[2:]), (traj, adv, target))
            rng, epoch_key = jax.random.split(rng)
            (params, opt_state, _, _), info = jax.lax.scan(
                epoch, (params, opt_state, data, epoch_key), None, n_epochs
            )
            logs = jax.tree.map(jnp.mean, info)
            logs["episode_return"] = ended_return.sum() / jnp.where(
                ended.sum() > 0, ended.sum(), jnp.nan
            )
            return (params, opt_state, obs, state, running, rng), logs

        carry = (params, opt_state, obs, state, running, rng)
        (params, *_), logs = jax.lax.scan(update, carry, None, num_updates(config))
        return params, logs

    return train
