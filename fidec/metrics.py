"""Refinement metrics: the trust region on the displacement delta of T_s(a) = a + delta.

This file is the difference between Fisher Decorator and DeFlow:

- ``IsotropicMetric``: ``D(delta) = ||delta||^2 / d`` (DeFlow; an upper bound of W2).
- ``FisherMetric``: ``D(delta; s) = delta^T F_hat(s) delta / d`` where ``F_hat`` is the behaviour policy's
  Fisher information, trace-normalised so that ``tr F_hat = d``. Second-order expansion of
  ``KL(pi_beta o T^-1 || pi_beta)`` gives ``1/2 E[delta^T F delta]``, so this penalises moves along thin
  directions of the behaviour distribution more than moves along wide ones. When ``F`` is proportional
  to ``I`` it equals the isotropic penalty exactly.

Both metrics have one signature, ``penalty(delta, fisher_hat) -> (batch,)``; ``estimate_fisher`` builds
``fisher_hat`` from the flow's velocity field (docs/method.md, "Fisher metric").
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from fidec.flows import VelocityFn, euler_sample, interpolate, score_from_velocity

TRACE_FLOOR = 1e-6  # the epsilon in F_hat = F / max(tr F / d, epsilon) (the release's fisher_trace_eps)
#: The release clamps the Fisher time interval to [T_MIN, T_MAX] (agents/fidec.py: max(1e-3, t_f - w), min(0.999, t_f)).
T_MIN, T_MAX = 1e-3, 0.999


@dataclass(frozen=True)
class IsotropicMetric:
    """DeFlow's metric, ``||delta||^2 / d``; needs no Fisher estimate."""

    name: str = "isotropic"
    needs_fisher: bool = False

    def penalty(self, delta: jax.Array, fisher_hat: jax.Array | None = None) -> jax.Array:
        return jnp.mean(delta**2, axis=-1)


@dataclass(frozen=True)
class FisherMetric:
    """Fisher Decorator's metric, ``delta^T F_hat delta / d`` with a trace-normalised Fisher ``F_hat``."""

    name: str = "fisher"
    needs_fisher: bool = True

    def penalty(self, delta: jax.Array, fisher_hat: jax.Array | None = None) -> jax.Array:
        if fisher_hat is None:
            raise ValueError("FisherMetric.penalty needs fisher_hat (see estimate_fisher)")
        return jnp.einsum("...i,...ij,...j->...", delta, fisher_hat, delta) / delta.shape[-1]


METRICS = {"isotropic": IsotropicMetric(), "fisher": FisherMetric()}


def fisher_from_scores(scores: jax.Array, damping: float) -> jax.Array:
    """F = mean_k g_k g_k^T over axis -2 of ``scores`` (..., N, d), symmetrised, plus ``damping * I``."""
    f = jnp.einsum("...ni,...nj->...ij", scores, scores) / scores.shape[-2]
    f = 0.5 * (f + jnp.swapaxes(f, -1, -2))
    return f + damping * jnp.eye(scores.shape[-1], dtype=scores.dtype)


def normalize_trace(fisher: jax.Array) -> jax.Array:
    """F_hat = F / stopgrad(max(tr F / d, eps)), so tr F_hat = d and F proportional to I gives F_hat = I."""
    d = fisher.shape[-1]
    scale = jnp.maximum(jnp.trace(fisher, axis1=-2, axis2=-1) / d, TRACE_FLOOR)
    return fisher / jax.lax.stop_gradient(scale)[..., None, None]


