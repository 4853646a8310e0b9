"""The vectorised evaluator gives the sequential evaluator's episodes: same actions, success, return, length."""

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fidec.agents import make_agent
from fidec.config import resolve
from fidec.data.loading import load_task
from fidec.evaluate import (
    EnvPool,
    episode_key,
    make_batch_policy_fn,
    make_policy_fn,
    run_sequential,
    run_vectorised,
)
from fidec.runs import MetricsLog
from fidec.train import Trainer

from .conftest import TINY_ENV
from .toy_env import VariableLengthEnv


class Recorder(gym.Wrapper):
    """Keeps every episode's actions and final observation; refuses a step after the episode ended."""

    def __init__(self, env):
        super().__init__(env)
        self.episodes: list[dict] = []
        self.done = True

    def reset(self, **kw):
        obs, info = self.env.reset(**kw)
        self.episodes.append({"actions": [], "obs": None})
        self.done = False
        return obs, info

    def step(self, action):
        assert not self.done, "stepped an environment whose episode had ended"
        obs, r, term, trunc, info = self.env.step(action)
        self.episodes[-1]["actions"].append(np.array(action, copy=True))
        self.episodes[-1]["obs"] = np.array(obs, copy=True)
        self.done = bool(term or trunc)
        return obs, r, term, trunc, info


def stacked_params(agent, seeds):
    return jax.jit(jax.vmap(agent.init))(jnp.stack([jax.random.PRNGKey(s) for s in seeds])).params


def seed_params(params, i):
    return jax.tree_util.tree_map(lambda x: x[i], params)


