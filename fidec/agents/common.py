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


def clip_by_global_norm(max_norm: float) -> optax.GradientTransformation:
    """Scale the gradient by ``min(1, max_norm / (||g|| + 1e-6))``: the release's formula
    (``utils/flax_utils.py``, ``TrainState.apply_loss_fn``); ``max_norm <= 0`` leaves it unclipped."""

    def update(grads, state, params=None):
        if max_norm <= 0:
            return grads, state
        scale = jnp.minimum(1.0, max_norm / (optax.tree.norm(grads) + 1e-6))
        return jax.tree_util.tree_map(lambda g: g * scale, grads), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def make_optimizer(config: Config, params: dict) -> optax.GradientTransformation:
    """Adam(lr) after a global-norm gradient clip (``grad_clip``; 0 = none).

    ``clip_scope='joint'`` (the release): one clip over the whole parameter tree, log alpha included;
    ``'per-network'`` (fidec's option): each top-level network of ``params`` is clipped on its own norm.
    """

    def one():
        return optax.chain(clip_by_global_norm(config.grad_clip), optax.adam(config.lr))

    if config.clip_scope == "joint":
        return one()
    return optax.multi_transform({k: one() for k in params}, {k: k for k in params})


def apply_gradients(tx: optax.GradientTransformation, state: AgentState, grads: dict) -> tuple[dict, Any]:
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    return optax.apply_updates(state.params, updates), opt_state


def grad_norms(grads: dict) -> dict:
    """Global gradient norm (before clipping) and one per top-level network, for the logs."""
    out = {"grad_norm": optax.tree.norm(grads)}
    out.update({f"grad_norm_{k}": optax.tree.norm(v) for k, v in grads.items()})
    return out


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
    """E[Q], optionally divided by stopgrad(max(mean |Q|, 1e-6)) (Q normalisation, as the release's
    ``normalize_q_loss``)."""
    mean_q = jnp.mean(q)
    if normalize:
        return mean_q / jax.lax.stop_gradient(jnp.maximum(jnp.mean(jnp.abs(q)), 1e-6))
    return mean_q