def fisher_noise(
    key: jax.Array,
    batch: int,
    d: int,
    *,
    num_samples: int,
    t_max: float,
    t_width: float,
    locality: str = "per-state",
    reuse_base: bool = False,
) -> dict:
    """Every random draw of one Fisher estimate, so it can also be given explicitly (the parity harness).

    - ``samples`` (batch, M, d): the noise of the behaviour samples' ODE solves. Per-state, M = N fresh
      samples (the release), or N - 1 with ``reuse_base`` (fidec's option: the base action is one of them);
      per-action, M = 0.
    - ``x0`` (batch, N, d) ~ N(0, I) and ``t`` (batch, N, 1) ~ U[t_max - t_width, t_max] (clamped as the release).
    """
    if locality not in ("per-state", "per-action"):
        raise ValueError(f"unknown Fisher locality {locality!r}; use 'per-state' or 'per-action'")
    k_noise, k_x0, k_t = jax.random.split(key, 3)
    m = 0 if locality == "per-action" else num_samples - int(reuse_base)
    lo, hi = max(T_MIN, t_max - t_width), min(T_MAX, t_max)
    return {
        "samples": jax.random.normal(k_noise, (batch, m, d)),
        "x0": jax.random.normal(k_x0, (batch, num_samples, d)),
        "t": jax.random.uniform(k_t, (batch, num_samples, 1), minval=lo, maxval=hi),
    }


def estimate_fisher(
    velocity: VelocityFn,
    obs: jax.Array,
    base_actions: jax.Array,
    key: jax.Array | None = None,
    *,
    num_samples: int,
    flow_steps: int,
    t_max: float,
    t_width: float,
    damping: float,
    estimator: str = "velocity",
    locality: str = "per-state",
    reuse_base: bool = False,
    noise: dict | None = None,
) -> tuple[jax.Array, dict]:
    """The trace-normalised Fisher metric F_hat for each row of ``obs`` (batch, obs_dim).

    ``per-state`` (the released estimator): N behaviour samples a^(k) ~ pi_beta(.|s), each an ODE solve from
    fresh noise (with ``reuse_base`` the base action being refined is one of them: N - 1 solves).
    ``per-action`` (docs/method.md, "Locality"): all N noisy points are drawn around the base action itself, so no
    solve is needed. For each sample: x0 ~ N(0, I), t ~ U[t_max - t_width, t_max], x_t = (1 - t) x0 + t a^(k),
    g = score(v(s, x_t, t)). The draws come from ``key`` or are given as ``noise`` (:func:`fisher_noise`).
    Returns F_hat (batch, d, d) (no gradient) and statistics.
    """
    batch, d = base_actions.shape
    if noise is None:
        noise = fisher_noise(
            key,
            batch,
            d,
            num_samples=num_samples,
            t_max=t_max,
            t_width=t_width,
            locality=locality,
            reuse_base=reuse_base,
        )
    obs_n = jnp.broadcast_to(obs[:, None, :], (batch, num_samples, obs.shape[-1]))
    if locality == "per-state":
        m = noise["samples"].shape[1]
        solved = euler_sample(velocity, obs_n[:, :m], noise["samples"], flow_steps) if m else None
        if m == num_samples:
            samples = solved
        elif m == num_samples - 1:
            parts = [base_actions[:, None, :]] + ([solved] if m else [])
            samples = jnp.concatenate(parts, axis=1)
        else:
            raise ValueError(f"per-state Fisher noise has {m} samples; expected {num_samples} or {num_samples - 1}")
    elif locality == "per-action":
        samples = jnp.broadcast_to(base_actions[:, None, :], (batch, num_samples, d))
    else:
        raise ValueError(f"unknown Fisher locality {locality!r}; use 'per-state' or 'per-action'")
    x0, t = noise["x0"], noise["t"]
    x_t = interpolate(x0, samples, t)
    scores = score_from_velocity(velocity(obs_n, x_t, t), x_t, t, estimator)
    fisher = fisher_from_scores(scores, damping)
    fisher_hat = jax.lax.stop_gradient(normalize_trace(fisher))
    stats = {"fisher_trace": jnp.mean(jnp.trace(fisher, axis1=-2, axis2=-1))}
    return fisher_hat, stats


def anisotropy(fisher_hat: jax.Array) -> dict:
    """Log-time diagnostics of F_hat: mean and max condition number, mean top-eigenvalue share."""
    eig = jnp.linalg.eigvalsh(fisher_hat)
    cond = eig[..., -1] / jnp.maximum(eig[..., 0], 1e-12)
    return {
        "fisher_cond_mean": jnp.mean(cond),
        "fisher_cond_max": jnp.max(cond),
        "fisher_top_eig_share": jnp.mean(eig[..., -1] / jnp.sum(eig, axis=-1)),
    }
