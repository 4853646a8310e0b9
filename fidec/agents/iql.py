"""Implicit Q-Learning (IQL; Kostrikov et al., 2022) with advantage-weighted regression, as FQL's ``agents/iql.py``.

Three networks, one optimiser, one total loss:

- value: ``E[L_tau(min_j Q_target_j(s, a) - V(s))]``, the expectile loss ``|tau - 1(u < 0)| u^2``;
- critic: ``sum_j E[(Q_j(s, a) - (r + discount * mask * V(s')))^2]`` (no policy in the target);
- actor (AWR): ``-E[min(exp(iql_alpha * (min_j Q_j(s, a) - V(s))), 100) * log pi(a | s)]`` with a Gaussian
  policy (:class:`~fidec.networks.GaussianActor`; FQL: std 1, no tanh).

The target critic (Polyak, ``tau``) is read by the value loss only. Acting: the mean, clipped to [-1, 1] (FQL's
evaluation, temperature 0); online exploration samples the Gaussian (FQL's temperature 1).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from fidec.agents.base import Agent
from fidec.networks import GaussianActor, ValueNet

#: FQL's ``agents/iql.py``: ``exp_a = jnp.minimum(exp_a, 100.0)``.
AWR_WEIGHT_MAX = 100.0


def expectile_loss(diff: jax.Array, expectile: float) -> jax.Array:
    """``|expectile - 1(diff < 0)| * diff^2`` elementwise: weight ``expectile`` where Q >= V, ``1 - expectile``
    below (FQL's ``expectile_loss(adv, diff, expectile)`` with ``adv = diff``)."""
    weight = jnp.where(diff >= 0, expectile, 1.0 - expectile)
    return weight * diff**2


def awr_weights(adv: jax.Array, temperature: float) -> jax.Array:
    """``min(exp(temperature * adv), 100)``: the advantage-weighted regression weights, clipped."""
    return jnp.minimum(jnp.exp(adv * temperature), AWR_WEIGHT_MAX)


def gaussian_log_prob(actions, mean, log_std) -> jax.Array:
    """log N(actions; mean, diag(exp(log_std))^2), summed over the action dimensions."""
    z = (actions - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * z**2 - log_std - 0.5 * jnp.log(2 * jnp.pi), axis=-1)


def q_min(q: jax.Array, agg: str) -> jax.Array:
    """The ensemble's (2, batch) Q aggregated over its heads: ``min`` (clipped double Q, the paper preset) or mean."""
    return jnp.min(q, axis=0) if agg == "min" else jnp.mean(q, axis=0)


class IQLAgent(Agent):
    name = "iql"

    def __init__(self, config, obs_dim, action_dim):
        super().__init__(config, obs_dim, action_dim)
        self.value_net = ValueNet(config.hidden_dims, weight_init=config.weight_init)
        self.actor_net = GaussianActor(
            config.hidden_dims, action_dim, const_std=config.iql_const_std, weight_init=config.weight_init
        )

    def init_params(self, key):
        k_value, k_critic, k_actor = jax.random.split(key, 3)
        obs, act, _ = self._dummy()
        return {
            "value": self.init_net(k_value, self.value_net, obs),
            "critic": self.init_net(k_critic, self.critic_net, obs, act),
            "actor": self.init_net(k_actor, self.actor_net, obs),
        }

    def value(self, value_params, obs):
        return self.value_net.apply({"params": self.mlp_params(value_params)}, self.features(value_params, obs))

    def actor(self, actor_params, obs):
        """(mean, log_std) of pi(. | s), each (batch, action_dim)."""
        return self.actor_net.apply({"params": self.mlp_params(actor_params)}, self.features(actor_params, obs))

    def draw_noise(self, key, batch):
        return {}  # AWR draws nothing: every term is a function of the batch

    def losses(self, params, state, batch, noise):
        c = self.config
        p = state.params
        obs, actions = batch["observations"], batch["actions"]

        # value: expectile regression of V(s) onto the target critic's Q(s, a)
        q_target = q_min(self.critic(state.target_params, obs, actions), c.q_agg)
        v = self.value(params["value"], obs)
        v_loss = jnp.mean(expectile_loss(q_target - v, c.iql_expectile))

        # critic: regression onto r + discount * mask * V(s'), V without gradient
        target = batch["rewards"] + c.discount * batch["masks"] * self.value(p["value"], batch["next_observations"])
        q_data = self.critic(params["critic"], obs, actions)
        c_loss = jnp.mean(jnp.sum((q_data - jax.lax.stop_gradient(target)[None]) ** 2, axis=0))

        # actor: advantage-weighted regression, Q and V without gradient
        adv = q_min(self.critic(p["critic"], obs, actions), c.q_agg) - self.value(p["value"], obs)
        weights = awr_weights(adv, c.iql_alpha)
        mean, log_std = self.actor(params["actor"], obs)
        log_prob = gaussian_log_prob(actions, mean, log_std)
        a_loss = -jnp.mean(weights * log_prob)
        return v_loss + c_loss + a_loss, {
            "value_loss": v_loss,
            "critic_loss": c_loss,
            "actor_loss": a_loss,
            "v_mean": jnp.mean(v),
            "q_data": jnp.mean(q_data),
            "td_target": jnp.mean(target),
            "adv": jnp.mean(adv),
            "awr_weight": jnp.mean(weights),
            "bc_log_prob": jnp.mean(log_prob),
            "std": jnp.mean(jnp.exp(log_std)),
        }

    def sample_actions(self, params, obs, key):
        mean, _ = self.actor(params["actor"], obs)
        return jnp.clip(mean, -1.0, 1.0)

    def exploration_actions(self, params, obs, key):
        mean, log_std = self.actor(params["actor"], obs)
        return jnp.clip(mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape), -1.0, 1.0)
