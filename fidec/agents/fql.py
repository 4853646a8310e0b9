"""Flow Q-Learning (FQL): a one-step policy distilled from the behaviour flow and pushed up the critic.

Actor loss: ``fql_alpha * mean ||mu(s, z) - a_beta(s, z)||^2 / d - E[Q(s, clip(mu(s, z)))]``, plus the
flow-matching loss for the behaviour flow.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from fidec.agents.base import Agent
from fidec.agents.common import critic_loss, q_objective, td_target
from fidec.networks import OneStepPolicy


def distillation_loss(onestep_actions, flow_actions) -> jax.Array:
    """Mean over batch and dims of (mu(s, z) - a_beta(s, z))^2; the flow's actions carry no gradient."""
    return jnp.mean((onestep_actions - jax.lax.stop_gradient(flow_actions)) ** 2)


class FQLAgent(Agent):
    name = "fql"

    def __init__(self, config, obs_dim, action_dim):
        super().__init__(config, obs_dim, action_dim)
        self.onestep_net = OneStepPolicy(config.hidden_dims, action_dim)

    def init_params(self, key):
        k_fc, k_one = jax.random.split(key)
        params = self._init_flow_and_critic(k_fc)
        obs, act, _ = self._dummy()
        params["onestep"] = self.onestep_net.init(k_one, obs, act)["params"]
        return params

    def onestep(self, params, obs, noise):
        return self.onestep_net.apply({"params": params}, obs, noise)

    def update(self, state, batch):
        c = self.config
        rng, k_next, k_z, k_fm = jax.random.split(state.rng, 4)
        p = state.params
        obs, next_obs = batch["observations"], batch["next_observations"]
        shape = batch["actions"].shape
        next_a = jnp.clip(self.onestep(p["onestep"], next_obs, jax.random.normal(k_next, shape)), -1.0, 1.0)
        target = td_target(
            batch["rewards"],
            batch["masks"],
            self.critic(state.target_params, next_obs, next_a),
            c.discount,
            c.q_agg,
        )
        z = jax.random.normal(k_z, shape)
        flow_a = self.base_actions(p["flow"], obs, z)  # distillation target, no gradient

        def loss_fn(params):
            q_data = self.critic(params["critic"], obs, batch["actions"])
            c_loss = critic_loss(q_data, target)
            mu = self.onestep(params["onestep"], obs, z)
            distill = distillation_loss(mu, flow_a)
            q_pi = jnp.mean(self.critic(jax.lax.stop_gradient(params["critic"]), obs, jnp.clip(mu, -1, 1)), 0)
            a_loss = c.fql_alpha * distill - q_objective(q_pi, c.normalize_q)
            f_loss = self.flow_loss(params["flow"], batch, k_fm)
            return c_loss + a_loss + f_loss, {
                "critic_loss": c_loss,
                "actor_loss": a_loss,
                "flow_loss": f_loss,
                "distill_loss": distill,
                "q_data": jnp.mean(q_data),
                "q_policy": jnp.mean(q_pi),
                "td_target": jnp.mean(target),
            }

        grads, info = jax.grad(loss_fn, has_aux=True)(p)
        return self.apply_update(state, grads, rng), info

    def sample_actions(self, params, obs, key):
        noise = jax.random.normal(key, (obs.shape[0], self.action_dim))
        return jnp.clip(self.onestep(params["onestep"], obs, noise), -1.0, 1.0)
