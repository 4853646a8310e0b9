"""The behaviour flow: score from velocity against analytic Gaussian scores, Euler sampler, FM loss."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from fidec.flows import VelocityField, euler_sample, flow_matching_loss, score_from_velocity

MU = jnp.array([0.3, -0.2])
SIGMA = jnp.array([[0.25, 0.12], [0.12, 0.09]])  # anisotropic, correlated


def gaussian_marginal(t):
    """x_t = (1-t) x0 + t a with a ~ N(MU, SIGMA): x_t ~ N(t MU, t^2 SIGMA + (1-t)^2 I)."""
    return t * MU, t**2 * SIGMA + (1 - t) ** 2 * jnp.eye(2)


def analytic_velocity(x, t):
    """E[a - x0 | x_t = x] for Gaussian a (closed form)."""
    m, s = gaussian_marginal(t)
    s_inv = jnp.linalg.inv(s)
    r = x - m
    e_a = MU + t * (SIGMA @ s_inv @ r.T).T
    e_x0 = (1 - t) * (s_inv @ r.T).T
    return e_a - e_x0


def analytic_score(x, t):
    m, s = gaussian_marginal(t)
    return -(jnp.linalg.inv(s) @ (x - m).T).T


@pytest.mark.parametrize("t", [0.1, 0.5, 0.87])
def test_exact_score_equals_gaussian_score(t):
    x = jax.random.normal(jax.random.PRNGKey(0), (64, 2)) * 0.7
    v = analytic_velocity(x, t)
    got = score_from_velocity(v, x, jnp.full((64, 1), t), "exact")
    np.testing.assert_allclose(got, analytic_score(x, t), rtol=1e-4, atol=1e-4)
    # the proxy v/(1-t) differs from the exact score by v + x/(1-t): it is not the score
    proxy = score_from_velocity(v, x, jnp.full((64, 1), t), "velocity")
    np.testing.assert_allclose(proxy, v / (1 - t), rtol=1e-6)
    np.testing.assert_allclose(proxy - got, v + x / (1 - t), rtol=1e-4, atol=1e-4)


def test_trained_flow_score_matches_gaussian_score():
    """A flow trained by fidec's flow-matching loss on 2-D Gaussian data recovers the analytic score."""
    net = VelocityField((64, 64), 2)
    obs = jnp.zeros((512, 1))
    params = net.init(jax.random.PRNGKey(0), obs[:1], jnp.zeros((1, 2)), jnp.zeros((1, 1)))["params"]
    chol = jnp.linalg.cholesky(SIGMA)
    tx = optax.adam(3e-3)
    opt = tx.init(params)

    @jax.jit
    def step(params, opt, key):
        k_a, k_fm = jax.random.split(key)
        a = MU + jax.random.normal(k_a, (512, 2)) @ chol.T
        loss, g = jax.value_and_grad(
            lambda p: flow_matching_loss(lambda o, x, t: net.apply({"params": p}, o, x, t), obs, a, k_fm)
        )(params)
        up, opt = tx.update(g, opt)
        return optax.apply_updates(params, up), opt, loss

    key = jax.random.PRNGKey(1)
    for _ in range(2500):
        key, k = jax.random.split(key)
        params, opt, loss = step(params, opt, k)
    t = 0.85
    m, s = gaussian_marginal(t)
    x = m + jax.random.normal(jax.random.PRNGKey(2), (2000, 2)) @ jnp.linalg.cholesky(s).T
    tt = jnp.full((2000, 1), t)
    v = net.apply({"params": params}, jnp.zeros((2000, 1)), x, tt)
    got = score_from_velocity(v, x, tt, "exact")
    want = analytic_score(x, t)
    rel = jnp.linalg.norm(got - want) / jnp.linalg.norm(want)
    assert rel < 0.2, f"relative score error {rel:.3f}"
    # the Fisher information E[g g^T] recovers the anisotropy: its top eigenvector is the thin direction
    f_got = got.T @ got / len(got)
    f_want = jnp.linalg.inv(s)
    top_got, top_want = jnp.linalg.eigh(f_got)[1][:, -1], jnp.linalg.eigh(f_want)[1][:, -1]
    assert abs(float(top_got @ top_want)) > 0.97


def test_euler_sampler_shapes_clipping_and_integration():
    obs = jnp.zeros((5, 3, 4))
    noise = jnp.linspace(-2, 2, 5 * 3 * 2).reshape(5, 3, 2)
    const = lambda o, x, t: jnp.full(x.shape, 0.25)  # noqa: E731
    out = euler_sample(const, obs, noise, num_steps=10, clip=False)
    assert out.shape == (5, 3, 2)
    np.testing.assert_allclose(out, noise + 0.25, atol=1e-6)
    clipped = euler_sample(const, obs, noise, num_steps=10)
    assert float(clipped.max()) <= 1.0 and float(clipped.min()) >= -1.0
    np.testing.assert_allclose(clipped, jnp.clip(noise + 0.25, -1, 1), atol=1e-6)
    # time grid: the k-th step sees t = k / K
    seen = []
    euler_sample(lambda o, x, t: (seen.append(float(t.reshape(-1)[0])), x * 0)[1], obs, noise, num_steps=4)
    assert seen == [0.0, 0.25, 0.5, 0.75]


def test_flow_matching_loss_hand_computed():
    """With a known velocity field, the loss is the mean squared error to a - x0 for the drawn x0 and t."""
    key = jax.random.PRNGKey(3)
    actions = jnp.array([[0.5, -0.5], [0.1, 0.2]])
    obs = jnp.zeros((2, 1))
    k0, kt = jax.random.split(key)
    x0 = jax.random.normal(k0, actions.shape)
    t = jax.random.uniform(kt, (2, 1))
    v = lambda o, x, tt: 2.0 * x  # noqa: E731
    want = jnp.mean((2.0 * ((1 - t) * x0 + t * actions) - (actions - x0)) ** 2)
    np.testing.assert_allclose(flow_matching_loss(v, obs, actions, key), want, rtol=1e-6)
