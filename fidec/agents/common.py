"""Pieces shared by every agent: state pytree, optimiser, TD target, critic loss, Polyak averaging."""

from __future__ import annotations

from typing import Any

import flax.struct as struct
import jax
import jax.numpy as jnp
import optax

from fidec.config import Config

Batch = dict  # observations, actions, rewards, masks, next_observations: arrays with a leading batch axis


class AgentState(struct.PyTreeNode):
    """Everything that changes during training; a checkpoint is exactly this pytree."""

    params: dict
    target_params: Any  # target critic parameters (None for agents without a critic)
    opt_state: Any
    rng: jax.Array
    step: jax.Array


def make_optimizer(config: Config, params: dict) -> optax.GradientTransformation:
    """Adam(lr) after a global-norm clip, applied to each top-level network of ``params`` separately."""

    def one():
        return optax.chain(optax.clip_by_global_norm(config.grad_clip), optax.adam(config.lr))

    return optax.multi_transform({k: one() for k in params}, {k: k for k in params})


def apply_gradients(tx: optax.GradientTransformation, state: AgentState, grads: dict) -> tuple[dict, Any]:
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    return optax.apply_updates(state.params, updates), opt_state


def td_target(rewards, masks, next_q, discount: float, agg: str) -> jax.Array:
    """r + discount * mask * agg_j Q_target_j(s', a'), with ``next_q`` of shape (ensemble, batch)."""
    if agg == "min":
        q = jnp.min(next_q, axis=0)
    elif agg == "mean":
        q = jnp.mean(next_q, axis=0)
    else:
        raise ValueError(f"unknown q aggregation {agg!r}; use 'mean' or 'min'")
    return rewards + discount * masks * q


def critic_loss(q_data: jax.Array, target: jax.Array) -> jax.Array:
    """Mean over the ensemble and the batch of (Q_j(s, a) - y)^2; ``y`` carries no gradient."""
    return jnp.mean((q_data - jax.lax.stop_gradient(target)[None]) ** 2)


def polyak(target, online, tau: float):
    return jax.tree_util.tree_map(lambda t, o: (1.0 - tau) * t + tau * o, target, online)


def q_objective(q: jax.Array, normalize: bool) -> jax.Array:
    """E[Q], optionally divided by stopgrad(mean |Q|) (Q normalisation)."""
    mean_q = jnp.mean(q)
    if normalize:
        return mean_q / jax.lax.stop_gradient(jnp.mean(jnp.abs(q)) + 1e-8)
    return mean_q
