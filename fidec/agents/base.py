"""The agent interface: ``init``, ``update``, ``sample_actions``, ``diagnostics`` — pure functions of a state.

An agent object holds only static things (config, networks, dimensions); everything that changes is in
:class:`~fidec.agents.common.AgentState`, so updates can be jit-compiled, scanned and vmapped over seeds.

One update is ``draw_noise`` (every random draw of the step, as a dict of arrays) then ``losses`` (a pure
function of the parameters, the batch and that noise) differentiated once. The split lets the parity harness
(``benchmarks/parity``) feed the authors' release and fidec the very same noise.
"""

from __future__ import annotations

import copy
import dataclasses
import functools

import jax
import jax.numpy as jnp

from fidec.agents.common import AgentState, Batch, apply_gradients, grad_norms, make_optimizer, polyak
from fidec.config import Config
from fidec.encoders import make_encoder
from fidec.flows import VelocityField, euler_sample, flow_matching_loss, flow_matching_noise
from fidec.networks import CriticEnsemble
from fidec.precision import matmul_precision

#: The methods every caller (trainer, evaluation, bench, API, parity harness) reaches an agent's networks through;
#: each traces under the run's ``Config.matmul_precision`` (:mod:`fidec.precision`), in every subclass too.
PRECISION_SCOPED = (
    "init",
    "update",
    "update_with_noise",
    "losses",
    "loss_terms",
    "draw_noise",
    "sample_actions",
    "act",
    "diagnostics",
)


def _under_precision(method):
    @functools.wraps(method)
    def scoped(self, *args, **kwargs):
        with matmul_precision(self.config.matmul_precision):
            return method(self, *args, **kwargs)

    scoped.precision_scoped = True
    return scoped


def _scope_methods(cls) -> None:
    for name in PRECISION_SCOPED:
        method = cls.__dict__.get(name)
        if method is not None and not getattr(method, "precision_scoped", False):
            setattr(cls, name, _under_precision(method))


