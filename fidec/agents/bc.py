"""Flow behaviour cloning: the behaviour flow alone, acting with K Euler steps."""

from __future__ import annotations

import jax

from fidec.agents.base import Agent


class BCAgent(Agent):
    name = "bc"

    @property
    def has_critic(self) -> bool:
        return False

    def __init__(self, config, obs_dim, action_dim):
        super().__init__(config, obs_dim, action_dim)

    def init_params(self, key):
        obs, act, t = self._dummy()
        return {"flow": self.init_net(key, self.flow_net, obs, act, t)}

    def draw_noise(self, key, batch):
        return {"fm": self.flow_noise(key, batch)}

    def losses(self, params, state, batch, noise):
        loss = self.flow_loss(params["flow"], batch, noise=noise["fm"])
        return loss, {"flow_loss": loss}

    def sample_actions(self, params, obs, key):
        noise = jax.random.normal(key, (obs.shape[0], self.action_dim))
        return self.base_actions(params["flow"], obs, noise)
