"""The behaviour flow: velocity field, flow-matching loss, Euler sampler, and the score from velocity.

Linear interpolant: ``x_t = (1 - t) x0 + t a`` with ``x0 ~ N(0, I)``; the velocity target is ``a - x0``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from fidec.networks import MLP

#: v(obs, x, t) -> velocity; obs (..., obs_dim), x (..., d), t (..., 1)
VelocityFn = Callable[[jax.Array, jax.Array, jax.Array], jax.Array]


class VelocityField(nn.Module):
    """v_psi(s, x, t): a GELU MLP of (state, noisy action, time), no LayerNorm."""

    hidden_dims: Sequence[int]
    action_dim: int
    weight_init: str = "glorot"

    @nn.compact
    def __call__(self, obs, x, t):
        return MLP(self.hidden_dims, self.action_dim, weight_init=self.weight_init)(
            jnp.concatenate([obs, x, t], axis=-1)
        )


def interpolate(x0: jax.Array, actions: jax.Array, t: jax.Array) -> jax.Array:
    """x_t = (1 - t) x0 + t a; ``t`` broadcasts as (..., 1)."""
    return (1.0 - t) * x0 + t * actions


def flow_matching_noise(key, actions) -> dict:
    """The flow-matching loss's random draws: ``x0 ~ N(0, I)`` like ``actions`` and ``t ~ U[0, 1)`` (..., 1)."""
    k0, kt = jax.random.split(key)
    return {"x0": jax.random.normal(k0, actions.shape), "t": jax.random.uniform(kt, (*actions.shape[:-1], 1))}


def flow_matching_loss(velocity: VelocityFn, obs, actions, key=None, *, noise: dict | None = None) -> jax.Array:
    """Conditional flow matching: mean over batch and dims of ||v(s, x_t, t) - (a - x0)||^2 / d.

    The noise is drawn from ``key`` or given explicitly as ``noise`` (:func:`flow_matching_noise`)."""
    noise = flow_matching_noise(key, actions) if noise is None else noise
    x0, t = noise["x0"], noise["t"]
    pred = velocity(obs, interpolate(x0, actions, t), t)
    return jnp.mean((pred - (actions - x0)) ** 2)


def euler_sample(velocity: VelocityFn, obs, noise, num_steps: int, clip: bool = True) -> jax.Array:
    """Integrate dx/dt = v(s, x, t) from x(0) = noise with ``num_steps`` Euler steps; clip to [-1, 1]."""
    x = noise
    dt = 1.0 / num_steps
    for k in range(num_steps):  # static unroll: K is small and XLA fuses better
        t = jnp.full((*x.shape[:-1], 1), k * dt, dtype=x.dtype)
        x = x + velocity(obs, x, t) * dt
    return jnp.clip(x, -1.0, 1.0) if clip else x


def score_from_velocity(v: jax.Array, x: jax.Array, t: jax.Array, estimator: str) -> jax.Array:
    """The behaviour score at (x, t) from the flow's velocity.

    - ``'exact'``: grad log p_t(x) = (t v - x) / (1 - t), exact for the linear interpolant, since
      E[x0 | x_t = x] = x - t v and x_t | a ~ N(t a, (1 - t)^2 I).
    - ``'velocity'``: the proxy v / (1 - t) of the authors' released configuration (paper default).
    """
    if estimator == "exact":
        return (t * v - x) / (1.0 - t)
    if estimator == "velocity":
        return v / (1.0 - t)
    raise ValueError(f"unknown score estimator {estimator!r}; use 'velocity' or 'exact'")
