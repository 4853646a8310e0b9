"""Agent losses: TD targets, the Lagrange multiplier's direction, FQL/BC losses, ODE-solve accounting."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fidec.agents import make_agent
from fidec.agents.common import td_target
from fidec.agents.fql import distillation_loss
from fidec.agents.refine import lagrange_loss
from fidec.config import resolve

OBS, ACT, B = 6, 3, 16


def batch(key=0, reward=0.0):
    k = jax.random.split(jax.random.PRNGKey(key), 3)
    return {
        "observations": jax.random.normal(k[0], (B, OBS)),
        "next_observations": jax.random.normal(k[1], (B, OBS)),
        "actions": jnp.clip(jax.random.normal(k[2], (B, ACT)), -1, 1),
        "rewards": jnp.full((B,), reward),
        "masks": jnp.ones((B,)),
    }


def agent_and_state(agent="fd", **kw):
    cfg = resolve({"agent": agent, "preset": "tiny", "batch_size": B, **kw})
    a = make_agent(cfg, OBS, ACT)
    return a, a.init(jax.random.PRNGKey(0))


def test_td_target_masks_and_aggregation():
    r = jnp.array([1.0, -1.0, 0.5])
    m = jnp.array([1.0, 0.0, 1.0])
    q = jnp.array([[2.0, 4.0, -1.0], [4.0, 8.0, 3.0]])  # (ensemble, batch)
    np.testing.assert_allclose(td_target(r, m, q, 0.9, "min"), [1 + 0.9 * 2, -1.0, 0.5 + 0.9 * -1], rtol=1e-6)
    np.testing.assert_allclose(td_target(r, m, q, 0.9, "mean"), [1 + 0.9 * 3, -1.0, 0.5 + 0.9 * 1], rtol=1e-6)


def test_lagrange_gradient_direction():
    g = jax.grad(lagrange_loss)
    # gradient descent on log_alpha: a negative gradient raises alpha
    assert float(g(jnp.array(0.0), jnp.array(0.5), 0.1)) < 0  # divergence above target -> alpha rises
    assert float(g(jnp.array(0.0), jnp.array(0.01), 0.1)) > 0  # below target -> alpha falls


@pytest.mark.parametrize("agent", ["fd", "deflow"])
def test_multiplier_rises_above_budget_and_falls_below(agent):
    up = None
    # below budget: the refinement starts at delta = 0, so E[D] = 0 < eps and alpha must fall
    a, s = agent_and_state(agent, target_divergence=1.0)
    up = jax.jit(a.update)
    for _ in range(5):
        s, info = up(s, batch())
    assert float(info["alpha"]) < 10.0 and float(info["divergence"]) < 1.0
    # above budget: a tiny eps is exceeded once delta moves, and alpha must rise
    a, s = agent_and_state(agent, target_divergence=1e-12, alpha_init=1e-3, lr=1e-2)
    up = jax.jit(a.update)
    alphas = []
    for _ in range(10):
        s, info = up(s, batch(reward=1.0))
        alphas.append(float(info["alpha"]))
    assert float(info["divergence"]) > 1e-12
    assert alphas[-1] > alphas[1]
    # fixed-alpha mode keeps it where it started
    a, s = agent_and_state(agent, lagrangian=False)
    s, info = jax.jit(a.update)(s, batch())
    s, info = jax.jit(a.update)(s, batch())
    np.testing.assert_allclose(float(jnp.exp(s.params["log_alpha"])), 10.0, rtol=1e-6)


def test_fd_and_deflow_share_the_agent_and_differ_only_by_metric():
    fd, s_fd = agent_and_state("fd")
    de, s_de = agent_and_state("deflow")
    assert type(fd) is type(de)
    assert fd.metric.name == "fisher" and de.metric.name == "isotropic"
    # identical parameters at init: same networks, same seed
    for x, y in zip(jax.tree_util.tree_leaves(s_fd.params), jax.tree_util.tree_leaves(s_de.params), strict=True):
        np.testing.assert_array_equal(x, y)


def test_distillation_loss_hand_computed():
    mu = jnp.array([[0.5, -0.5], [1.0, 0.0]])
    flow = jnp.array([[0.0, 0.0], [0.5, 0.5]])
    assert float(distillation_loss(mu, flow)) == pytest.approx((0.25 + 0.25 + 0.25 + 0.25) / 4)
    # gradient flows into mu only
    g = jax.grad(lambda f: distillation_loss(mu, f))(flow)
    assert float(jnp.abs(g).sum()) == 0.0


def test_bc_update_lowers_flow_loss_on_fixed_batch():
    a, s = agent_and_state("bc", lr=3e-3)
    up = jax.jit(a.update)
    b = batch()
    losses = []
    for _ in range(60):
        s, info = up(s, b)
        losses.append(float(info["flow_loss"]))
    assert np.mean(losses[-10:]) < 0.7 * np.mean(losses[:10])


def test_refinement_starts_at_identity_and_moves_after_one_update():
    """fidec's option: delta starts at exactly zero (zero-initialised output), then gets gradient from the Q term.
    The release initialises the output layer like every other layer, so delta starts non-zero."""
    b = batch()
    a, s = agent_and_state("fd", preset="paper+tiny")
    assert float(jnp.abs(a.refine(s.params["refine"], b["observations"], b["actions"])).max()) > 0.0
    a, s = agent_and_state("fd", refiner_zero_init=True)
    delta0 = a.refine(s.params["refine"], b["observations"], b["actions"])
    assert float(jnp.abs(delta0).max()) == 0.0
    s2, _ = jax.jit(a.update)(s, b)
    # the refinement network moved (it starts at zero output, so its last layer gets gradient)
    last = lambda p: jax.tree_util.tree_leaves(p["refine"])[-1]  # noqa: E731
    assert float(jnp.abs(last(s2.params) - last(s.params)).sum()) > 0


def count_velocity_rows(agent_name, **kw):
    """Rows pushed through the velocity network while tracing one update (each row = one evaluation)."""
    a, s = agent_and_state(agent_name, **kw)
    rows = []
    original = a.velocity

    def counting(flow_params):
        v = original(flow_params)

        def wrapped(obs, x, t):
            rows.append(int(np.prod(x.shape[:-1])))
            return v(obs, x, t)

        return wrapped

    a.velocity = counting
    jax.make_jaxpr(a.update)(s, batch())
    return sum(rows), a.config


@pytest.mark.parametrize("locality,reuse", [("per-state", False), ("per-state", True), ("per-action", False)])
def test_fd_update_velocity_evaluations_are_not_duplicated(locality, reuse):
    """One FD update: FM loss (B) + critic-target solve (K B) + base solve (K B) + Fisher. Per-state: N fresh
    behaviour samples (the release: N solves) or, with fidec's reuse option, the base action is one of them
    (N - 1 solves), + N score evaluations; per-action: N evaluations."""
    rows, c = count_velocity_rows("fd", fisher_locality=locality, fisher_reuse_base=reuse)
    k, n = c.flow_steps, c.fisher_samples
    fisher = (k * (n - int(reuse)) + n) if locality == "per-state" else n
    assert rows == B * (1 + 2 * k + fisher)


def test_baseline_velocity_evaluations():
    rows, c = count_velocity_rows("deflow")
    assert rows == B * (1 + 2 * c.flow_steps)
    rows, c = count_velocity_rows("fql")
    assert rows == B * (1 + c.flow_steps)
    rows, c = count_velocity_rows("bc")
    assert rows == B


def test_best_of_n_acting_picks_highest_q_base():
    a, s = agent_and_state("fd", act_samples=4)
    obs = jax.random.normal(jax.random.PRNGKey(5), (7, OBS))
    acts = a.act(s.params, obs, jax.random.PRNGKey(1))
    assert acts.shape == (7, ACT) and float(jnp.abs(acts).max()) <= 1.0
    single = a.act(s.params, obs[0], jax.random.PRNGKey(1))
    assert single.shape == (ACT,)
