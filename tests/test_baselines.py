"""IQL and ReBRAC: their losses against hand computation, their delayed actor, and runs through fidec's machinery
(vmapped seeds, online phase, presets, suites). Parity with FQL's own code: benchmarks/parity/parity.py."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fidec.agents import make_agent
from fidec.agents.iql import AWR_WEIGHT_MAX, awr_weights, expectile_loss
from fidec.config import resolve
from fidec.data.loading import next_row_actions
from fidec.online import buffer as ob
from fidec.runs import MetricsLog
from fidec.train import Trainer

from .conftest import TINY_ENV
from .test_online import goal_task, online_config

OBS, ACT, B = 3, 2, 6


def agent_and_state(name, **kw):
    cfg = resolve({"agent": name, "env": TINY_ENV, "preset": "tiny", "hidden_dims": (4,), **kw})
    agent = make_agent(cfg, OBS, ACT)
    return agent, agent.init(jax.random.PRNGKey(0))


def fixed_batch(seed=0):
    r = np.random.default_rng(seed)
    return {
        "observations": jnp.asarray(r.normal(size=(B, OBS)), jnp.float32),
        "next_observations": jnp.asarray(r.normal(size=(B, OBS)), jnp.float32),
        "actions": jnp.asarray(r.uniform(-0.9, 0.9, (B, ACT)), jnp.float32),
        "next_actions": jnp.asarray(r.uniform(-0.9, 0.9, (B, ACT)), jnp.float32),
        "rewards": -jnp.asarray(r.uniform(size=B) < 0.5, jnp.float32),
        "masks": jnp.asarray([1, 1, 0, 1, 1, 1], jnp.float32),
    }


def gelu(x):  # flax's nn.gelu (tanh approximation), by hand
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def actor_mean(p, obs):
    """fidec's GaussianActor with one hidden layer, in numpy: Dense, GELU, Dense."""
    h = gelu(np.asarray(obs) @ np.asarray(p["Dense_0"]["kernel"]) + np.asarray(p["Dense_0"]["bias"]))
    return h @ np.asarray(p["Dense_1"]["kernel"]) + np.asarray(p["Dense_1"]["bias"])


# ------------------------------------------------------------------------------------------------ analytic
def test_expectile_loss_weights_tau_above_and_one_minus_tau_below():
    diff = jnp.array([2.0, -2.0, 0.5, -0.5, 0.0])
    got = np.asarray(expectile_loss(diff, 0.9))
    np.testing.assert_allclose(got, [0.9 * 4, 0.1 * 4, 0.9 * 0.25, 0.1 * 0.25, 0.0], rtol=1e-6)
    assert float(jnp.mean(expectile_loss(diff, 0.5))) == pytest.approx(0.5 * float(jnp.mean(diff**2)))


def test_awr_weights_are_exp_of_scaled_advantage_clipped_at_100():
    adv = jnp.array([-1.0, 0.0, 0.2, 0.5, 3.0])
    got = np.asarray(awr_weights(adv, 10.0))
    np.testing.assert_allclose(got, [np.exp(-10), 1.0, np.exp(2), AWR_WEIGHT_MAX, AWR_WEIGHT_MAX], rtol=1e-6)


def test_iql_losses_by_hand():
    agent, state = agent_and_state("iql", iql_expectile=0.7, iql_alpha=3.0)
    batch = fixed_batch()
    _, info = agent.losses(state.params, state, batch, agent.draw_noise(jax.random.PRNGKey(1), batch))
    p, obs, a = state.params, batch["observations"], batch["actions"]
    q_tgt = np.min(np.asarray(agent.critic(state.target_params, obs, a)), axis=0)
    v = np.asarray(agent.value(p["value"], obs))
    u = q_tgt - v
    assert float(info["value_loss"]) == pytest.approx(np.mean(np.where(u >= 0, 0.7, 0.3) * u**2), rel=1e-5)
    y = np.asarray(batch["rewards"]) + 0.99 * np.asarray(batch["masks"]) * np.asarray(
        agent.value(p["value"], batch["next_observations"])
    )
    q = np.asarray(agent.critic(p["critic"], obs, a))
    assert float(info["critic_loss"]) == pytest.approx(np.mean(np.sum((q - y) ** 2, axis=0)), rel=1e-5)
    # AWR with the constant std 1: log pi(a|s) = -||a - mu(s)||^2 / 2 - d/2 log(2 pi)
    w = np.minimum(np.exp(3.0 * (np.min(q, axis=0) - v)), 100.0)
    mu = actor_mean(p["actor"], obs)
    log_prob = -0.5 * np.sum((np.asarray(a) - mu) ** 2, -1) - ACT / 2 * np.log(2 * np.pi)
    assert float(info["actor_loss"]) == pytest.approx(-np.mean(w * log_prob), rel=1e-4)


