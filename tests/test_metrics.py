"""The refinement metrics: Fisher penalty vs isotropic, trace normalisation, Fisher estimation."""

import jax
import jax.numpy as jnp
import numpy as np

from fidec.metrics import (
    FisherMetric,
    IsotropicMetric,
    estimate_fisher,
    fisher_from_scores,
    normalize_trace,
)


def test_fisher_penalty_equals_mean_sq_when_fisher_is_isotropic():
    delta = jax.random.normal(jax.random.PRNGKey(0), (32, 5))
    f_hat = normalize_trace(3.7 * jnp.broadcast_to(jnp.eye(5), (32, 5, 5)))
    np.testing.assert_allclose(f_hat, jnp.broadcast_to(jnp.eye(5), (32, 5, 5)), atol=1e-6)
    np.testing.assert_allclose(FisherMetric().penalty(delta, f_hat), jnp.mean(delta**2, -1), rtol=1e-5)
    np.testing.assert_allclose(IsotropicMetric().penalty(delta), jnp.mean(delta**2, -1), rtol=1e-6)


def test_trace_normalisation_gives_trace_d():
    a = jax.random.normal(jax.random.PRNGKey(1), (10, 4, 4))
    f = jnp.einsum("bij,bkj->bik", a, a) + 1e-3 * jnp.eye(4)
    f_hat = normalize_trace(f)
    np.testing.assert_allclose(jnp.trace(f_hat, axis1=-2, axis2=-1), 4.0, rtol=1e-5)


def test_anisotropic_fisher_penalises_thin_direction_more():
    """Behaviour thin along e1 (large Fisher), wide along e2: a step along e1 costs more than along e2."""
    f_hat = normalize_trace(jnp.diag(jnp.array([100.0, 1.0])))
    thin, wide = jnp.array([0.1, 0.0]), jnp.array([0.0, 0.1])
    p_thin, p_wide = FisherMetric().penalty(thin, f_hat), FisherMetric().penalty(wide, f_hat)
    assert float(p_thin) > 50 * float(p_wide)
    # the isotropic metric cannot tell them apart
    assert float(IsotropicMetric().penalty(thin)) == float(IsotropicMetric().penalty(wide))


def test_fisher_from_scores_is_symmetric_damped_outer_product_mean():
    g = jnp.array([[[1.0, 2.0], [3.0, -1.0]]])
    f = fisher_from_scores(g, damping=0.5)
    want = (jnp.outer(g[0, 0], g[0, 0]) + jnp.outer(g[0, 1], g[0, 1])) / 2 + 0.5 * jnp.eye(2)
    np.testing.assert_allclose(f[0], want, rtol=1e-6)


def _gaussian_velocity(cov):
    """The exact flow velocity of a zero-mean Gaussian behaviour N(0, cov), for every state."""

    def v(obs, x, t):
        s = t[..., None] ** 2 * cov + (1 - t[..., None]) ** 2 * jnp.eye(2)
        s_inv = jnp.linalg.inv(s)
        e_a = t * jnp.einsum("ij,...jk,...k->...i", cov, s_inv, x)
        e_x0 = (1 - t) * jnp.einsum("...ij,...j->...i", s_inv, x)
        return e_a - e_x0

    return v


def test_estimate_fisher_recovers_gaussian_fisher_direction():
    """Per-state estimate with the exact score: the Fisher's stiff direction is the behaviour's thin one."""
    cov = jnp.array([[0.5, 0.0], [0.0, 0.01]])  # thin along e2
    vel = _gaussian_velocity(cov)
    obs = jnp.zeros((4, 1))
    base = jnp.zeros((4, 2))
    f_hat, stats = estimate_fisher(
        vel,
        obs,
        base,
        jax.random.PRNGKey(0),
        num_samples=512,
        flow_steps=20,
        t_max=0.9,
        t_width=0.05,
        damping=1e-3,
        estimator="exact",
    )
    assert f_hat.shape == (4, 2, 2)
    np.testing.assert_allclose(jnp.trace(f_hat, axis1=-2, axis2=-1), 2.0, rtol=1e-5)
    assert bool(jnp.all(f_hat[:, 1, 1] > 5 * f_hat[:, 0, 0]))
    assert float(stats["fisher_trace"]) > 0


