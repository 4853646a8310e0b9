"""The paper preset is the authors' release: each of its defaults pinned without the release's code.
The release itself is compared in benchmarks/parity (it needs a checkout of the release)."""

import argparse
import tomllib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fidec.agents import make_agent
from fidec.agents.common import make_optimizer, q_objective
from fidec.config import FIDEC_CHOICES, Config, resolve
from fidec.errors import ConfigError

OBS, ACT = 6, 3


def test_paper_preset_is_the_release_run_scripts():
    c = resolve({"agent": "fd", "env": "cube-single-play-singletask-task2-v0"})
    assert (c.weight_init, c.clip_scope, c.grad_clip, c.target_update) == ("glorot", "joint", 5.0, "pre-update")
    assert not c.refiner_zero_init and not c.fisher_reuse_base
    assert c.normalize_q  # scripts/ogbench_env_flags.sh: --agent.normalize_q_loss=True
    assert (c.fisher_samples, c.fisher_t_max, c.fisher_t_width, c.fisher_damping) == (8, 0.90, 0.05, 1e-3)
    assert (c.score_estimator, c.fisher_locality) == ("velocity", "per-state")
    assert (c.hidden_dims, c.lr, c.batch_size, c.alpha_init, c.lagrangian) == ((512,) * 4, 3e-4, 256, 10.0, True)
    fql = resolve({"agent": "fql", "env": "cube-single-play-singletask-task2-v0"})
    assert fql.grad_clip == 0.0 and not fql.normalize_q and fql.fql_alpha == 300.0  # FQL's release and README


def test_fidec_recipe_applies_every_choice_and_composes_with_a_budget():
    c = resolve({"agent": "fd", "preset": "fidec+cpu"})
    for k, v in FIDEC_CHOICES.items():
        assert getattr(c, k) == v
    assert c.hidden_dims == (256, 256, 256)
    assert resolve({"preset": "cpu"}).weight_init == "glorot"  # 'cpu' alone is paper+cpu
    for bad in ("fidec+paper", "cpu+tiny", "gpu", ""):
        with pytest.raises(ConfigError):
            resolve({"preset": bad})


def test_old_run_folders_keep_their_behaviour():
    """A config.json written before these fields existed resumes with fidec 0.1's behaviour."""
    c = Config.from_dict({"agent": "fd", "preset": "paper"})
    assert (c.weight_init, c.clip_scope, c.target_update, c.refiner_zero_init, c.fisher_reuse_base) == (
        "lecun",
        "per-network",
        "post-update",
        True,
        True,
    )


@pytest.mark.parametrize("preset,scheme", [("paper+tiny", "glorot"), ("fidec+tiny", "lecun")])
def test_initialisation_distribution(preset, scheme):
    """Paper: every kernel (output layers included) is Glorot uniform, |w| <= sqrt(6 / (fan_in + fan_out)) with
    variance 2 / (fan_in + fan_out); fidec: lecun normal (variance 1 / fan_in, unbounded)."""
    cfg = resolve({"agent": "fd", "preset": preset, "hidden_dims": (256, 256)})
    params = make_agent(cfg, OBS, ACT).init(jax.random.PRNGKey(0)).params
    kernels = [
        (path, leaf)
        for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]
        if "kernel" in jax.tree_util.keystr(path) and leaf.shape[-2] * leaf.shape[-1] >= 256
    ]
    assert len(kernels) >= 8
    for path, w in kernels:
        fan_in, fan_out = w.shape[-2:]
        w = np.asarray(w)
        if scheme == "glorot":
            if "refine" in jax.tree_util.keystr(path):
                assert np.abs(w).max() > 0
            assert np.abs(w).max() <= np.sqrt(6 / (fan_in + fan_out)) + 1e-6
            np.testing.assert_allclose(w.var(), 2 / (fan_in + fan_out), rtol=0.25)
        elif "refine" in jax.tree_util.keystr(path) and fan_out == ACT:
            assert np.abs(w).max() == 0.0  # fidec: the refinement's output layer starts at zero
        else:
            np.testing.assert_allclose(w.var(), 1 / fan_in, rtol=0.3)


def test_joint_clip_couples_networks_per_network_does_not():
    """A huge critic gradient shrinks the actor's clipped gradient below Adam's eps under the joint clip (the
    release), so the actor barely moves; clipped per network (fidec), the actor takes a full Adam step."""
    params = {"critic": jnp.zeros(4), "refine": jnp.zeros(4)}
    grads = {"critic": jnp.full(4, 1e6), "refine": jnp.full(4, 1e-6)}
    steps = {}
    for scope in ("joint", "per-network"):
        cfg = resolve({"clip_scope": scope, "lr": 1.0})
        tx = make_optimizer(cfg, params)
        updates, _ = tx.update(grads, tx.init(params), params)
        steps[scope] = float(jnp.abs(updates["refine"]).max())
        assert float(jnp.abs(updates["critic"]).max()) == pytest.approx(1.0, rel=1e-3)
    assert steps["per-network"] == pytest.approx(1.0, rel=0.02)
    assert steps["joint"] < 1e-2


