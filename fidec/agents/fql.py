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
        self.onestep_net = OneStepPolicy(config.hidden_dims, action_dim, weight_init=config.weight_init)

    def init_params(self, key):
        k_fc, k_one = jax.random.split(key)
        params = self._init_flow_and_critic(k_fc)
        obs, act, _ = self._dummy()
        params["onestep"] = self.init_net(k_one, self.onestep_net, obs, act)
        return params

    def onestep(self, params, obs, noise):
        """mu_omega(s, z); with pixels it reads its own encoder's features (FQL's ``actor_onestep_flow`` encoder)."""
        return self.onestep_net.apply({"params": self.mlp_params(params)}, self.features(params, obs), noise)

    def draw_noise(self, key, batch):
        k_next, k_z, k_fm = jax.random.split(key, 3)
        shape = batch["actions"].shape
        return {
            "next": jax.random.normal(k_next, shape),  # the one-step policy's noise at s' (critic target)
            "z": jax.random.normal(k_z, shape),  # the distillation's shared noise
            "fm": self.flow_noise(k_fm, batch),
        }

    def losses(self, params, state, batch, noise):
        c = self.config
        p = state.params
        obs, next_obs = batch["observations"], batch["next_observations"]
        next_a = jnp.clip(self.onestep(p["onestep"], next_obs, noise["next"]), -1.0, 1.0)
        target = td_target(
            batch["rewards"],
            batch["masks"],
            self.critic(state.target_params, next_obs, next_a),
            c.discount,
            c.q_agg,
        )
        z = noise["z"]
        flow_a = self.base_actions(p["flow"], obs, z)  # distillation target, no gradient

        q_data = self.critic(params["critic"], obs, batch["actions"])
        c_loss = critic_loss(q_data, target)
        mu = self.onestep(params["onestep"], obs, z)
        distill = distillation_loss(mu, flow_a)
        q_pi = jnp.mean(self.critic(p["critic"], obs, jnp.clip(mu, -1, 1)), 0)
        a_loss = c.fql_alpha * distill - q_objective(q_pi, c.normalize_q)
        f_loss = self.flow_loss(params["flow"], batch, noise=noise["fm"])
        return c_loss + a_loss + f_loss, {
            "critic_loss": c_loss,
            "actor_loss": a_loss,
            "flow_loss": f_loss,
            "distill_loss": distill,
            "q_data": jnp.mean(q_data),
            "q_policy": jnp.mean(q_pi),
            "td_target": jnp.mean(target),
        }

    def sample_actions(self, params, obs, key):
        noise = jax.random.normal(key, (obs.shape[0], self.action_dim))
        return jnp.clip(self.onestep(params["onestep"], obs, noise), -1.0, 1.0)
