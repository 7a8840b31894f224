"""The actor-critic network of the PPO baseline, and how to build it for the task's environment.

`train.py` and `policy.py` call `get_model_ready`; the evaluator rebuilds the same
network from `config.yaml`'s `network_config` and loads the saved parameters into it,
so the class name `Model`, its fields and its layer names must stay as they are
(change the sizes in `config.yaml` freely).
"""

from __future__ import annotations

import distrax
import flax.linen as nn
import gymnax
import jax
import jax.numpy as jnp
from gymnax.environments import spaces


def get_model_ready(rng: jax.Array, config: dict) -> tuple[Model, dict]:
    """A `Model` sized for the environment in `config["env_name"]`, and its initial parameters."""
    env, env_params = gymnax.make(config["env_name"])
    action_space = env.action_space(env_params)
    continuous = not isinstance(action_space, spaces.Discrete)
    outputs = int(action_space.shape[0]) if continuous else int(action_space.n)
    model = Model(num_output_units=outputs, continuous=continuous, **config["network_config"])
    obs_shape = env.observation_space(env_params).shape
    params = model.init(rng, jnp.zeros(obs_shape, jnp.float32))
    return model, params


def _bias_init() -> nn.initializers.Initializer:
    # Small uniform biases, as in the gymnax-blines PPO networks MLGym ships.
    return nn.initializers.uniform(0.05)


class Model(nn.Module):
    """Separate actor and critic MLPs; a categorical or diagonal-Gaussian policy head.

    Returns ``(value, pi)``: the critic's value of shape ``(..., 1)`` and a distrax
    distribution over actions.
    """

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
            # One (H, W, C) image, or a batch of them.
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
            scale = jax.nn.softplus(raw_scale) + self.min_std
            pi: distrax.Distribution = distrax.MultivariateNormalDiag(mu, scale)
        else:
            logits = nn.Dense(
                self.num_output_units, name="actor_fc_logits", bias_init=_bias_init()
            )(h_a)
            pi = distrax.Categorical(logits=logits)
        return value, pi
