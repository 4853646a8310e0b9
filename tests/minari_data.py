"""Tiny Minari datasets and .npz files made here (no network): a goal-reaching PointMaze (gymnasium-robotics,
Dict observations, some episodes terminated at the goal, some cut by the time limit) and Pendulum (actions in
[-2, 2], so the action rule rescales them)."""

from __future__ import annotations

import warnings

import numpy as np

POINTMAZE = "fidec-test/pointmaze/mixed-v0"
ANTMAZE_NAMED = "fidec-test/antmaze/mixed-v0"  # the same episodes under an antmaze id: D4RL antmaze conventions
PENDULUM = "fidec-test/pendulum/random-v0"
POINTMAZE_STEPS = 60  # the time limit recorded in the dataset's environment spec
REF_SCORES = (0.0, 1.0)


def _quiet():
    warnings.simplefilter("ignore")
    import gymnasium
    import gymnasium_robotics

    gymnasium.register_envs(gymnasium_robotics)
    return gymnasium


def pointmaze(dataset_id: str, episodes: int = 8):
    """Even episodes: a PD controller to the goal (terminates there); odd ones: uniform random (time limit)."""
    import minari

    with warnings.catch_warnings():
        gym = _quiet()
        env = minari.DataCollector(
            gym.make("PointMaze_Open-v3", max_episode_steps=POINTMAZE_STEPS, continuing_task=False)
        )
        env.action_space.seed(0)
        for ep in range(episodes):
            o, _ = env.reset(seed=ep)
            done = False
            while not done:
                if ep % 2 == 0:
                    pos, vel = o["achieved_goal"], o["observation"][2:]
                    a = np.clip(3.0 * (o["desired_goal"] - pos) - 0.5 * vel, -1, 1).astype(np.float32)
                else:
                    a = env.action_space.sample()
                o, _, terminated, truncated, _ = env.step(a)
                done = terminated or truncated
        ds = env.create_dataset(
            dataset_id,
            ref_min_score=REF_SCORES[0],
            ref_max_score=REF_SCORES[1],
            algorithm_name="pd-controller+random",
            author="fidec tests",
            author_email="-",
            code_permalink="tests/minari_data.py",
            description="fidec test data",
        )
        env.close()
    return ds


def pendulum(dataset_id: str, episodes: int = 2, steps: int = 50):
    import minari

    with warnings.catch_warnings():
        gym = _quiet()
        env = minari.DataCollector(gym.make("Pendulum-v1", max_episode_steps=steps))
        env.action_space.seed(0)
        for ep in range(episodes):
            env.reset(seed=ep)
            done = False
            while not done:
                _, _, terminated, truncated, _ = env.step(env.action_space.sample())
                done = terminated or truncated
        ds = env.create_dataset(
            dataset_id,
            algorithm_name="random",
            author="fidec tests",
            author_email="-",
            code_permalink="tests/minari_data.py",
            description="fidec test data",
        )
        env.close()
    return ds


def pendulum_rows(episodes: int = 2, seed: int = 0) -> dict:
    """Pendulum steps as the .npz layout (one row per step; 'timeouts' where the 200-step limit cut)."""
    import gymnasium as gym

    env = gym.make("Pendulum-v1")
    env.action_space.seed(seed)
    rows = {k: [] for k in ("observations", "actions", "rewards", "terminals", "timeouts")}
    for ep in range(episodes):
        o, _ = env.reset(seed=seed + ep)
        done = False
        while not done:
            a = env.action_space.sample()
            o2, r, terminated, truncated, _ = env.step(a)
            for k, v in zip(rows, (o, a, r, terminated, truncated), strict=True):
                rows[k].append(v)
            o, done = o2, terminated or truncated
    return {k: np.asarray(v) for k, v in rows.items()}