def test_rebrac_actor_and_critic_penalties_by_hand():
    agent, state = agent_and_state("rebrac", rebrac_alpha_actor=0.3, rebrac_alpha_critic=0.7)
    batch = fixed_batch()
    z = jnp.asarray(np.random.default_rng(5).normal(size=(B, ACT)) * 4, jnp.float32)  # some beyond the clip
    _, info = agent.losses(state.params, state, batch, {"next": z})
    p, t = state.params, state.target_params
    # actor: alpha_actor * mean ||tanh(mu(s)) - a||^2
    pi = np.tanh(actor_mean(p["actor"], batch["observations"]))
    want_bc = 0.3 * np.mean(np.sum((pi - np.asarray(batch["actions"])) ** 2, -1))
    assert float(info["actor_bc_loss"]) == pytest.approx(want_bc, rel=1e-5)
    q_pi = np.min(np.asarray(agent.critic(p["critic"], batch["observations"], jnp.asarray(pi))), 0)
    assert float(info["actor_q_loss"]) == pytest.approx(-np.mean(q_pi) / np.mean(np.abs(q_pi)), rel=1e-4)
    # critic: a' = clip(tanh(mu_target(s')) + clip(0.2 z, -0.5, 0.5), -1, 1),
    # y = r + discount * mask * (min_j Q'_j(s', a') - alpha_critic ||a' - a_next||^2)
    a_next = np.clip(np.tanh(actor_mean(t["actor"], batch["next_observations"])) + np.clip(0.2 * z, -0.5, 0.5), -1, 1)
    pen = np.sum((a_next - np.asarray(batch["next_actions"])) ** 2, -1)
    assert float(info["critic_bc"]) == pytest.approx(np.mean(pen), rel=1e-5)
    q_next = np.min(np.asarray(agent.critic(t["critic"], batch["next_observations"], jnp.asarray(a_next))), 0)
    y = np.asarray(batch["rewards"]) + 0.99 * np.asarray(batch["masks"]) * (q_next - 0.7 * pen)
    assert float(info["td_target"]) == pytest.approx(np.mean(y), rel=1e-5)
    q = np.asarray(agent.critic(p["critic"], batch["observations"], batch["actions"]))
    assert float(info["critic_loss"]) == pytest.approx(np.mean((q - y) ** 2), rel=1e-5)


