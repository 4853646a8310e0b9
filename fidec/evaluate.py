"""Rollouts in the OGBench environment: success rate over episodes, optional video frames.

Two evaluators give the same episodes:

- :func:`evaluate_seeds` (the default, ``eval_mode = 'vectorised'``): every episode of every seed in its own
  environment, all stepped in lockstep with ONE batched policy call per step; a finished episode stops
  stepping while the others go on.
- :func:`evaluate` (``eval_mode = 'sequential'``): one environment, one episode after another, one policy
  call per step.

Episode ``ep`` of an evaluation seeded ``seed`` resets with the ``ep``-th draw of
``numpy.random.default_rng(seed)`` and acts with the key ``fold_in(fold_in(PRNGKey(seed), ep), t)`` at step
``t`` in both evaluators, and the batched policy is the single-observation policy vmapped over rows, so
per-episode success, return and length are identical (``tests/test_evaluate.py``).
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from fidec.errors import FidecError
from fidec.io import atomic_open
from fidec.rendering import require_offscreen_gl

EVAL_MODES = ("vectorised", "sequential")


def _row_policy(agent):
    """``(params, obs, key, t) -> action`` for one observation row: the unit both evaluators vmap."""

    def row(params, obs, key, t):
        return agent.act(params, obs, jax.random.fold_in(key, t))

    return row


def make_policy_fn(agent):
    """A jitted ``(params, obs, key, t) -> action`` for one observation.

    The observation is evaluated as a row of a 2-row batch (itself twice): XLA:CPU computes a 1-row matrix
    product with another summation order than a many-row one (actions differ by ~1e-7), and the rows of a
    batch do not depend on the batch size at the sizes the identity test uses, so this keeps the sequential
    evaluator's actions bit-identical to the vectorised one's (``tests/test_evaluate.py``).
    """
    rows = jax.vmap(_row_policy(agent), in_axes=(None, 0, 0, None))

    @jax.jit
    def policy(params, obs, key, t):
        return rows(params, jnp.stack([obs, obs]), jnp.stack([key, key]), t)[0]

    return policy


def make_batch_policy_fn(agent):
    """A jitted ``(params, obs, keys, t) -> actions`` for seeds x episodes at once.

    ``params`` carry a leading seed axis S, ``obs`` is (S, E, obs_dim), ``keys`` (S, E, 2) holds each
    episode's key. It is the single-observation policy vmapped over episodes and seeds, so every row gets
    exactly the noise the single call of :func:`make_policy_fn` would give it.
    """
    over_episodes = jax.vmap(_row_policy(agent), in_axes=(None, 0, 0, None))
    return jax.jit(jax.vmap(over_episodes, in_axes=(0, 0, 0, None)))


def as_observation(obs) -> np.ndarray:
    """An environment's observation as the agent reads it: uint8 images stay uint8 (the encoder scales them on
    the device), states become float32."""
    obs = np.asarray(obs)
    return obs if obs.dtype == np.uint8 else obs.astype(np.float32)


def reset_seeds(seed: int, episodes: int) -> list[int]:
    """The reset seed of each episode of an evaluation seeded ``seed``."""
    rng = np.random.default_rng(seed)
    return [int(rng.integers(2**31 - 1)) for _ in range(episodes)]


def episode_key(seed: int, ep: int) -> jax.Array:
    """The policy-noise key of episode ``ep``; step ``t`` acts with ``fold_in(episode_key, t)``."""
    return jax.random.fold_in(jax.random.PRNGKey(seed), ep)


def summarize_episodes(episodes: dict) -> dict:
    """Mean success, its std, mean return and mean length from per-episode lists."""
    s, r, n = episodes["success"], episodes["return"], episodes["length"]
    nan = float("nan")
    return {
        "success": float(np.mean(s)) if s else nan,
        "success_std": float(np.std(s)) if s else nan,
        "return": float(np.mean(r)) if r else nan,
        "episode_length": float(np.mean(n)) if n else nan,
    }


def run_sequential(agent, params, env, episodes: int, seed: int, policy_fn=None, render: bool = False) -> dict:
    """Per-episode ``success``, ``return`` and ``length`` lists (and ``frames`` of episode 0 with ``render``)."""
    policy_fn = policy_fn or make_policy_fn(agent)
    out: dict = {"success": [], "return": [], "length": [], "frames": []}
    for ep, reset_seed in enumerate(reset_seeds(seed, episodes)):
        obs, info = env.reset(seed=reset_seed)
        ep_key = episode_key(seed, ep)
        done, t, ret = False, 0, 0.0
        while not done:
            action = np.asarray(policy_fn(params, as_observation(obs), ep_key, t))
            obs, reward, terminated, truncated, info = env.step(action)
            ret += float(reward)
            t += 1
            done = terminated or truncated
            if render and ep == 0:
                out["frames"].append(env.render())
        out["success"].append(float(info.get("success", 0.0)))
        out["return"].append(ret)
        out["length"].append(t)
    return out


def evaluate(agent, params, env, episodes: int, seed: int, policy_fn=None, render: bool = False) -> dict:
    """The sequential evaluator: ``episodes`` episodes one after another in ``env``.

    Success of an episode is ``info['success']`` at its last step. Returns ``success`` (mean),
    ``success_std``, ``return``, ``episode_length`` and, with ``render``, ``frames`` of the first episode.
    """
    eps = run_sequential(agent, params, env, episodes, seed, policy_fn=policy_fn, render=render)
    out = summarize_episodes(eps)
    if render:
        out["frames"] = eps["frames"]
    return out


class _Local:
    """Environments stepped one after another in this process."""

    def __init__(self, make_env: Callable[[], object] | None, envs: Sequence = ()):
        self.make_env = make_env
        self.envs = list(envs)

    def ensure(self, n: int) -> None:
        if len(self.envs) < n and self.make_env is None:
            raise ValueError(f"need {n} environments, got {len(self.envs)}")
        while len(self.envs) < n:
            self.envs.append(self.make_env())

    def reset(self, items: list[tuple[int, int]]) -> list:
        return [self.envs[i].reset(seed=s)[0] for i, s in items]

    def step(self, items: list[tuple[int, np.ndarray]]) -> list[tuple]:
        out = []
        for i, action in items:
            obs, reward, terminated, truncated, info = self.envs[i].step(action)
            out.append((obs, float(reward), bool(terminated or truncated), float(info.get("success", 0.0))))
        return out

    def render(self, i: int):
        return self.envs[i].render()

    def close(self) -> None:
        for env in self.envs:
            env.close()
        self.envs = []


def _worker(conn, make_env) -> None:
    """A worker process: owns some environments, answers ``ensure``/``reset``/``step``/``close``."""
    local = _Local(make_env)
    while True:
        cmd, arg = conn.recv()
        try:
            if cmd == "close":
                local.close()
                conn.send(("ok", None))
                return
            conn.send(("ok", getattr(local, cmd)(arg)))
        except Exception as e:  # reported to the parent, which raises it
            conn.send(("error", f"{type(e).__name__}: {e}"))


class _Workers:
    """Environments spread round-robin over worker processes (env ``i`` lives in worker ``i % workers``)."""

    def __init__(self, make_env: Callable[[], object], workers: int):
        ctx = mp.get_context("spawn")  # fork is unsafe once JAX has started threads
        self.conns, self.procs = [], []
        for _ in range(workers):
            parent, child = ctx.Pipe()
            p = ctx.Process(target=_worker, args=(child, make_env), daemon=True)
            p.start()
            child.close()
            self.conns.append(parent)
            self.procs.append(p)

    def _call(self, cmd: str, per_worker: list) -> list:
        for conn, arg in zip(self.conns, per_worker, strict=True):
            conn.send((cmd, arg))
        out = []
        for conn in self.conns:
            status, value = conn.recv()
            if status != "ok":
                raise RuntimeError(f"evaluation worker failed in {cmd}: {value}")
            out.append(value)
        return out

    def _scatter(self, cmd: str, items: list) -> list:
        w = len(self.conns)
        parts: list[list] = [[] for _ in range(w)]
        for i, x in items:
            parts[i % w].append((i // w, x))
        answers = [iter(a) for a in self._call(cmd, parts)]
        return [next(answers[i % w]) for i, _ in items]

    def ensure(self, n: int) -> None:
        w = len(self.conns)
        self._call("ensure", [len(range(k, n, w)) for k in range(w)])

    def reset(self, items):
        return self._scatter("reset", items)

    def step(self, items):
        return self._scatter("step", items)

    def render(self, i: int):
        raise ValueError("video rendering needs in-process environments (eval_workers 0)")

    def close(self) -> None:
        try:
            self._call("close", [None] * len(self.conns))
        except (EOFError, OSError, RuntimeError):
            pass
        for p in self.procs:
            p.join(timeout=5)
        self.conns, self.procs = [], []


class EnvPool:
    """Environments made on demand by ``make_env`` and kept for the next evaluation.

    ``workers == 0`` steps them in this process; ``workers > 0`` spreads them over that many worker processes
    (``make_env`` must then be picklable), so that stepping many MuJoCo environments uses several cores.
    """

    def __init__(self, make_env: Callable[[], object] | None = None, workers: int = 0, envs: Sequence = ()):
        self.workers = workers
        self._impl = _Workers(make_env, workers) if workers > 0 else _Local(make_env, envs)

    def __getattr__(self, name):
        if name == "_impl":
            raise AttributeError(name)
        return getattr(self._impl, name)

    def get(self, n: int) -> list:
        """The first ``n`` in-process environments (made if needed)."""
        self._impl.ensure(n)
        return self._impl.envs[:n]


def run_vectorised(
    agent,
    params,
    envs: Sequence | EnvPool,
    episodes: int,
    seeds: Sequence[int],
    policy_fn=None,
    render: bool = False,
    max_envs: int | None = None,
) -> list[dict]:
    """Per-seed, per-episode results of all ``len(seeds) * episodes`` episodes stepped in lockstep.

    ``params`` carry a leading axis over ``seeds`` (the trainer's vmapped state). ``envs`` is an
    :class:`EnvPool` or a list of environments. At most ``max_envs`` environments run at once (MuJoCo
    manipulation environments take ~150 MB each): the episodes run in waves of ``W = max_envs // len(seeds)``
    episodes of every seed, episode ``e`` of seed ``i`` in environment ``i * W + e % W``. Each step makes one
    batched policy call for the wave and steps only the episodes still running. Returns, per seed, the dict
    of :func:`run_sequential`.
    """
    n_seeds = len(seeds)
    out = [
        {"success": [0.0] * episodes, "return": [0.0] * episodes, "length": [0] * episodes, "frames": []} for _ in seeds
    ]
    if episodes == 0:
        return out
    pool = envs if isinstance(envs, EnvPool) else EnvPool(envs=envs)
    width = min(episodes, max(1, (max_envs or n_seeds * episodes) // n_seeds))
    pool.ensure(n_seeds * width)
    policy_fn = policy_fn or make_batch_policy_fn(agent)
    all_keys = np.stack([np.stack([np.asarray(episode_key(s, ep)) for ep in range(episodes)]) for s in seeds])
    all_resets = [reset_seeds(s, episodes) for s in seeds]
    # at least 2 columns: a 1-row product per seed would be summed in another order (see make_policy_fn)
    cols = max(width, 2)
    for start in range(0, episodes, width):
        eps = range(start, min(start + width, episodes))
        rows = [(i, j) for i in range(n_seeds) for j in range(len(eps))]  # (seed index, column in the wave)
        keys = np.zeros((n_seeds, cols, *all_keys.shape[2:]), all_keys.dtype)  # unused columns stay zero
        keys[:, : len(eps)] = all_keys[:, start : eps.stop]
        first = pool.reset([(i * width + j, all_resets[i][start + j]) for i, j in rows])
        first0 = as_observation(first[0])
        obs = np.zeros((n_seeds, cols, *first0.shape), first0.dtype)
        for (i, j), o in zip(rows, first, strict=True):
            obs[i, j] = o
        running, t = rows, 0
        while running:
            actions = np.asarray(policy_fn(params, obs, keys, t))
            results = pool.step([(i * width + j, actions[i, j]) for i, j in running])
            still = []
            for (i, j), (o, reward, done, success) in zip(running, results, strict=True):
                ep, res = start + j, out[i]
                obs[i, j] = o
                res["return"][ep] += reward
                res["length"][ep] = t + 1
                if render and ep == 0:
                    res["frames"].append(pool.render(i * width + j))
                if done:
                    res["success"][ep] = success
                else:
                    still.append((i, j))
            running = still
            t += 1
    return out


def evaluate_seeds(
    agent,
    params,
    envs: Sequence | EnvPool,
    episodes: int,
    seeds: Sequence[int],
    policy_fn=None,
    render: bool = False,
    max_envs: int | None = None,
) -> list[dict]:
    """The vectorised evaluator: per seed, the summary :func:`evaluate` gives for ``evaluate(..., seed)``.

    ``params`` carry a leading axis over ``seeds``; see :func:`run_vectorised`.
    """
    results = []
    runs = run_vectorised(agent, params, envs, episodes, seeds, policy_fn=policy_fn, render=render, max_envs=max_envs)
    for eps in runs:
        res = summarize_episodes(eps)
        if render:
            res["frames"] = eps["frames"]
        results.append(res)
    return results


def render_kwargs(task, width: int = 256, height: int = 256) -> dict:
    """How to make ``task``'s environment for a video: a state task's with a 256x256 ``rgb_array`` camera; a pixel
    task's as it is, since its width/height are the observation's and its ``render()`` is the very camera (and
    frame) the agent sees (``front_pixels``, 64x64, the frame stack's newest frame)."""
    if getattr(task, "pixels", False):
        return {}
    return {"render_mode": "rgb_array", "width": width, "height": height}


def make_render_env(task, width: int = 256, height: int = 256):
    """The task's env with rgb_array rendering, or a FidecError saying how to enable MuJoCo rendering."""
    if getattr(task, "pixels", False):
        require_offscreen_gl(task.env_name)
    if "MUJOCO_GL" not in os.environ:
        raise FidecError(
            "video needs MuJoCo offscreen rendering: set MUJOCO_GL=egl (GPU) or MUJOCO_GL=osmesa "
            "(CPU, Debian package libosmesa6) and run again"
        )
    try:
        env = task.make_env(**render_kwargs(task, width, height))
        env.reset(seed=0)
        env.render()
    except Exception as e:  # no GL backend available
        raise FidecError(
            f"MuJoCo rendering failed with MUJOCO_GL={os.environ['MUJOCO_GL']} ({type(e).__name__}: {e}); "
            "install a GL backend (libegl1 for egl, libosmesa6 for osmesa) or run without --video"
        ) from e
    return env


def save_gif(frames: list, path: str | os.PathLike, fps: int = 30, remedy: str | None = None) -> Path:
    """Write ``frames`` as a GIF, atomically; a full or read-only folder is a one-line
    :class:`~fidec.errors.StorageError` whose advice is ``remedy`` (e.g. where else to write it)."""
    from PIL import Image  # Pillow (matplotlib's dependency): loaded only where a video is written (start-up time)

    path = Path(path)
    # small pixel-task frames (64x64) are enlarged 4x, pixel for pixel
    scale = 4 if frames and np.asarray(frames[0]).shape[0] <= 96 else 1
    images = [Image.fromarray(np.asarray(f).repeat(scale, axis=0).repeat(scale, axis=1)) for f in frames]
    with atomic_open(path, remedy=remedy) as f:
        images[0].save(f, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    return path
