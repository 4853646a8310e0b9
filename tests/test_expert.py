"""The ant expert (OGBench's SAC recipe) and the ant maze datasets collected with it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fidec.data.expert import EXPERT_FILE, Expert
from fidec.errors import DatasetError, FidecError
from fidec.experts import LOG_FILE, ExpertTrainer, SACConfig, actor_arrays

#: A few hundred steps of a small SAC: 50-step episodes so that checkpoints (at episode ends) come often.
TINY = SACConfig(
    train_steps=300,
    seed_steps=100,
    batch_size=32,
    actor_hidden_dims=(32, 32),
    value_hidden_dims=(32, 32),
    max_episode_steps=50,
    checkpoint_interval=100,
    log_interval=50,
    eval_interval=150,
    eval_episodes=1,
)


def _leaves(tree):
    import jax

    return [np.asarray(x) for x in jax.tree_util.tree_leaves(tree)]


@pytest.fixture(scope="module")
def tiny_expert(tmp_path_factory):
    """A tiny expert trained without interruption: (trainer, folder)."""
    d = tmp_path_factory.mktemp("expert-straight")
    t = ExpertTrainer(TINY, d, progress=False)
    t.run(resume=False)
    return t, d


def test_sac_trains_and_resumes_bit_identically(tiny_expert, tmp_path):
    straight, straight_dir = tiny_expert
    assert straight.step == TINY.train_steps and straight.buffer.size == TINY.train_steps
    init = ExpertTrainer(TINY, tmp_path / "init", progress=False).state
    # Training happened: the actor, the critic and the temperature moved away from their initial values.
    for part in ("actor", "critic"):
        assert any(
            not np.array_equal(a, b)
            for a, b in zip(_leaves(straight.state["params"][part]), _leaves(init["params"][part]), strict=True)
        )
    assert float(straight.state["params"]["log_alpha"]) != 0.0

    # Interrupted at the first checkpoint at or after step 150 (an episode end), then resumed in a new process state.
    d = tmp_path / "resumed"
    first = ExpertTrainer(TINY, d, progress=False)
    first.run(resume=False, stop_after=150)
    assert 150 <= first.step < TINY.train_steps
    second = ExpertTrainer(TINY, d, progress=False)
    second.run(resume=True)
    assert second.step == TINY.train_steps
    for a, b in zip(_leaves(second.state), _leaves(straight.state), strict=True):
        np.testing.assert_array_equal(a, b)
    for k in straight.buffer.data:
        np.testing.assert_array_equal(second.buffer.data[k], straight.buffer.data[k])
    # The log (training records and the directional-return evaluation at step 150) is the same too.
    log_a = [json.loads(x) for x in (straight_dir / LOG_FILE).read_text().splitlines()]
    log_b = [json.loads(x) for x in (d / LOG_FILE).read_text().splitlines()]
    strip = lambda recs: [{k: v for k, v in r.items() if k not in ("steps_per_s", "eta_s")} for r in recs]  # noqa: E731
    assert strip(log_a) == strip(log_b)
    assert [r["step"] for r in log_a if r.get("eval")] == [150, 300]


def test_numpy_expert_matches_the_jax_actor(tiny_expert):
    """Data collection runs the actor in NumPy; its action is the JAX actor's deterministic one, tanh(mean)."""
    trainer, d = tiny_expert
    expert = Expert.load(d / EXPERT_FILE)
    assert expert.meta["step"] == TINY.train_steps and expert.meta["finished"]
    obs = np.random.default_rng(0).normal(size=(16, trainer.obs_dim)).astype(np.float32)
    mean, _ = trainer.agent.actor.apply({"params": trainer.state["params"]["actor"]}, obs)
    np.testing.assert_allclose(expert(obs), np.tanh(np.asarray(mean)), atol=1e-5)
    # The file holds the final actor, every layer.
    arrays = actor_arrays(trainer.state["params"])
    for i, (w, b) in enumerate(expert.layers):
        np.testing.assert_array_equal(w, arrays[f"hidden_{i}/kernel"])
        np.testing.assert_array_equal(b, arrays[f"hidden_{i}/bias"])
    np.testing.assert_array_equal(expert.mean[0], arrays["mean/kernel"])


def test_tiny_antmaze_generation_has_ogbench_schema_and_verifies(tiny_expert, tmp_path):
    from fidec.data.generate import generate, sidecar_path
    from fidec.data.verify import verify_dataset

    _, expert_dir = tiny_expert
    name = "antmaze-medium-stitch-v0"
    report = generate(name, episodes=2, seed=0, workers=1, dataset_dir=tmp_path, progress=False, expert=expert_dir)
    for path, eps in ((report.train_path, 2), (report.val_path, 1)):
        with np.load(path) as z:
            assert z.files == ["observations", "actions", "terminals", "qpos", "qvel"]
            n = eps * 201
            assert z["observations"].shape == (n, 29) and z["observations"].dtype == np.float32
            assert z["actions"].shape == (n, 8) and z["actions"].dtype == np.float32
            assert z["qpos"].shape == (n, 15) and z["qvel"].shape == (n, 14)
            assert np.flatnonzero(z["terminals"]).tolist() == [201 * (i + 1) - 1 for i in range(eps)]
            assert np.abs(z["actions"]).max() <= 1.0
            # Observations are the ant's state: x-y position first, as in qpos.
            np.testing.assert_allclose(z["observations"][:, :2], z["qpos"][:, :2], atol=1e-5)
        stats = verify_dataset(path)
        assert stats["episodes"] == eps and stats["checksum"] == "match"
        record = json.loads(sidecar_path(path).read_text())
        assert record["recipe"]["noise"] == 0.2 and record["expert"]["step"] == TINY.train_steps


def test_missing_expert_says_how_to_train_it(tmp_path):
    from fidec.data.generate import generate

    with pytest.raises(DatasetError) as e:
        generate("antmaze-large-navigate-v0", episodes=1, dataset_dir=tmp_path, progress=False)
    msg = str(e.value)
    assert "\n" not in msg and "fidec data expert ant" in msg and str(tmp_path / "experts" / "ant") in msg
    with pytest.raises(DatasetError, match="--expert PATH"):
        generate("antmaze-large-navigate-v0", episodes=1, dataset_dir=tmp_path, expert=tmp_path / "nope.npz")


def test_untrained_experts_name_their_cost(capsys):
    from fidec.cli import main

    assert main(["data", "expert", "humanoid", "--dataset-dir", "/nonexistent"]) == 1
    err = capsys.readouterr().err
    assert "40M" in err and "days" in err


def test_catalog_lists_ant_mazes_as_generatable():
    from fidec.data.catalog import CATALOG

    ant = [s for n, s in CATALOG.items() if n.startswith("antmaze-")]
    assert len(ant) == 11 and all(s.generatable for s in ant)
    assert all("fidec data expert ant" in s.how() for s in ant)
    assert {s.recipe["noise"] for s in ant if s.dataset_type == "explore"} == {1.0}
    assert not CATALOG["humanoidmaze-medium-navigate-v0"].generatable
    assert not CATALOG["antsoccer-arena-navigate-v0"].generatable
    with pytest.raises(FidecError):
        SACConfig(train_steps=0)