def compare(agent, params, make_env, episodes, eval_seeds, max_envs=None):
    """Run both evaluators; assert identical per-episode actions, final observations, success, return, length.

    With ``max_envs`` the vectorised evaluator runs in waves of ``W = max_envs // seeds`` episodes per seed,
    episode ``e`` of seed ``i`` being the ``e // W``-th episode of environment ``i * W + e % W``.
    """
    width = min(episodes, (max_envs or len(eval_seeds) * episodes) // len(eval_seeds))
    vec_envs = [Recorder(make_env()) for _ in range(len(eval_seeds) * width)]
    vec = run_vectorised(agent, params, vec_envs, episodes, eval_seeds, max_envs=max_envs)
    for i, s in enumerate(eval_seeds):
        env = Recorder(make_env())
        seq = run_sequential(agent, seed_params(params, i), env, episodes, s)
        for key in ("success", "return", "length"):
            assert vec[i][key] == seq[key], (key, s)
        for ep in range(episodes):
            mine, ref = vec_envs[i * width + ep % width].episodes[ep // width], env.episodes[ep]
            assert len(mine["actions"]) == len(ref["actions"]) == seq["length"][ep]
            np.testing.assert_array_equal(np.stack(mine["actions"]), np.stack(ref["actions"]))
            np.testing.assert_array_equal(mine["obs"], ref["obs"])
    assert all(len(e.episodes) == -(-episodes // width) for e in vec_envs)  # one episode per env and wave
    return vec


@pytest.mark.parametrize("agent_name, hidden", [("fd", (32, 32)), ("fql", (128, 128, 128)), ("bc", (128, 128, 128))])
def test_batched_policy_rows_equal_single_calls(agent_name, hidden):
    """Row (i, e) of the one batched call is bit-identical to the single-observation call with that row's key."""
    cfg = resolve({"agent": agent_name, "preset": "tiny", "hidden_dims": hidden})
    agent = make_agent(cfg, 7, 3)
    seeds, episodes = [3, 4], 5
    params = stacked_params(agent, seeds)
    obs = np.random.default_rng(0).normal(size=(len(seeds), episodes, 7)).astype(np.float32)
    keys = np.stack([np.stack([np.asarray(episode_key(s, e)) for e in range(episodes)]) for s in seeds])
    single, batch = make_policy_fn(agent), make_batch_policy_fn(agent)
    for t in (0, 5):
        out = np.asarray(batch(params, obs, keys, t))
        for i in range(len(seeds)):
            for e in range(episodes):
                np.testing.assert_array_equal(
                    out[i, e], np.asarray(single(seed_params(params, i), obs[i, e], keys[i, e], t))
                )
    # and the rows really are different draws (the per-episode keys are not shared)
    assert len({tuple(r) for r in out.reshape(-1, 3).round(6)}) == len(seeds) * episodes


def test_vectorised_matches_sequential_on_ogbench(tiny_dataset_dir):
    """Two vmapped seeds x 3 episodes on the OGBench cube task: the same episodes as the sequential evaluator."""
    task = load_task(TINY_ENV, tiny_dataset_dir)
    cfg = resolve({"env": TINY_ENV, "agent": "fd", "preset": "tiny", "hidden_dims": (64, 64)})
    agent = make_agent(cfg, task.obs_dim, task.action_dim)
    make_env = lambda: task.make_env(max_episode_steps=60)  # noqa: E731 - shorter episodes, same dynamics
    # waves of one episode per seed: each environment runs 3 episodes, reset by seed, as the sequential one does
    vec = compare(agent, stacked_params(agent, [0, 1]), make_env, 3, [11, 12], max_envs=2)
    assert all(n > 1 for v in vec for n in v["length"])


@pytest.mark.parametrize("max_envs", [None, 7])  # all 18 episodes at once; waves of 2 episodes x 3 seeds
def test_finished_episodes_stop_stepping_and_success_matches(max_envs):
    """Episodes of different lengths in lockstep: none is stepped after it ends; success/return/length match."""
    cfg = resolve({"agent": "fql", "preset": "tiny"})
    agent = make_agent(cfg, 4, 2)
    vec = compare(agent, stacked_params(agent, [0, 1, 2]), VariableLengthEnv, 6, [5, 6, 7], max_envs=max_envs)
    lengths = [n for v in vec for n in v["length"]]
    successes = [s for v in vec for s in v["success"]]
    assert len(set(lengths)) > 2  # the lockstep really had to stop finished episodes early
    assert 0 < sum(successes) < len(successes)  # success varies, so equal successes is a real check


def test_trainer_eval_modes_give_identical_records(tiny_dataset_dir, tmp_path):
    """The trainer's vectorised evaluation (default) writes the sequential evaluation's eval records."""

    def evals(mode):
        cfg = resolve(
            {
                "env": TINY_ENV,
                "preset": "tiny",
                "dataset_dir": str(tiny_dataset_dir),
                "num_seeds": 2,
                "steps": 20,
                "eval_every": 20,
                "eval_episodes": 2,
                "eval_envs": 2,
                "eval_mode": mode,
            }
        )
        Trainer.create(cfg, tmp_path / mode, progress=False).run()
        drop = {"eval_time_s", "wall_time"}
        return [{k: v for k, v in r.items() if k not in drop} for r in MetricsLog(tmp_path / mode).records("eval")]

    vec, seq = evals("vectorised"), evals("sequential")
    assert len(vec) == 2 and vec == seq


def test_worker_processes_give_the_same_episodes():
    """Environments stepped in 2 worker processes (in waves): the sequential evaluator's results."""
    cfg = resolve({"agent": "bc", "preset": "tiny"})
    agent = make_agent(cfg, 4, 2)
    params = stacked_params(agent, [0, 1])
    pool = EnvPool(VariableLengthEnv, workers=2)
    try:
        vec = run_vectorised(agent, params, pool, 5, [8, 9], max_envs=6)
    finally:
        pool.close()
    for i, s in enumerate([8, 9]):
        seq = run_sequential(agent, seed_params(params, i), VariableLengthEnv(), 5, s)
        assert {k: vec[i][k] for k in ("success", "return", "length")} == {
            k: seq[k] for k in ("success", "return", "length")
        }
