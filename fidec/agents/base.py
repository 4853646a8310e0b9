"""The agent interface: ``init``, ``update``, ``sample_actions``, ``diagnostics`` — pure functions of a state.

An agent object holds only static things (config, networks, dimensions); everything that changes is in
:class:`~fidec.agents.common.AgentState`, so updates can be jit-compiled, scanned and vmapped over seeds.

One update is ``draw_noise`` (every random draw of the step, as a dict of arrays) then ``losses`` (a pure
function of the parameters, the batch and that noise) differentiated once. The split lets the parity harness
(``benchmarks/parity``) feed the authors' release and fidec the very same noise.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from fidec.agents.common import AgentState, Batch, apply_gradients, grad_norms, make_optimizer, polyak
from fidec.config import Config
from fidec.flows import VelocityField, euler_sample, flow_matching_loss, flow_matching_noise
from fidec.networks import CriticEnsemble


class Agent:
    name = "agent"

    def __init__(self, config: Config, obs_dim: int, action_dim: int):
        self.config = config
        self.obs_dim = obs_dim
        self.action_dim = action_dim
        self.flow_net = VelocityField(config.hidden_dims, action_dim, weight_init=config.weight_init)
        self.critic_net = CriticEnsemble(config.hidden_dims, weight_init=config.weight_init)

    # --- to be provided by subclasses
    def init_params(self, key) -> dict:
        raise NotImplementedError

    def draw_noise(self, key: jax.Array, batch: Batch) -> dict:
        """Every random draw of one update, by name."""
        raise NotImplementedError

    def losses(self, params: dict, state: AgentState, batch: Batch, noise: dict) -> tuple[jax.Array, dict]:
        """The total loss (differentiated with respect to ``params``) and its named terms. Forward-only work
        (targets, base actions, the Fisher metric) reads ``state.params``, so it carries no gradient."""
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

    def update(self, state: AgentState, batch: Batch) -> tuple[AgentState, dict]:
        """One gradient step on every network: noise, losses, gradients, clip + Adam, Polyak target."""
        rng, key = jax.random.split(state.rng)
        return self.update_with_noise(state, batch, self.draw_noise(key, batch), rng)

    def update_with_noise(self, state: AgentState, batch: Batch, noise: dict, rng=None) -> tuple[AgentState, dict]:
        grads, info = jax.grad(self.losses, has_aux=True)(state.params, state, batch, noise)
        info.update(grad_norms(grads))
        return self.apply_update(state, grads, state.rng if rng is None else rng), info

    def loss_terms(self, state: AgentState, batch: Batch, key: jax.Array) -> dict:
        """The named loss terms on ``batch`` without updating (validation losses, as the release's main.py)."""
        return self.losses(state.params, state, batch, self.draw_noise(key, batch))[1]

    def apply_update(self, state: AgentState, grads: dict, rng: jax.Array) -> AgentState:
        """Clip + Adam on the parameters, Polyak step on the target critic (if any), new RNG, step + 1.

        The target moves towards the critic as it was before this step's Adam update (``target_update =
        'pre-update'``, the release and FQL: ``target_update`` reads ``self.network.params``) or after it
        (``'post-update'``, fidec's option)."""
        params, opt_state = apply_gradients(self.tx, state, grads)
        target = None
        if self.has_critic:
            source = params if self.config.target_update == "post-update" else state.params
            target = polyak(state.target_params, source["critic"], self.config.tau)
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

    def flow_noise(self, key, batch: Batch) -> dict:
        return flow_matching_noise(key, batch["actions"])

    def flow_loss(self, flow_params, batch: Batch, key=None, noise: dict | None = None) -> jax.Array:
        return flow_matching_loss(self.velocity(flow_params), batch["observations"], batch["actions"], key, noise=noise)

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
