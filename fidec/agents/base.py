"""The agent interface: ``init``, ``update``, ``sample_actions``, ``diagnostics`` — pure functions of a state.

An agent object holds only static things (config, networks, dimensions); everything that changes is in
:class:`~fidec.agents.common.AgentState`, so updates can be jit-compiled, scanned and vmapped over seeds.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from fidec.agents.common import AgentState, Batch, apply_gradients, make_optimizer, polyak
from fidec.config import Config
from fidec.flows import VelocityField, euler_sample, flow_matching_loss
from fidec.networks import CriticEnsemble


class Agent:
    name = "agent"

    def __init__(self, config: Config, obs_dim: int, action_dim: int):
        self.config = config
        self.obs_dim = obs_dim
        self.action_dim = action_dim
        self.flow_net = VelocityField(config.hidden_dims, action_dim)
        self.critic_net = CriticEnsemble(config.hidden_dims)

    # --- to be provided by subclasses
    def init_params(self, key) -> dict:
        raise NotImplementedError

    def update(self, state: AgentState, batch: Batch) -> tuple[AgentState, dict]:
        raise NotImplementedError

    def sample_actions(self, params: dict, obs: jax.Array, key: jax.Array) -> jax.Array:
        raise NotImplementedError

    @property
    def has_critic(self) -> bool:
        return True

    # --- shared
    def init(self, key: jax.Array) -> AgentState:
        k_params, k_rng = jax.random.split(key)
        params = self.init_params(k_params)
        self.tx = make_optimizer(self.config, params)
        target = params["critic"] if self.has_critic else None
        return AgentState(
            params=params,
            target_params=target,
            opt_state=self.tx.init(params),
            rng=k_rng,
            step=jnp.zeros((), jnp.int32),
        )

    def apply_update(self, state: AgentState, grads: dict, rng: jax.Array) -> AgentState:
        """Adam step on every network, Polyak step on the target critic (if any), new RNG, step + 1."""
        params, opt_state = apply_gradients(self.tx, state, grads)
        target = polyak(state.target_params, params["critic"], self.config.tau) if self.has_critic else None
        return state.replace(params=params, target_params=target, opt_state=opt_state, rng=rng, step=state.step + 1)

    def _dummy(self):
        return jnp.zeros((1, self.obs_dim)), jnp.zeros((1, self.action_dim)), jnp.zeros((1, 1))

    def _init_flow_and_critic(self, key) -> dict:
        k_flow, k_critic = jax.random.split(key)
        obs, act, t = self._dummy()
        return {
            "flow": self.flow_net.init(k_flow, obs, act, t)["params"],
            "critic": self.critic_net.init(k_critic, obs, act)["params"],
        }

    def velocity(self, flow_params):
        """v(obs, x, t) closed over ``flow_params``."""
        return lambda obs, x, t: self.flow_net.apply({"params": flow_params}, obs, x, t)

    def critic(self, critic_params, obs, actions):
        return self.critic_net.apply({"params": critic_params}, obs, actions)

    def base_actions(self, flow_params, obs, noise):
        """a_beta(s, z): K Euler steps of the behaviour flow from ``noise``, clipped to [-1, 1]."""
        return euler_sample(self.velocity(flow_params), obs, noise, self.config.flow_steps)

    def flow_loss(self, flow_params, batch: Batch, key) -> jax.Array:
        return flow_matching_loss(self.velocity(flow_params), batch["observations"], batch["actions"], key)

    def act(self, params: dict, obs, key) -> jax.Array:
        """Actions for one observation (obs_dim,) or a batch (B, obs_dim)."""
        obs = jnp.asarray(obs, jnp.float32)
        single = obs.ndim == 1
        a = self.sample_actions(params, obs[None] if single else obs, key)
        return a[0] if single else a

    def diagnostics(self, state: AgentState, batch: Batch, key) -> dict:
        """Log-time diagnostics (extra ODE solves allowed here, never in ``update``)."""
        actions = self.sample_actions(state.params, batch["observations"], key)
        return {"policy_mse_to_data": jnp.mean((actions - batch["actions"]) ** 2)}
