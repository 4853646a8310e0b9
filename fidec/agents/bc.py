"""Flow behaviour cloning: the behaviour flow alone, acting with K Euler steps."""

from __future__ import annotations

import jax

from fidec.agents.base import Agent
from fidec.flows import VelocityField


class BCAgent(Agent):
    name = "bc"

    @property
    def has_critic(self) -> bool:
        return False

    def __init__(self, config, obs_dim, action_dim):
        super().__init__(config, obs_dim, action_dim)
        self.flow_net = VelocityField(config.hidden_dims, action_dim)

    def init_params(self, key):
        obs, act, t = self._dummy()
        return {"flow": self.flow_net.init(key, obs, act, t)["params"]}

    def update(self, state, batch):
        rng, k_fm = jax.random.split(state.rng)
        loss, grads = jax.value_and_grad(lambda p: self.flow_loss(p["flow"], batch, k_fm))(state.params)
        return self.apply_update(state, grads, rng), {"flow_loss": loss}

    def sample_actions(self, params, obs, key):
        noise = jax.random.normal(key, (obs.shape[0], self.action_dim))
        return self.base_actions(params["flow"], obs, noise)