def test_rebrac_trains_its_actor_and_moves_its_targets_every_second_update():
    agent, s0 = agent_and_state("rebrac")
    batch = fixed_batch()
    update = jax.jit(agent.update)
    s1, info1 = update(s0, batch)  # update 1 (FQL's i = 1): critic only
    assert float(info1["grad_norm_actor"]) == 0.0 and float(info1["grad_norm_critic"]) > 0
    for a, b in zip(
        jax.tree_util.tree_leaves(s0.target_params), jax.tree_util.tree_leaves(s1.target_params), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    s2, info2 = update(s1, batch)  # update 2: actor and both targets (Polyak from the networks before the step)
    assert float(info2["grad_norm_actor"]) > 0
    want = jax.tree_util.tree_map(lambda o, t: 0.005 * o + 0.995 * t, agent.target_of(s1.params), s1.target_params)
    for a, b in zip(jax.tree_util.tree_leaves(want), jax.tree_util.tree_leaves(s2.target_params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name, terms", [("iql", ("value_loss", "critic_loss")), ("rebrac", ("critic_loss",))])
def test_updates_on_a_fixed_batch_lower_the_losses(name, terms):
    agent, state = agent_and_state(name, hidden_dims=(16, 16))
    batch = fixed_batch()
    first = agent.loss_terms(state, batch, jax.random.PRNGKey(0))
    state, infos = jax.jit(lambda s: jax.lax.scan(lambda s, _: agent.update(s, batch), s, None, length=100))(state)
    info = {k: v[-1] for k, v in infos.items()}
    for term in terms:
        assert np.isfinite(float(info[term])) and float(info[term]) < 0.6 * float(first[term]), term


def test_acting_is_deterministic_and_exploring_is_not():
    for name in ("iql", "rebrac"):
        agent, state = agent_and_state(name)
        obs = fixed_batch()["observations"]
        k1, k2 = jax.random.PRNGKey(1), jax.random.PRNGKey(2)
        np.testing.assert_array_equal(agent.act(state.params, obs, k1), agent.act(state.params, obs, k2))
        e1, e2 = agent.act(state.params, obs, k1, explore=True), agent.act(state.params, obs, k2, explore=True)
        assert not np.allclose(e1, e2) and float(jnp.max(jnp.abs(e1))) <= 1.0


# ------------------------------------------------------------------------------------------------ data
def test_next_actions_are_the_next_rows_and_the_ring_follows_the_write_order():
    a = np.arange(5, dtype=np.float32)[:, None]
    np.testing.assert_array_equal(next_row_actions(a)[:, 0], [1, 2, 3, 4, 4])  # FQL: actions[min(i + 1, N - 1)]
    buf = {"actions": jnp.arange(4, dtype=jnp.float32)[:, None]}  # ring of 4 slots
    # 3 transitions written (slots 0..2): the newest (slot 2) keeps its own action
    got = ob.ring_next_actions(buf, jnp.arange(3), 3, 4)[:, 0]
    np.testing.assert_array_equal(got, [1, 2, 2])
    # 6 written: slots hold transitions 4, 5, 2, 3; the newest (5, slot 1) keeps its own, slot 3 wraps to 0
    np.testing.assert_array_equal(ob.ring_next_actions(buf, jnp.arange(4), 6, 4)[:, 0], [1, 1, 3, 0])


# ------------------------------------------------------------------------------------------------ runs
def test_a_vmapped_seed_trains_as_its_single_seed_run(tmp_path):
    """ReBRAC (the delayed actor and two targets inside the vmapped scan): seed 1 of a --num-seeds 2 run is the
    single-seed run of seed 1, up to float reassociation."""
    task = goal_task()
    kw = dict(env="toy-goal", preset="tiny", agent="rebrac", steps=20, eval_episodes=0, log_every=10)
    Trainer.create(resolve({**kw, "num_seeds": 2}), tmp_path / "both", task=task, progress=False).run()
    Trainer.create(resolve({**kw, "seed": 1}), tmp_path / "one", task=task, progress=False).run()
    mine = [r for r in MetricsLog(tmp_path / "both").records("train") if r["seed"] == 1]
    one = MetricsLog(tmp_path / "one").records("train")
    assert [r["step"] for r in mine] == [r["step"] for r in one] == [10, 20]
    for g, w in zip(mine, one, strict=True):
        for key in ("critic_loss", "actor_loss", "q_data", "td_target"):
            np.testing.assert_allclose(g[key], w[key], rtol=2e-3, atol=1e-6, err_msg=key)


def test_offline_to_online_run(tmp_path):
    """ReBRAC online: next actions from the ring, exploring with its target noise, balanced sampling."""
    cfg = online_config(agent="rebrac", steps=10, online_steps=20, eval_episodes=1, log_every=10, eval_every=30,
                        checkpoint_every=30, balanced_sampling=True)  # fmt: skip
    task = goal_task()
    Trainer.create(cfg, tmp_path / "run", task=task, progress=False).run()
    online = [r for r in MetricsLog(tmp_path / "run").records("train") if r.get("phase") == "online"]
    assert [r["env_steps"] for r in online] == [10, 20]
    assert all(np.isfinite(r["critic_loss"]) and np.isfinite(r["actor_loss"]) for r in online)


def test_presets_cite_the_readme_rows_and_fall_back_to_them():
    hm = resolve({"agent": "rebrac", "env": "humanoidmaze-medium-navigate-singletask-task1-v0"})
    assert (hm.discount, hm.q_agg, hm.rebrac_alpha_actor, hm.rebrac_alpha_critic, hm.grad_clip) == (
        0.995, "min", 0.01, 0.01, 0.0)  # fmt: skip
    vis = resolve({"agent": "iql", "env": "visual-cube-single-play-singletask-task1-v0"})
    assert (vis.iql_alpha, vis.encoder, vis.q_agg) == (1.0, "impala_small", "min")
    vis_rebrac = resolve({"agent": "rebrac", "env": "visual-puzzle-3x3-play-singletask-task1-v0"})
    assert (vis_rebrac.rebrac_alpha_actor, vis_rebrac.rebrac_alpha_critic) == (1.0, 0.0)  # the visual stand-in
    cube = resolve({"agent": "iql", "env": TINY_ENV})
    assert (cube.iql_alpha, cube.iql_expectile, cube.q_agg) == (10.0, 0.9, "min")  # the state stand-in
    with pytest.raises(Exception, match="no flow"):
        resolve({"agent": "iql", "env": TINY_ENV, "online_steps": 10, "online_freeze_flow": True})


def test_a_suite_can_name_iql_and_rebrac(tmp_path):
    from fidec.sweep import expand, load_suite

    from .test_sweep import write_suite

    jobs = expand(load_suite(str(write_suite(tmp_path / "s.toml", ["iql", "rebrac"], [0]))), tmp_path / "out")
    assert sorted(j.agent for j in jobs) == ["iql", "rebrac"]
