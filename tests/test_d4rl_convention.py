"""The d4rl data convention: d4rl.qlearning_dataset plus the release's processing (envs/d4rl_utils.py,
envs/env_utils.py), for D4RL-format .hdf5 files and Minari datasets; OGBench's action clipping and success timing."""

import h5py
import numpy as np

from fidec.config import resolve
from fidec.data.sources import canonical_env, load_task
from fidec.data.sources.conventions import qlearning_dataset
from fidec.data.sources.ogbench import env_only_task

from . import minari_data as md
from .conftest import TINY_ENV

EPS = 1e-5


def write_d4rl_file(path):
    """7 rows of a D4RL-format file: a terminal at row 2, timeouts at rows 4 and 6, a goal in infos/goal."""
    with h5py.File(path, "w") as f:
        f["observations"] = np.arange(21, dtype=np.float64).reshape(7, 3)
        f["actions"] = np.array([[2.0], [-2.0], [1.0], [0.5], [-0.5], [0.0], [1.5]])  # Pendulum's [-2, 2]
        f["rewards"] = np.array([0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0])
        f["terminals"] = np.array([0, 0, 1, 0, 0, 0, 0], bool)
        f["timeouts"] = np.array([0, 0, 0, 0, 1, 0, 1], bool)
        f["infos/goal"] = np.full((7, 2), 9.0)


def test_hdf5_file_is_read_as_qlearning_dataset_and_the_release_read_it(tmp_path):
    path = tmp_path / "antmaze-toy-v2.hdf5"  # 'antmaze' in the name: the release's reward shift
    write_d4rl_file(path)
    task = load_task(canonical_env(str(path)), env_id="Pendulum-v1", convention="d4rl")
    obs = np.arange(21, dtype=np.float32).reshape(7, 3)
    # rows 0..5 (the last row never has a successor), row 4 dropped (timeout); no goal in the observations
    np.testing.assert_array_equal(task.train["observations"], obs[[0, 1, 2, 3, 5]])
    np.testing.assert_array_equal(task.train["next_observations"], obs[[1, 2, 3, 4, 6]])
    # actions: Pendulum's box mapped to [-1, 1], then clipped to +-(1 - 1e-5) as the release clips them
    np.testing.assert_allclose(task.train["actions"], [[1 - EPS], [-1 + EPS], [0.5], [0.25], [0.0]], rtol=0, atol=1e-7)
    np.testing.assert_array_equal(task.train["rewards"], [-1.0, -1.0, 0.0, -1.0, -1.0])  # antmaze: r - 1
    np.testing.assert_array_equal(task.train["masks"], [1.0, 1.0, 0.0, 1.0, 1.0])  # 1 - terminals
    assert all(v.dtype == np.float32 for v in task.train.values())
    assert task.info["transitions"] == 5 and task.info["rows"] == 7
    assert task.make_env().observation_space.shape == (3,)
    cfg = resolve({"env": str(path)})
    assert cfg.family == "d4rl-antmaze" and cfg.data_convention == "d4rl" and cfg.steps == 500_000


def test_qlearning_dataset_without_timeouts_counts_episode_steps():
    arrays = {
        "observations": np.arange(6, dtype=np.float32)[:, None],
        "actions": np.zeros((6, 1)),
        "rewards": np.zeros(6),
        "terminals": np.zeros(6),
    }
    q = qlearning_dataset(arrays, max_episode_steps=2)  # rows 1 and 3 end an episode by its length
    np.testing.assert_array_equal(q["observations"][:, 0], [0, 2, 4])
    np.testing.assert_array_equal(q["next_observations"][:, 0], [1, 3, 5])


def test_minari_d4rl_view_drops_the_goal_and_the_timeout_rows(minari_root):
    import minari

    eps = list(minari.load_dataset(md.ANTMAZE_NAMED).iterate_episodes())
    truncs = np.concatenate([e.truncations for e in eps]).astype(bool)
    terms = np.concatenate([e.terminations for e in eps]).astype(bool)
    view = lambda o: np.concatenate([o["achieved_goal"], o["observation"]], -1)  # noqa: E731
    rows = np.concatenate([view(e.observations)[:-1] for e in eps])  # the file D4RL would store
    keep = np.nonzero(~truncs[:-1])[0]
    task = load_task(f"minari:{md.ANTMAZE_NAMED}", convention="d4rl")
    assert task.info["observation_keys"] == ["achieved_goal", "observation"] and task.obs_dim == 6
    np.testing.assert_allclose(task.train["observations"], rows[keep], atol=1e-6)
    np.testing.assert_allclose(task.train["next_observations"], rows[keep + 1], atol=1e-6)
    np.testing.assert_array_equal(task.train["masks"], 1.0 - terms[keep])
    episodes = load_task(f"minari:{md.ANTMAZE_NAMED}")  # the named option: every step, goal included
    assert episodes.obs_dim == 8 and len(episodes.train["observations"]) == len(truncs) > len(keep)
    env = task.make_env()
    obs, _ = env.reset(seed=1)  # episode 1 was collected after reset(seed=1)
    np.testing.assert_allclose(obs, view(eps[1].observations)[0], atol=1e-6)


def test_paper_preset_reads_d4rl_the_release_way_and_runs_its_online_budget():
    off = resolve({"agent": "fql", "env": "minari:D4RL/pen/cloned-v2"})
    on = resolve({"agent": "fql", "env": "minari:D4RL/pen/cloned-v2", "online_steps": 1000})
    assert off.data_convention == on.data_convention == "d4rl"
    assert (off.steps, off.eval_every, off.fql_alpha) == (500_000, 500_000, 10_000.0)
    assert (on.steps, on.eval_every, on.fql_alpha) == (1_000_000, 100_000, 1000.0)  # FQL's online command
    hm = "humanoidmaze-medium-navigate-singletask-task1-v0"
    assert resolve({"agent": "fql", "env": hm, "online_steps": 1000}).fql_alpha == 100.0
    assert resolve({"agent": "fql", "env": hm}).fql_alpha == 30.0
    assert resolve({"env": hm}).normalize_q and not resolve({"env": hm.replace("task1", "task2")}).normalize_q
    assert resolve({"env": "humanoidmaze-medium-navigate-singletask-v0"}).normalize_q  # the default task's alias


def test_ogbench_actions_clipped_and_success_timing_passed_to_the_environment(tiny_dataset_dir):
    task = load_task(TINY_ENV, tiny_dataset_dir)
    assert np.abs(task.train["actions"]).max() <= 1 - EPS
    assert task.make_env().unwrapped._success_timing == "pre"
    post = env_only_task(TINY_ENV, tiny_dataset_dir, success_timing="post").make_env()
    assert post.unwrapped._success_timing == "post"  # OGBench 1.1's behaviour (FQL's published numbers)
