"""Rollouts in the OGBench environment: success rate over episodes, optional video frames."""

from __future__ import annotations

import os
from pathlib import Path

import jax
import numpy as np

from fidec.errors import FidecError


def make_policy_fn(agent):
    """A jitted ``(params, obs, key, t) -> action`` for one observation."""

    @jax.jit
    def policy(params, obs, key, t):
        return agent.act(params, obs, jax.random.fold_in(key, t))

    return policy


def evaluate(agent, params, env, episodes: int, seed: int, policy_fn=None, render: bool = False) -> dict:
    """Run ``episodes`` episodes; success of an episode is ``info['success']`` at its last step.

    Resets are seeded from ``seed`` so the same seed gives the same initial states and policy noise.
    Returns ``success`` (mean), ``success_std``, ``return``, ``episode_length`` and, with ``render``,
    ``frames`` of the first episode.
    """
    policy_fn = policy_fn or make_policy_fn(agent)
    rng = np.random.default_rng(seed)
    key = jax.random.PRNGKey(seed)
    successes, returns, lengths, frames = [], [], [], []
    for ep in range(episodes):
        obs, info = env.reset(seed=int(rng.integers(2**31 - 1)))
        ep_key = jax.random.fold_in(key, ep)
        done, t, ret = False, 0, 0.0
        while not done:
            action = np.asarray(policy_fn(params, np.asarray(obs, np.float32), ep_key, t))
            obs, reward, terminated, truncated, info = env.step(action)
            ret += float(reward)
            t += 1
            done = terminated or truncated
            if render and ep == 0:
                frames.append(env.render())
        successes.append(float(info.get("success", 0.0)))
        returns.append(ret)
        lengths.append(t)
    out = {
        "success": float(np.mean(successes)) if successes else float("nan"),
        "success_std": float(np.std(successes)) if successes else float("nan"),
        "return": float(np.mean(returns)) if returns else float("nan"),
        "episode_length": float(np.mean(lengths)) if lengths else float("nan"),
    }
    if render:
        out["frames"] = frames
    return out


def make_render_env(task, width: int = 256, height: int = 256):
    """The task's env with rgb_array rendering, or a FidecError saying how to enable MuJoCo rendering."""
    if "MUJOCO_GL" not in os.environ:
        raise FidecError(
            "video needs MuJoCo offscreen rendering: set MUJOCO_GL=egl (GPU) or MUJOCO_GL=osmesa "
            "(CPU, Debian package libosmesa6) and run again"
        )
    try:
        env = task.make_env(render_mode="rgb_array", width=width, height=height)
        env.reset(seed=0)
        env.render()
    except Exception as e:  # no GL backend available
        raise FidecError(
            f"MuJoCo rendering failed with MUJOCO_GL={os.environ['MUJOCO_GL']} ({type(e).__name__}: {e}); "
            "install a GL backend (libegl1 for egl, libosmesa6 for osmesa) or run without --video"
        ) from e
    return env


def save_gif(frames: list, path: str | os.PathLike, fps: int = 30) -> Path:
    from PIL import Image

    path = Path(path)
    images = [Image.fromarray(np.asarray(f)) for f in frames]
    tmp = path.with_suffix(".tmp.gif")
    images[0].save(tmp, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    os.replace(tmp, path)
    return path