def test_per_action_fisher_uses_base_action_only():
    """Per-action Fisher is local: moving the base action changes it, per-state (whole distribution) does not
    depend on the base action beyond one sample."""
    cov = jnp.array([[0.5, 0.0], [0.0, 0.01]])
    vel = _gaussian_velocity(cov)
    obs = jnp.zeros((1, 1))
    kw = dict(
        num_samples=64, flow_steps=10, t_max=0.9, t_width=0.05, damping=1e-3, estimator="exact", locality="per-action"
    )
    f_a, _ = estimate_fisher(vel, obs, jnp.array([[0.0, 0.0]]), jax.random.PRNGKey(0), **kw)
    f_b, _ = estimate_fisher(vel, obs, jnp.array([[0.9, 0.0]]), jax.random.PRNGKey(0), **kw)
    assert not np.allclose(f_a, f_b, atol=1e-3)
    assert bool(f_a[0, 1, 1] > f_a[0, 0, 0])


def _gaussian_velocity_mean(mu, cov):
    """The exact velocity of a Gaussian behaviour N(mu, cov): v = (x + (1 - t) grad log p_t(x)) / t with
    p_t = N(t mu, S), S = (1 - t)^2 I + t^2 cov (inverting score = (t v - x) / (1 - t))."""
    d = mu.shape[0]

    def v(obs, x, t):
        s = t[..., None] ** 2 * cov + (1 - t[..., None]) ** 2 * jnp.eye(d)
        score = -jnp.einsum("...ij,...j->...i", jnp.linalg.inv(s), x - t * mu)
        return (x + (1 - t) * score) / t

    return v


def test_per_action_exact_fisher_matches_gaussian_closed_form():
    """Behaviour N(mu, Sigma), per-action Fisher at base action a, fixed t, exact score:
    F is proportional to S^-1 [(1 - t)^2 I + t^2 (a - mu)(a - mu)^T] S^-1, S = (1 - t)^2 I + t^2 Sigma."""
    mu = jnp.array([0.0, 0.5])
    cov = jnp.diag(jnp.array([0.05**2, 0.5**2]))
    t = 0.875
    vel = _gaussian_velocity_mean(mu, cov)
    for a in (jnp.array([0.0, 0.5]), jnp.array([0.3, -0.2])):
        f_hat, _ = estimate_fisher(
            vel,
            jnp.zeros((1, 1)),
            a[None],
            jax.random.PRNGKey(3),
            num_samples=200_000,
            flow_steps=1,
            t_max=t,
            t_width=0.0,
            damping=0.0,
            estimator="exact",
            locality="per-action",
        )
        s_inv = jnp.linalg.inv((1 - t) ** 2 * jnp.eye(2) + t**2 * cov)
        want = s_inv @ ((1 - t) ** 2 * jnp.eye(2) + t**2 * jnp.outer(a - mu, a - mu)) @ s_inv
        np.testing.assert_allclose(f_hat[0], normalize_trace(want), rtol=0.03, atol=0.01)


def test_velocity_proxy_is_not_the_score_at_the_mean_action():
    """At a = mu the exact per-action Fisher is nearly rank one along the thin axis (1.99 / 0.014 after trace
    normalisation); the proxy v/(1-t) adds the mean-action outer product and reads 1.50 / 0.50."""
    mu = jnp.array([0.0, 0.5])
    cov = jnp.diag(jnp.array([0.05**2, 0.5**2]))
    kw = dict(num_samples=200_000, flow_steps=1, t_max=0.875, t_width=0.0, damping=0.0, locality="per-action")
    vel = _gaussian_velocity_mean(mu, cov)
    exact, _ = estimate_fisher(vel, jnp.zeros((1, 1)), mu[None], jax.random.PRNGKey(0), estimator="exact", **kw)
    proxy, _ = estimate_fisher(vel, jnp.zeros((1, 1)), mu[None], jax.random.PRNGKey(0), estimator="velocity", **kw)
    np.testing.assert_allclose(jnp.diag(exact[0]), [1.99, 0.014], atol=0.01)
    np.testing.assert_allclose(jnp.diag(proxy[0]), [1.50, 0.50], atol=0.02)
