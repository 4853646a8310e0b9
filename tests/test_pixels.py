"""Pixel observations: augmentation, frame stacks, encoders, uint8 on the device, generation and training.

The properties of the data path and of the encoders are tested on synthetic frames (no renderer needed); the
end-to-end tests render a small visual dataset with MuJoCo's offscreen renderer (64x64, OGBench's size) and
skip, saying why, only where no offscreen GL backend exists.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fidec.agents import make_agent
from fidec.config import resolve
from fidec.data.frames import (
    AUG_PAD,
    FrameData,
    FrameStackEnv,
    assemble,
    from_compact,
    host_gather,
    random_shift,
    sample_frames,
    stacked_observations,
)
from fidec.data.placement import Prefetcher, choose_placement

VISUAL_ENV = "visual-cube-single-play-singletask-task1-v0"
VISUAL_DATASET = "visual-cube-single-play-v0"


def row_frames(rows: int, size: int = 8) -> np.ndarray:
    """uint8 frames whose every pixel holds the frame's row number (mod 256), so a frame names itself."""
    return np.broadcast_to((np.arange(rows) % 256).astype(np.uint8)[:, None, None, None], (rows, size, size, 3)).copy()


def synthetic(episode_lengths=(4, 1, 6), size: int = 8) -> FrameData:
    """Compact OGBench layout: each episode stores length + 1 frames, the last a next observation only."""
    valids = np.concatenate([np.r_[np.ones(n), 0.0] for n in episode_lengths])
    rows = len(valids)
    actions = np.stack([np.arange(rows)] * 2, axis=1).astype(np.float32)  # each transition's label names its row
    rewards = np.arange(rows, dtype=np.float32) * 10
    masks = (np.arange(rows) % 2).astype(np.float32)
    return from_compact(row_frames(rows, size), valids, rewards, masks, actions)


def frame_ids(stacked: np.ndarray, k: int) -> np.ndarray:
    """(batch, H, W, 3k) stacked frames -> (batch, k) row numbers of the frames, oldest first."""
    return np.asarray(stacked)[:, 0, 0, ::3][:, :k].astype(int)


# ------------------------------------------------------------------------------------------- frame stacking
def test_frame_stacks_repeat_the_first_frame_and_never_cross_episodes():
    data = synthetic()
    k = 3
    starts = {0: 0, 5: 5, 7: 7}  # episode start rows: lengths 4, 1, 6 plus one next-observation row each
    assert list(data.index) == [0, 1, 2, 3, 5, 7, 8, 9, 10, 11, 12]
    batch = stacked_observations(data, np.arange(len(data)), k)
    obs, nxt = frame_ids(batch["observations"], k), frame_ids(batch["next_observations"], k)
    for j, i in enumerate(data.index):
        start = max(s for s in starts if s <= i)
        assert list(obs[j]) == [max(i - 2, start), max(i - 1, start), i]
        assert list(nxt[j]) == [max(i - 1, start), i, i + 1]
        assert obs[j].min() >= start and nxt[j].min() >= start  # never a frame of the previous episode
    # the first transition of an episode repeats its first frame K times
    first = [j for j, i in enumerate(data.index) if i in starts]
    assert all(len(set(obs[j])) == 1 for j in first)
    # labels travel with their transition
    assert np.array_equal(batch["actions"][:, 0], data.index) and np.array_equal(batch["rewards"], data.index * 10.0)


def test_device_sampling_stacks_the_same_frames_as_the_host():
    data = synthetic()
    dev = {k: jnp.asarray(v) for k, v in data.arrays().items()}
    batch = jax.jit(partial(sample_frames, batch_size=64, frame_stack=3, p_aug=0.0))(dev, jax.random.PRNGKey(1))
    assert batch["observations"].dtype == jnp.uint8  # the update receives uint8; the encoder scales it
    rows = np.asarray(batch["actions"][:, 0]).astype(int)  # which transition each row is
    ref = stacked_observations(data, np.searchsorted(data.index, rows), 3)
    assert np.array_equal(np.asarray(batch["observations"]), ref["observations"])
    assert np.array_equal(np.asarray(batch["next_observations"]), ref["next_observations"])
    # host gathering + device assembly (the streaming path) gives the same stacks as well
    host = host_gather(data, np.random.default_rng(0), (2, 16), 3)
    out = assemble(
        jnp.asarray(host["gathered"][0]),
        {k: host[k][0] for k in ("actions", "rewards", "masks")},
        3,
        0.0,
        jax.random.PRNGKey(0),
    )
    ref = stacked_observations(data, np.searchsorted(data.index, host["actions"][0][:, 0].astype(int)), 3)
    assert np.array_equal(np.asarray(out["observations"]), ref["observations"])