class Agent:
    name = "agent"
    #: batches carry ``next_actions``, the dataset's next action (ReBRAC; :func:`fidec.data.loading.with_next_actions`)
    needs_next_actions = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _scope_methods(cls)  # an override of an entry point traces under the run's precision as the base's does

    def __init__(self, config: Config, obs_dim: int | tuple[int, ...], action_dim: int):
        """``obs_dim`` is an int for flat states, or the image shape (H, W, C) of pixel observations, which need
        ``config.encoder`` (:mod:`fidec.encoders`): then each network (flow, critic, policy) has its own encoder,
        its parameters ``{"encoder": ..., "net": ...}`` (FQL's ``agents/fql.py``, the release's
        ``agents/fidec.py``). Without an encoder the parameters are the state path's, unchanged."""
        self.config = config
        self.obs_shape = tuple(int(x) for x in obs_dim) if isinstance(obs_dim, (tuple, list)) else (int(obs_dim),)
        self.obs_dim = self.obs_shape[0] if len(self.obs_shape) == 1 else self.obs_shape
        self.action_dim = action_dim
        self.encoder = make_encoder(getattr(config, "encoder", "none"))
        if self.encoder is None and len(self.obs_shape) != 1:
            raise ValueError(f"image observations {self.obs_shape} need an encoder (config.encoder)")
        self.flow_net = VelocityField(config.hidden_dims, action_dim, weight_init=config.weight_init)
        self.critic_net = CriticEnsemble(config.hidden_dims, weight_init=config.weight_init)

    def with_target_divergence(self, eps) -> Agent:
        """This agent with another target divergence, which may be a traced scalar: ``target_divergences`` runs
        vmap the update over (state, eps) pairs. Only the Lagrangian reads it; networks and optimiser are shared."""
        clone = copy.copy(self)
        clone.config = dataclasses.replace(self.config, target_divergence=eps)
        return clone

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

    def target_of(self, params: dict):
        """The networks the target networks track (``AgentState.target_params`` has this layout): the critic;
        None without one. ReBRAC also keeps a target actor."""
        return params["critic"] if self.has_critic else None

    def exploration_actions(self, params: dict, obs: jax.Array, key: jax.Array) -> jax.Array:
        """Actions while collecting online data (FQL's ``sample_actions`` at temperature 1); evaluation acts with
        :meth:`sample_actions` (temperature 0). The same for agents whose policy is its own noise (fd, fql)."""
        return self.sample_actions(params, obs, key)

    # --- shared
    def init(self, key: jax.Array) -> AgentState:
        k_params, k_rng = jax.random.split(key)
        params = self.init_params(k_params)
        self.tx = make_optimizer(self.config, params)
        return AgentState(
            params=params,
            target_params=self.target_of(params),
            opt_state=self.tx.init(params),
            rng=k_rng,
            step=jnp.zeros((), jnp.int32),
        )

    def update(self, state: AgentState, batch: Batch, frozen: tuple[str, ...] = ()) -> tuple[AgentState, dict]:
        """One gradient step on every network: noise, losses, gradients, clip + Adam, Polyak target.

        ``frozen`` names top-level networks held fixed (the online phase's ``online_freeze_flow``)."""
        rng, key = jax.random.split(state.rng)
        return self.update_with_noise(state, batch, self.draw_noise(key, batch), rng, frozen=frozen)

    def update_with_noise(
        self, state: AgentState, batch: Batch, noise: dict, rng=None, frozen: tuple[str, ...] = ()
    ) -> tuple[AgentState, dict]:
        """``frozen`` networks get a zero gradient, so they weigh nothing in a joint clip, as in the release's
        ``fix_bc_flow_online`` (which zeroes the flow loss: agents/fidec.py L76-78), and keep their parameters
        exactly (the release's Adam momentum still moves them for a while after the loss is zeroed)."""
        grads, info = jax.grad(self.losses, has_aux=True)(state.params, state, batch, noise)
        if frozen:
            grads = {k: jax.tree_util.tree_map(jnp.zeros_like, g) if k in frozen else g for k, g in grads.items()}
        info.update(grad_norms(grads))
        new = self.apply_update(state, grads, state.rng if rng is None else rng)
        if frozen:
            new = new.replace(params={**new.params, **{k: state.params[k] for k in frozen}})
        return new, info

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
            target = polyak(state.target_params, self.target_of(source), self.config.tau)
        return state.replace(params=params, target_params=target, opt_state=opt_state, rng=rng, step=state.step + 1)

    def _dummy(self):
        """A one-row (observation or encoder features, action, time) for initialising the MLPs."""
        width = self.obs_shape[0] if self.encoder is None else self.encoder.feature_dim
        return jnp.zeros((1, width)), jnp.zeros((1, self.action_dim)), jnp.zeros((1, 1))

    def init_net(self, key, net, *args) -> dict:
        """Parameters of one network: its MLP's, or ``{"encoder", "net"}`` with an encoder of its own."""
        if self.encoder is None:
            return net.init(key, *args)["params"]
        k_enc, k_net = jax.random.split(key)
        image = jnp.zeros((1, *self.obs_shape), jnp.uint8)
        return {"encoder": self.encoder.init(k_enc, image)["params"], "net": net.init(k_net, *args)["params"]}

    def features(self, net_params, obs):
        """What a network's MLP reads: the observation itself, or its own encoder's features of the image."""
        if self.encoder is None:
            return obs
        return self.encoder.apply({"params": net_params["encoder"]}, obs)

    def mlp_params(self, net_params):
        return net_params if self.encoder is None else net_params["net"]

    def _init_flow_and_critic(self, key) -> dict:
        k_flow, k_critic = jax.random.split(key)
        obs, act, t = self._dummy()
        return {
            "flow": self.init_net(k_flow, self.flow_net, obs, act, t),
            "critic": self.init_net(k_critic, self.critic_net, obs, act),
        }

    def velocity(self, flow_params):
        """v(features, x, t) closed over ``flow_params``; features are :meth:`flow_features` of the observations."""
        mlp = self.mlp_params(flow_params)
        return lambda obs, x, t: self.flow_net.apply({"params": mlp}, obs, x, t)

    def flow_features(self, flow_params, obs):
        """The flow's encoder applied once per observation, its features reused by every Euler step (FQL's
        ``compute_flow_actions``, ``is_encoded=True``); the observation itself on the state path."""
        return self.features(flow_params, obs)

    def critic(self, critic_params, obs, actions, encoded: bool = False):
        """Q of the ensemble, (2, batch); ``encoded``: ``obs`` already holds this critic's encoder features."""
        feats = obs if encoded else self.features(critic_params, obs)
        return self.critic_net.apply({"params": self.mlp_params(critic_params)}, feats, actions)

    def base_actions(self, flow_params, obs, noise, encoded: bool = False):
        """a_beta(s, z): K Euler steps of the behaviour flow from ``noise``, clipped to [-1, 1]."""
        feats = obs if encoded else self.flow_features(flow_params, obs)
        return euler_sample(self.velocity(flow_params), feats, noise, self.config.flow_steps)

    def flow_noise(self, key, batch: Batch) -> dict:
        return flow_matching_noise(key, batch["actions"])

    def flow_loss(self, flow_params, batch: Batch, key=None, noise: dict | None = None) -> jax.Array:
        feats = self.flow_features(flow_params, batch["observations"])
        return flow_matching_loss(self.velocity(flow_params), feats, batch["actions"], key, noise=noise)

    def act(self, params: dict, obs, key, explore: bool = False) -> jax.Array:
        """Actions for one observation (obs_dim,) or (H, W, C), or a batch of them. Images stay uint8.
        ``explore``: :meth:`exploration_actions` (online data collection) instead of :meth:`sample_actions`."""
        obs = jnp.asarray(obs, jnp.uint8 if self.encoder is not None else jnp.float32)
        single = obs.ndim == len(self.obs_shape)
        policy = self.exploration_actions if explore else self.sample_actions
        a = policy(params, obs[None] if single else obs, key)
        return a[0] if single else a

    def diagnostics(self, state: AgentState, batch: Batch, key) -> dict:
        """Log-time diagnostics (extra ODE solves allowed here, never in ``update``)."""
        actions = self.sample_actions(state.params, batch["observations"], key)
        return {"policy_mse_to_data": jnp.mean((actions - batch["actions"]) ** 2)}


_scope_methods(Agent)
