"""Write the two kinds of data fidec trains on besides OGBench, offline (README, "Your own data and D4RL").

1. A Minari dataset (``fidec/pointmaze-open/pd-random-v0``) in Minari's root (``$MINARI_DATASETS_PATH``, else
   ``~/.minari/datasets``), collected with ``minari.DataCollector`` in gymnasium-robotics' PointMaze_Open-v3:
   half the episodes a PD controller that drives the point to the goal (they terminate there), half uniform
   random actions (cut by the 100-step limit). Reference scores 0 and 1 (return = reaching the goal), so
   fidec reports Minari's normalised score.
2. ``pendulum.npz`` in the current folder: Pendulum-v1 with uniform random torques in [-2, 2], in the ``.npz``
   layout fidec reads (observations, actions, rewards, terminals, timeouts, env_id).

Usage: ``python examples/own_data.py [--episodes 50] [--npz pendulum.npz]`` (needs ``pip install 'fidec[minari]'``).
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

MINARI_ID = "fidec/pointmaze-open/pd-random-v0"


def make_minari(episodes: int, steps: int = 100, seed: int = 0) -> None:
    import gymnasium as gym
    import gymnasium_robotics
    import minari

    gym.register_envs(gymnasium_robotics)
    if MINARI_ID in minari.list_local_datasets():
        print(f"minari:{MINARI_ID} is already there")
        return
    env = minari.DataCollector(gym.make("PointMaze_Open-v3", max_episode_steps=steps, continuing_task=False))
    env.action_space.seed(seed)
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed + ep)
        done = False
        while not done:
            if ep % 2 == 0:  # PD controller towards the goal: position in achieved_goal, velocity in observation[2:]
                pos, vel = obs["achieved_goal"], obs["observation"][2:]
                action = np.clip(3.0 * (obs["desired_goal"] - pos) - 0.5 * vel, -1, 1).astype(np.float32)
            else:
                action = env.action_space.sample()
            obs, _, terminated, truncated, _ = env.step(action)
            done = terminated or truncated
    ds = env.create_dataset(
        MINARI_ID,
        ref_min_score=0.0,
        ref_max_score=1.0,
        algorithm_name="PD controller (even episodes) + uniform random (odd episodes)",
        author="fidec examples",
        author_email="-",
        code_permalink="examples/own_data.py",
        description="PointMaze_Open-v3, sparse reward, terminates at the goal",
    )
    print(f"wrote minari:{MINARI_ID}: {ds.total_episodes} episodes, {ds.total_steps} steps")


def make_npz(path: str, episodes: int, seed: int = 0) -> None:
    import gymnasium as gym

    env = gym.make("Pendulum-v1")
    env.action_space.seed(seed)
    rows = {k: [] for k in ("observations", "actions", "rewards", "terminals", "timeouts")}
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed + ep)
        done = False
        while not done:
            action = env.action_space.sample()
            nxt, reward, terminated, truncated, _ = env.step(action)
            for key, value in zip(rows, (obs, action, reward, terminated, truncated), strict=True):
                rows[key].append(value)
            obs, done = nxt, terminated or truncated
    np.savez(path, **{k: np.asarray(v) for k, v in rows.items()}, env_id=np.array("Pendulum-v1"))
    print(f"wrote {path}: {episodes} episodes, {len(rows['rewards'])} steps")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--episodes", type=int, default=50, help="Minari episodes (default 50)")
    p.add_argument("--npz", default="pendulum.npz", help="where to write the .npz (default pendulum.npz)")
    p.add_argument("--npz-episodes", type=int, default=20)
    args = p.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        make_minari(args.episodes)
    make_npz(args.npz, args.npz_episodes)


if __name__ == "__main__":
    main()