def test_frame_stack_env_repeats_the_reset_frame():
    class Counter:
        def reset(self, **kw):
            self.t = 0
            return np.full((2, 2, 3), 7, np.uint8), {}

        def step(self, a):
            self.t += 1
            return np.full((2, 2, 3), self.t, np.uint8), 0.0, False, False, {}

    env = FrameStackEnv(Counter(), 3)
    ob, _ = env.reset()
    assert ob.shape == (2, 2, 9) and list(ob[0, 0, ::3]) == [7, 7, 7]
    env.step(None)
    ob, *_ = env.step(None)
    assert list(ob[0, 0, ::3]) == [7, 1, 2]


# ------------------------------------------------------------------------------------------- augmentation
def _batch(n=32, size=10, seed=0):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (n, size, size, 9), dtype=np.uint8)
    return {
        "observations": jnp.asarray(img),
        "next_observations": jnp.asarray(rng.integers(0, 256, img.shape, dtype=np.uint8)),
        "actions": jnp.asarray(rng.uniform(-1, 1, (n, 5)).astype(np.float32)),
        "rewards": jnp.asarray(rng.normal(size=n).astype(np.float32)),
        "masks": jnp.asarray(rng.integers(0, 2, n).astype(np.float32)),
    }


def _shifts(orig: np.ndarray, aug: np.ndarray, pad: int) -> list[tuple[int, int] | None]:
    """Per image, the crop offset in [0, 2 pad]^2 of the edge-padded original that equals ``aug`` (None: none)."""
    out = []
    for o, a in zip(orig, aug, strict=True):
        padded = np.pad(o, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
        h, w = o.shape[:2]
        hits = [
            (dy, dx)
            for dy in range(2 * pad + 1)
            for dx in range(2 * pad + 1)
            if np.array_equal(padded[dy : dy + h, dx : dx + w], a)
        ]
        out.append(hits[0] if hits else None)
    return out


def test_augmentation_with_p0_is_the_identity():
    b = _batch()
    out = random_shift(jax.random.PRNGKey(0), b, 0.0)
    for k in b:
        assert np.array_equal(np.asarray(out[k]), np.asarray(b[k]))


def test_augmentation_p1_shifts_every_image_by_at_most_the_pad_and_keeps_labels():
    b = _batch()
    out = jax.jit(lambda key, x: random_shift(key, x, 1.0))(jax.random.PRNGKey(3), b)
    assert out["observations"].dtype == jnp.uint8
    obs_shift = _shifts(np.asarray(b["observations"]), np.asarray(out["observations"]), AUG_PAD)
    next_shift = _shifts(np.asarray(b["next_observations"]), np.asarray(out["next_observations"]), AUG_PAD)
    assert None not in obs_shift  # every image is the padded original cropped within the pad
    assert obs_shift == next_shift  # an observation and its next observation move together
    assert sum(s != (AUG_PAD, AUG_PAD) for s in obs_shift) > len(obs_shift) // 2  # and most do move
    assert len(set(obs_shift)) > 5  # offsets differ between images
    for k in ("actions", "rewards", "masks"):
        assert np.array_equal(np.asarray(out[k]), np.asarray(b[k]))


def test_augmentation_probability_is_per_minibatch():
    b = _batch(n=4, size=6)
    f = jax.jit(lambda key: random_shift(key, b, 0.5)["observations"])
    changed = [
        not np.array_equal(np.asarray(f(k)), np.asarray(b["observations"]))
        for k in jax.random.split(jax.random.PRNGKey(0), 200)
    ]
    assert 0.35 < np.mean(changed) < 0.65


# ------------------------------------------------------------------------------------------- encoders
#: FQL agents/fql.py create(): critic, actor_bc_flow, actor_onestep_flow; release agents/fidec.py: critic,
#: actor_bc_flow, refine_onestep_flow; flow BC: the flow only.
ENCODED = {
    "fd": {"critic", "flow", "refine"},
    "deflow": {"critic", "flow", "refine"},
    "fql": {"critic", "flow", "onestep"},
    "bc": {"flow"},
    "iql": {"value", "critic", "actor"},  # FQL agents/iql.py create(): value, critic, actor
    "rebrac": {"critic", "actor"},  # FQL agents/rebrac.py create(): critic, actor
}


@pytest.mark.parametrize("agent_name", ["fd", "deflow", "fql", "bc", "iql", "rebrac"])
def test_each_network_has_its_own_encoder(agent_name):
    c = resolve({"env": VISUAL_ENV, "agent": agent_name, "preset": "tiny"})
    agent = make_agent(c, (16, 16, 9), 5)
    state = agent.init(jax.random.PRNGKey(0))
    has = {k for k, v in state.params.items() if isinstance(v, dict) and "encoder" in v}
    assert has == ENCODED[agent_name]
    encs = [state.params[k]["encoder"] for k in sorted(has)]
    for a, b in zip(encs, encs[1:], strict=False):  # not shared: independently initialised parameters
        assert not np.allclose(a["Dense_0"]["kernel"], b["Dense_0"]["kernel"])
    if agent.has_critic:  # the target critic (and ReBRAC's target actor) carries a copy of its network's encoder
        targets = state.target_params if agent_name == "rebrac" else {"critic": state.target_params}
        assert all("encoder" in t for t in targets.values())


def test_impala_small_on_64x64_frame_stacks_gives_512_features():
    from fidec.encoders import make_encoder

    enc = make_encoder("impala_small")
    x = jnp.zeros((2, 64, 64, 9), jnp.uint8)
    params = enc.init(jax.random.PRNGKey(0), x)["params"]
    assert enc.apply({"params": params}, x).shape == (2, 512)
    # FQL's impala_small: 3 stacks (16, 32, 32) of conv + one residual block (2 convs); 64 -> 8 after 3 pools
    assert sorted(params) == ["Dense_0", "ResnetStack_0", "ResnetStack_1", "ResnetStack_2"]
    assert [params[f"ResnetStack_{i}"]["Conv_0"]["kernel"].shape[-1] for i in range(3)] == [16, 32, 32]
    assert all(len(params[f"ResnetStack_{i}"]) == 3 for i in range(3))
    assert params["Dense_0"]["kernel"].shape == (8 * 8 * 32, 512)
    assert params["ResnetStack_0"]["Conv_0"]["kernel"].shape == (3, 3, 9, 16)


def _convs(fn, *args) -> int:
    return str(jax.make_jaxpr(fn)(*args)).count("conv_general_dilated")


def test_the_flow_encodes_once_for_all_euler_steps():
    c = resolve({"env": VISUAL_ENV, "agent": "fd", "preset": "tiny", "flow_steps": 7})
    agent = make_agent(c, (16, 16, 9), 5)
    p = agent.init(jax.random.PRNGKey(0)).params
    obs, z = jnp.zeros((4, 16, 16, 9), jnp.uint8), jnp.zeros((4, 5))
    per_encoding = _convs(lambda o: agent.features(p["flow"], o), obs)
    assert per_encoding == 6  # impala_debug: 2 stacks x 3 convs
    assert _convs(lambda o, n: agent.base_actions(p["flow"], o, n), obs, z) == per_encoding  # not 7x


def test_state_agents_have_no_encoder():
    c = resolve({"env": "cube-single-play-singletask-task1-v0", "agent": "fd", "preset": "tiny"})
    p = make_agent(c, 28, 5).init(jax.random.PRNGKey(0)).params
    assert "encoder" not in p["flow"] and "Dense_0" in p["flow"]["MLP_0"]


# ------------------------------------------------------------------------------------------- placement, presets
def test_placement_follows_the_budget():
    gib = 2**30
    assert choose_placement("auto", 12 * gib, device_bytes=80 * gib) == "device"
    assert choose_placement("auto", 12 * gib, device_bytes=16 * gib) == "host"
    assert choose_placement("auto", 12 * gib, budget_gb=8) == "host"
    assert choose_placement("auto", 12 * gib, device_bytes=None) == "device"  # CPU backend: host memory is the device
    assert choose_placement("host", 1, device_bytes=80 * gib) == "host"


def test_prefetched_chunks_are_uint8_on_the_device_and_deterministic():
    data = synthetic()
    make = partial(Prefetcher, data, updates=3, members=2, batch_size=4, frame_stack=3, seed=5, start_step=30)
    a, b = make(), make()
    try:
        ca, cb = a.get(), b.get()
        assert isinstance(ca["gathered"], jax.Array) and ca["gathered"].dtype == jnp.uint8
        assert ca["gathered"].shape == (3, 2, 4, 4, 8, 8, 3)
        for k in ca:
            assert np.array_equal(np.asarray(ca[k]), np.asarray(cb[k]))
        assert a.next_step == 33 and not np.array_equal(np.asarray(a.get()["actions"]), np.asarray(ca["actions"]))
    finally:
        a.close()
        b.close()


def test_visual_preset_rows():
    rows = {
        "visual-cube-single-play-singletask-task1-v0": (0.001, 300.0),
        "visual-cube-double-play-singletask-task1-v0": (0.001, 100.0),
        "visual-scene-play-singletask-task1-v0": (0.001, 100.0),
        "visual-puzzle-3x3-play-singletask-task1-v0": (0.005, 300.0),
        "visual-puzzle-4x4-play-singletask-task1-v0": (0.005, 300.0),
    }
    for env, (eps, alpha) in rows.items():
        c = resolve({"env": env, "agent": "fd"})
        assert (c.steps, c.encoder, c.p_aug, c.frame_stack) == (500_000, "impala_small", 0.5, 3)
        assert (c.target_divergence, c.fql_alpha, c.discount, c.q_agg, c.normalize_q) == (
            eps,
            alpha,
            0.99,
            "mean",
            False,
        )
    state = resolve({"env": "cube-single-play-singletask-task1-v0"})
    assert (state.encoder, state.frame_stack, state.p_aug) == ("none", 1, 0.0)


def test_online_phase_refuses_pixels():
    from fidec.errors import ConfigError

    with pytest.raises(ConfigError, match="not supported for pixel"):
        resolve({"env": VISUAL_ENV, "online_steps": 10})


def test_missing_renderer_is_one_line(monkeypatch):
    from fidec import rendering
    from fidec.errors import FidecError

    monkeypatch.delenv("MUJOCO_GL", raising=False)
    monkeypatch.setattr(rendering, "egl_installed", lambda: False)
    with pytest.raises(FidecError) as e:
        rendering.require_offscreen_gl(VISUAL_DATASET)
    assert "libegl1" in str(e.value) and "\n" not in str(e.value)


# ------------------------------------------------------------------------------------------- end to end
def _renderer_or_skip():
    from fidec.rendering import default_offscreen_gl

    backend = default_offscreen_gl()
    if not backend:
        pytest.skip("no offscreen GL backend (libEGL or OSMesa) on this machine: scripts/setup.sh installs libEGL")
    return backend


def _generate(tmp_path_factory, **kw):
    _renderer_or_skip()
    from fidec.data.generate import generate

    d = tmp_path_factory.mktemp("visual-data")
    r = generate(VISUAL_DATASET, episodes=1, workers=1, dataset_dir=d, progress=False, **kw)
    assert r.pixels and r.collected_steps == 2 * kw["episode_length"]
    return d


@pytest.fixture(scope="module")
def visual_dir(tmp_path_factory):
    """visual-cube-single-play-v0 with 16x16 frames (fast to render and train on): 1 train + 1 val episode."""
    return _generate(tmp_path_factory, episode_length=12, image_size=16)


def test_generated_visual_dataset_is_ogbench_format_and_verifies(tmp_path_factory):
    """The real path once: OGBench's 64x64 frames of the front_pixels camera."""
    from fidec.data.verify import verify_dataset

    d = _generate(tmp_path_factory, episode_length=6)
    with np.load(d / f"{VISUAL_DATASET}.npz") as z:
        assert z["observations"].dtype == np.uint8 and z["observations"].shape == (6, 64, 64, 3)
        assert {"actions", "terminals", "qpos", "qvel"} <= set(z.files)
        assert z["observations"].std() > 0  # a rendered scene, not a blank frame
    stats = verify_dataset(d / f"{VISUAL_DATASET}.npz")
    assert (
        stats["episodes"] == 1
        and stats["rows"] == 6
        and set(stats["task_successes"]) == {f"visual-cube-single-play-singletask-task{i}-v0" for i in range(1, 6)}
    )


@pytest.mark.parametrize("agent_name", ["fd", "deflow", "fql", "bc", "rebrac"])
def test_each_agent_trains_and_evaluates_on_pixels(visual_dir, tmp_path, agent_name):
    from fidec.data.loading import load_task
    from fidec.train import Trainer

    task = load_task(VISUAL_ENV, visual_dir)
    assert task.pixels and task.train.frames.dtype == np.uint8
    short = partial(task.env_factory, max_episode_steps=3)  # evaluation episodes of 3 rendered steps
    task = dataclasses.replace(task, env_factory=short)
    c = resolve(
        {
            "env": VISUAL_ENV,
            "agent": agent_name,
            "preset": "tiny",
            "steps": 10,
            "eval_episodes": 1,
            "dataset_dir": str(visual_dir),
            "eval_every": 10,
            "log_every": 10,
            "checkpoint_every": 10,
        }
    )
    t = Trainer.create(c, tmp_path / "run", progress=False, task=task)
    assert t.placement == "device"
    assert t.data["frames"].dtype == jnp.uint8 and isinstance(t.data["frames"], jax.Array)  # uint8 on the device
    assert t.agent.obs_shape == (16, 16, 9)
    summary = t.run()
    assert summary["final_step"] == 10
    evals = t.log.records("eval")
    assert evals and evals[-1]["episode_length"] == 3


def test_host_streaming_trains_like_the_device_path_shapes(visual_dir, tmp_path):
    from fidec.train import Trainer

    c = resolve(
        {
            "env": VISUAL_ENV,
            "agent": "fql",
            "preset": "tiny",
            "steps": 10,
            "eval_episodes": 0,
            "dataset_dir": str(visual_dir),
            "data_placement": "host",
            "stream_updates": 5,
            "log_every": 10,
            "checkpoint_every": 10,
        }
    )
    t = Trainer.create(c, tmp_path / "run", progress=False)
    assert t.placement == "host" and t.data is None
    t.run()
    assert int(t.states.step[0]) == 10
    assert [r["step"] for r in t.log.records("train")] == [10]


def test_pixel_data_without_encoder_is_a_one_line_error(visual_dir, tmp_path):
    from fidec.errors import FidecError
    from fidec.train import Trainer

    c = resolve({"env": VISUAL_ENV, "preset": "tiny", "encoder": "none", "dataset_dir": str(visual_dir)})
    with pytest.raises(FidecError, match="--encoder impala_small"):
        Trainer.create(c, tmp_path / "run", progress=False)


def test_generation_refuses_image_size_for_state_datasets(tmp_path):
    from fidec.data.generate import generate
    from fidec.errors import DatasetError

    with pytest.raises(DatasetError, match="--image-size is for pixel"):
        generate("cube-single-play-v0", episodes=1, image_size=16, dataset_dir=tmp_path, progress=False)


def test_mujoco_gl_is_set_for_pixel_commands():
    from fidec.rendering import names_pixel_task

    assert names_pixel_task(["train", "--env", VISUAL_ENV])
    assert names_pixel_task(["data", "generate", VISUAL_DATASET])
    assert not names_pixel_task(["train", "--env", "cube-single-play-singletask-task1-v0"])


def test_pixel_policy_saves_and_loads(tmp_path):
    from fidec.api import Policy, create_agent, load

    c = resolve({"env": VISUAL_ENV, "agent": "fql", "preset": "tiny"})
    agent, state = create_agent(c, (16, 16, 9), 5)
    path = Policy(agent, state.params, seed=3).save(tmp_path / "p.msgpack")
    ob = np.random.default_rng(0).integers(0, 256, (16, 16, 9), dtype=np.uint8)
    again = load(path)
    assert again.agent.obs_shape == (16, 16, 9)
    assert np.array_equal(
        Policy(agent, state.params, seed=3).act(ob), Policy(again.agent, again.params, seed=3).act(ob)
    )


# ------------------------------------------------------------------------------------------- frame shape
def _resize_splits(d, size: int, splits=("train", "val")) -> None:
    """Rewrite ``splits`` of the visual dataset in ``d`` with ``size`` x ``size`` frames (nearest pixel) and a
    generation record to match: what 'fidec data generate --image-size SIZE --force' leaves there."""
    import json

    from fidec.data.generate import sidecar_path
    from fidec.io import sha256_file

    for split in splits:
        path = d / (f"{VISUAL_DATASET}.npz" if split == "train" else f"{VISUAL_DATASET}-val.npz")
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
        obs = arrays["observations"]
        pick = np.arange(size) * obs.shape[1] // size
        arrays["observations"] = np.ascontiguousarray(obs[:, pick][:, :, pick])
        np.savez(path, **arrays)
        record = json.loads(sidecar_path(path).read_text())
        record["pixels"]["image_size"] = size
        record["keys"]["observations"]["shape"] = list(arrays["observations"].shape)
        record.update(sha256=sha256_file(path), size=path.stat().st_size)
        sidecar_path(path).write_text(json.dumps(record))


def _one_line_error(argv, capsys, *needles) -> str:
    from fidec.cli import main

    capsys.readouterr()
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert rc != 0 and all(n in err for n in needles), err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_splits_of_different_frame_sizes_fail_verify_and_train_before_a_run_folder(visual_dir, tmp_path, capsys):
    d = tmp_path / "data"
    shutil.copytree(visual_dir, d)
    _resize_splits(d, 8, splits=("val",))  # train 16x16, val 8x8
    fix = f"--image-size 16 --episode-length 12 --force --dataset-dir {d}"
    _one_line_error(["data", "verify", VISUAL_DATASET, "--dataset-dir", d], capsys, "16x16x3", "8x8x3", fix)
    run = tmp_path / "run"
    args = ["train", "--env", VISUAL_ENV, "--preset", "tiny", "--dataset-dir", d, "--run-dir", run, "--no-progress"]
    _one_line_error(args, capsys, "val split 8x8x3", fix)
    assert not run.exists()


def test_resume_and_evaluate_refuse_a_dataset_made_again_at_another_frame_size(visual_dir, tmp_path, capsys):
    from fidec.train import Trainer

    d = tmp_path / "data"
    shutil.copytree(visual_dir, d)
    c = resolve({"env": VISUAL_ENV, "agent": "bc", "preset": "tiny", "dataset_dir": str(d)})
    t = Trainer.create(c, tmp_path / "run", progress=False)
    t.save_checkpoint([], {})  # the run's networks take 16x16 frames, 3 stacked
    t.close()
    run = t.run_dir
    config = (run / "config.json").read_text()
    _resize_splits(d, 8)  # the dataset made again at 8x8
    fix = f"'fidec data generate {VISUAL_DATASET} --episodes 1 --seed 0 --image-size 16 --episode-length 12 --force"
    needles = ("has 8x8x3 frames", "trained on 16x16x3", fix, "start a new run")
    _one_line_error(["evaluate", run, "--episodes", "1"], capsys, *needles)
    _one_line_error(["train", "--resume", run, "--no-progress", "--accept-changed-data"], capsys, *needles)
    assert (run / "config.json").read_text() == config
    obs = json.loads(config)["observation"]
    assert obs == {"kind": "pixels", "frame_shape": [16, 16, 3], "frame_stack": 3, "shape": [16, 16, 9]}