def test_q_normalisation_makes_the_actor_gradient_scale_free():
    q = jnp.array([1.0, -2.0, 3.0])
    g = jax.grad(lambda x: q_objective(x, True))
    np.testing.assert_allclose(g(q), g(100.0 * q) * 100.0, rtol=1e-5)
    np.testing.assert_allclose(jax.grad(lambda x: q_objective(x, False))(q), 1 / 3, rtol=1e-6)


@pytest.mark.parametrize("target_update", ["pre-update", "post-update"])
def test_target_critic_follows_the_chosen_critic(target_update):
    cfg = resolve({"agent": "deflow", "preset": "tiny", "target_update": target_update, "lr": 1e-2})
    agent = make_agent(cfg, OBS, ACT)
    s = agent.init(jax.random.PRNGKey(0))
    k = jax.random.split(jax.random.PRNGKey(1), 3)
    b = {
        "observations": jax.random.normal(k[0], (32, OBS)),
        "next_observations": jax.random.normal(k[1], (32, OBS)),
        "actions": jnp.clip(jax.random.normal(k[2], (32, ACT)), -1, 1),
        "rewards": jnp.ones(32),
        "masks": jnp.ones(32),
    }
    s1, _ = agent.update(s, b)
    s2, _ = agent.update(s1, b)
    source = s1.params if target_update == "pre-update" else s2.params
    want = jax.tree_util.tree_map(lambda t, o: 0.995 * t + 0.005 * o, s1.target_params, source["critic"])
    for x, y in zip(jax.tree_util.tree_leaves(s2.target_params), jax.tree_util.tree_leaves(want), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)


def test_iterative_refinement_acting_picks_the_best_q_candidate():
    cfg = resolve({"agent": "fd", "preset": "tiny", "act_refine_steps": 3})
    agent = make_agent(cfg, OBS, ACT)
    params = agent.init(jax.random.PRNGKey(0)).params
    obs = jax.random.normal(jax.random.PRNGKey(2), (5, OBS))
    key = jax.random.PRNGKey(3)
    acts = agent.sample_actions(params, obs, key)
    a = agent.base_actions(params["flow"], obs, jax.random.normal(key, (5, ACT)))
    cands = [a]
    for _ in range(3):
        a = agent.policy(params, obs, a)
        cands.append(a)
    qs = jnp.stack([jnp.mean(agent.critic(params["critic"], obs, c), 0) for c in cands], 1)
    best = jnp.stack(cands, 1)[jnp.arange(5), jnp.argmax(qs, 1)]
    np.testing.assert_allclose(acts, best, rtol=1e-6)


def _flag(name: str, text: str):
    from fidec.commands.train import add_config_flags

    p = argparse.ArgumentParser(exit_on_error=False)
    add_config_flags(p)
    try:
        return getattr(p.parse_args([f"--{name.replace('_', '-')}", text]), name)
    except argparse.ArgumentError as e:  # argparse's own words: "argument --steps: invalid int value: '2.5'"
        return ("error", name.replace("_", "-") in str(e))


def _set(name: str, text: str):
    from fidec.errors import FidecError
    from fidec.sweep import parse_set

    try:
        return parse_set([f"{name}={text}"])[name]
    except FidecError as e:
        return ("error", name in str(e))


def _suite(name: str, text: str):
    """A suite file's [config] value: TOML-typed, then resolved as every sweep job is."""
    value = tomllib.loads(f"{name} = {text}")[name]
    try:
        return getattr(resolve({name: value}), name)
    except ConfigError as e:
        return ("error", name in str(e))


@pytest.mark.parametrize(
    "name, text, toml, want",
    [
        ("steps", "2e3", "2e3", 2000),
        ("steps", "2000", "2000", 2000),
        ("steps", "2.5e3", "2.5e3", 2500),
        ("steps", "2.5", "2.5", ("error", True)),
        ("steps", "2.5e0", "2.5e0", ("error", True)),
        ("lr", "1e-3", "1e-3", 1e-3),
        ("hidden_dims", "8,8", "[8, 8]", (8, 8)),
        ("hidden_dims", "8e0,16", "[8e0, 16]", (8, 16)),
        ("hidden_dims", "8.5,16", "[8.5, 16]", ("error", True)),
        ("target_divergences", "0.001,0.01", "[0.001, 0.01]", (0.001, 0.01)),
    ],
)
def test_flags_set_and_suite_values_coerce_identically(name, text, toml, want):
    """One reading of a field's value: ``--FLAG TEXT``, ``--set FIELD=TEXT`` and a suite's ``FIELD = VALUE``
    give the same value, or all refuse it naming the field (integers take 2e3 only when exactly integral)."""
    from fidec.config import from_text

    if not (isinstance(want, tuple) and want[0] == "error"):
        assert from_text(name, text) == want
    assert _flag(name, text) == _set(name, text) == _suite(name, toml) == want
