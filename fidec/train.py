"""The training loop: compiled chunks of updates over device-resident data, several seeds at once.

One call of the compiled chunk runs ``n`` updates (``lax.scan``) for every seed (``vmap``), sampling
minibatches on the device. Between chunks the host logs (loss terms averaged over the chunk, plus
log-time diagnostics that need extra ODE solves), evaluates, and checkpoints. Every random draw comes
from the checkpointed state, so a resumed run continues bit-identically.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata as md
import json
import math
import time
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from fidec import checkpoint
from fidec.agents import make_agent
from fidec.config import Config
from fidec.data.loading import Task, load_task, sample_batch, to_device
from fidec.errors import FidecError, NonFiniteLossError
from fidec.evaluate import EnvPool, evaluate, evaluate_seeds, make_batch_policy_fn, make_policy_fn
from fidec.loggers import open_stream, require_loggers
from fidec.runs import MetricsLog, summarize, write_json

DIAG_BATCH = 256


def versions() -> dict:
    out = {}
    for pkg in ("fidec", "jax", "jaxlib", "flax", "optax", "ogbench", "mujoco", "numpy"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


def success_timing(env) -> str | None:
    """OGBench >= 1.2 computes singletask reward/success before the step ('pre'); 1.1 used 'post'."""
    return getattr(env.unwrapped, "_success_timing", None)


def make_chunk_fn(agent, batch_size: int):
    """``run_chunk(states, data, n) -> (states, infos)``: n updates for every seed, infos of shape (n, seeds)."""

    def one_update(state, data):
        rng, k = jax.random.split(state.rng)
        return agent.update(state.replace(rng=rng), sample_batch(data, k, batch_size))

    all_seeds = jax.vmap(one_update, in_axes=(0, None))

    @partial(jax.jit, static_argnums=2, donate_argnums=0)
    def run_chunk(states, data, n):
        if jax.tree_util.tree_leaves(states)[0].shape[0] == 1:
            # One seed: no vmap. XLA:CPU compiles a size-1 batch axis into slower code (LayerNorm/GELU
            # backward; 5-15 % per update, benchmarks/speed/README.md). Same computation.
            state = jax.tree_util.tree_map(lambda x: x[0], states)
            state, infos = jax.lax.scan(lambda s, _: one_update(s, data), state, None, length=n)
            return jax.tree_util.tree_map(lambda x: x[None], state), jax.tree_util.tree_map(lambda x: x[:, None], infos)
        return jax.lax.scan(lambda s, _: all_seeds(s, data), states, None, length=n)

    return run_chunk


def init_states(agent, seeds: list[int]):
    return jax.jit(jax.vmap(agent.init))(jnp.stack([jax.random.PRNGKey(s) for s in seeds]))


def seed_slice(tree, i: int):
    return jax.tree_util.tree_map(lambda x: x[i], tree)


def first_nonfinite(infos: dict, start_step: int, seeds: list[int]) -> str | None:
    """A message naming the first step, seed and loss term that is NaN/inf, or None."""
    worst = None
    for name, arr in infos.items():
        bad = ~np.isfinite(np.asarray(arr))
        if bad.any():
            t, s = np.argwhere(bad)[0]
            if worst is None or t < worst[0]:
                worst = (int(t), int(s), name)
    if worst is None:
        return None
    t, s, name = worst
    return f"loss term '{name}' became non-finite at step {start_step + t + 1} (seed {seeds[s]})"


class Trainer:
    """Owns one run folder. ``Trainer(config, run_dir).run()`` trains; ``Trainer.resume(run_dir)`` continues."""

    def __init__(self, config: Config, run_dir: str | Path, task: Task | None = None, progress: bool = True):
        config.validate()
        self.config = config
        self.run_dir = Path(run_dir)
        self.progress = progress
        self.task = task or load_task(config.env, config.dataset_dir)
        self.agent = make_agent(config, self.task.obs_dim, self.task.action_dim)
        self.seeds = config.seeds
        self.log = MetricsLog(self.run_dir)
        self.data = to_device(self.task.train)
        diag_idx = np.random.default_rng(0).integers(0, len(self.task.val["observations"]), DIAG_BATCH)
        self.diag_batch = {k: jnp.asarray(v[diag_idx]) for k, v in self.task.val.items()}
        self.run_chunk = make_chunk_fn(self.agent, config.batch_size)
        self.diagnostics = jax.jit(jax.vmap(self.agent.diagnostics, in_axes=(0, None, 0)))
        self.states = init_states(self.agent, self.seeds)
        self.step = 0
        self.wall = 0.0
        self._env = None
        self._policy_fn = None
        self._batch_policy_fn = None
        self._env_pool = None
        self.chunk_time = 0.0  # this process: seconds inside compiled chunk calls, and in the whole loop
        self.loop_time = 0.0

    # ------------------------------------------------------------------ run folder
    @classmethod
    def create(cls, config: Config, run_dir, progress: bool = True, task: Task | None = None) -> Trainer:
        run_dir = Path(run_dir)
        config.validate()
        require_loggers(config.logger)  # before anything is written: a missing extra is a one-line error
        if checkpoint.exists(run_dir) or (run_dir / "metrics.jsonl").exists():
            raise FidecError(
                f"run folder {run_dir} already holds a run; continue it with 'fidec train --resume {run_dir}' "
                "or choose another --run-dir"
            )
        t = cls(config, run_dir, task=task, progress=progress)
        t._write_config()
        return t

    @classmethod
    def resume(
        cls, run_dir, steps: int | None = None, progress: bool = True, task: Task | None = None, read_only=False
    ):
        """Load a run folder at its latest checkpoint. ``read_only`` (for evaluation/loading) changes no file."""
        run_dir = Path(run_dir)
        cfg_path = run_dir / "config.json"
        if not cfg_path.exists():
            raise FidecError(f"{run_dir} is not a fidec run folder (no config.json); start one with 'fidec train'")
        config = Config.from_dict(json.loads(cfg_path.read_text())["config"])
        if steps is not None:
            config.steps = steps
        t = cls(config, run_dir, task=task, progress=progress)
        if checkpoint.exists(run_dir):
            t.states, meta = checkpoint.load(run_dir, t.states)
            t.step, t.wall = int(meta["step"]), float(meta["wall_time"])
        if steps is not None and steps < t.step:
            raise FidecError(f"--steps {steps} is below the run's current step {t.step}")
        if not read_only:
            t.log.truncate_after(t.step)  # records written after the checkpoint are redone
            t._write_config()
        return t

    def _write_config(self):
        env = self.env
        write_json(
            self.run_dir / "config.json",
            {
                "config": self.config.to_dict(),
                "versions": versions(),
                "success_timing": success_timing(env),
                "dataset": {
                    "name": self.task.dataset_name,
                    "dir": self.task.dataset_dir,
                    "transitions": int(len(self.task.train["observations"])),
                },
            },
        )

    @property
    def env(self):
        if self._env is None:
            self._env = self.task.make_env()
        return self._env

    # ------------------------------------------------------------------ loop
    def _boundaries(self) -> int:
        c = self.config
        nxt = c.steps
        for every in (c.log_every, c.eval_every, c.checkpoint_every, c.chunk_size):
            nxt = min(nxt, (self.step // every + 1) * every)
        return nxt

    def run(self) -> dict:
        """Train to ``config.steps``; records go to metrics.jsonl/csv and the loggers named by ``config.logger``."""
        self._stream = open_stream(self.log, self.config.logger, self.seeds, self.config.to_dict(), self.step)
        try:
            return self._run()
        finally:
            self._stream.close()
            if self._env_pool is not None:
                self._env_pool.close()
                self._env_pool = None

    def _run(self) -> dict:
        c = self.config
        from tqdm.auto import tqdm

        bar = tqdm(
            total=c.steps,
            initial=self.step,
            disable=not self.progress,
            unit="upd",
            dynamic_ncols=True,
            desc=f"{c.agent} {c.env}",
        )
        compiled: set[int] = set()
        window_updates, window_time, latest_success = 0, 0.0, None
        chunk_infos = []
        loop_start = window_start = time.perf_counter()
        window_chunks = 0.0  # seconds inside compiled chunk calls since the last train record
        while self.step < c.steps:
            n = self._boundaries() - self.step
            t0 = time.perf_counter()
            new_states, infos = self.run_chunk(self.states, self.data, n)
            infos = jax.device_get(infos)
            dt = time.perf_counter() - t0
            self.wall += dt
            self.chunk_time += dt
            window_chunks += dt
            if n in compiled:
                window_updates, window_time = window_updates + n, window_time + dt
            compiled.add(n)
            bad = first_nonfinite(infos, self.step, self.seeds)
            if bad:
                bar.close()
                raise NonFiniteLossError(
                    f"{bad}; training stopped and the last good checkpoint (step "
                    f"{self._checkpoint_step()}) in {self.run_dir} is intact; lower --lr or check the dataset"
                )
            self.states = new_states
            self.step += n
            chunk_infos.append(infos)
            bar.update(n)

            records = []
            if self.step % c.log_every == 0 or self.step == c.steps:
                ups = window_updates * len(self.seeds) / window_time if window_time > 0 else None
                # share of the wall time since the previous train record spent inside compiled chunks; the rest
                # is host work between chunks (logging, diagnostics, evaluation, checkpoints)
                now = time.perf_counter()
                frac = window_chunks / (now - window_start) if now > window_start else None
                records += self._train_records(chunk_infos, ups, frac)
                chunk_infos, window_updates, window_time = [], 0, 0.0
                window_start, window_chunks = now, 0.0
            if c.eval_episodes and (self.step % c.eval_every == 0 or self.step == c.steps):
                evals = self._evaluate()
                records += evals
                latest_success = float(np.mean([r["success"] for r in evals]))
            if records:
                self._stream.append(records)
                bar.set_postfix(
                    {
                        "upd/s": f"{records[0].get('updates_per_s') or 0:.1f}",
                        "success": "-" if latest_success is None else f"{latest_success:.2f}",
                    }
                )
            if self.step % c.checkpoint_every == 0 or self.step == c.steps:
                checkpoint.save(self.run_dir, self.states, {"step": self.step, "wall_time": self.wall})
            self.loop_time = time.perf_counter() - loop_start
        bar.close()
        return self.finish()

    def _checkpoint_step(self) -> int:
        if not checkpoint.exists(self.run_dir):
            return 0
        return int(checkpoint.load(self.run_dir, self.states)[1]["step"])

    def _train_records(self, chunk_infos, ups, time_in_chunks_frac=None) -> list[dict]:
        merged = {k: np.concatenate([ci[k] for ci in chunk_infos], axis=0) for k in chunk_infos[0]}
        keys = jax.vmap(lambda s: jax.random.fold_in(jax.random.PRNGKey(s), self.step))(jnp.array(self.seeds))
        diags = jax.device_get(self.diagnostics(self.states, self.diag_batch, keys))
        out = []
        for i, seed in enumerate(self.seeds):
            rec = {
                "kind": "train",
                "step": self.step,
                "seed": seed,
                "wall_time": self.wall,
                "updates_per_s": ups,
                "time_in_chunks_frac": time_in_chunks_frac,
            }
            rec.update({k: float(np.mean(v[:, i])) for k, v in merged.items()})
            rec.update({k: float(v[i]) for k, v in diags.items()})
            out.append(rec)
        return out

    def eval_seed(self, seed: int) -> int:
        """The evaluation seed of training seed ``seed`` at the current step."""
        return seed * 1_000_003 + self.step

    def _evaluate(self) -> list[dict]:
        """All seeds' episodes in lockstep (``eval_mode='vectorised'``, default) or one after another."""
        if self.config.eval_mode == "sequential":
            return self._evaluate_sequential()
        if self._batch_policy_fn is None:
            self._batch_policy_fn = make_batch_policy_fn(self.agent)
        c = self.config
        if self._env_pool is None:
            # workers get the task without its transitions (they only make environments)
            light = dataclasses.replace(self.task, train={}, val={})
            self._env_pool = EnvPool(light.make_env, workers=c.eval_workers)
        t0 = time.perf_counter()
        results = evaluate_seeds(
            self.agent,
            self.states.params,
            self._env_pool,
            c.eval_episodes,
            [self.eval_seed(s) for s in self.seeds],
            policy_fn=self._batch_policy_fn,
            max_envs=c.eval_envs,
        )
        dt = time.perf_counter() - t0  # one evaluation for all seeds: each record carries its whole time
        return [
            {
                "kind": "eval",
                "step": self.step,
                "seed": seed,
                "episodes": c.eval_episodes,
                "eval_time_s": dt,
                "wall_time": self.wall,
                **res,
            }
            for seed, res in zip(self.seeds, results, strict=True)
        ]

    def _evaluate_sequential(self) -> list[dict]:
        if self._policy_fn is None:
            self._policy_fn = make_policy_fn(self.agent)
        out = []
        for i, seed in enumerate(self.seeds):
            t0 = time.perf_counter()
            res = evaluate(
                self.agent,
                seed_slice(self.states.params, i),
                self.env,
                self.config.eval_episodes,
                seed=self.eval_seed(seed),
                policy_fn=self._policy_fn,
            )
            out.append(
                {
                    "kind": "eval",
                    "step": self.step,
                    "seed": seed,
                    "episodes": self.config.eval_episodes,
                    "eval_time_s": time.perf_counter() - t0,
                    "wall_time": self.wall,
                    **res,
                }
            )
        return out

    def finish(self) -> dict:
        from fidec.plots import learning_curve

        summary = summarize(self.run_dir)
        summary.update(
            agent=self.config.agent,
            env=self.config.env,
            wall_time_s=self.wall,
            time_in_chunks_frac=self.chunk_time / self.loop_time if self.loop_time > 0 else None,
            success_timing=success_timing(self.env),
            ogbench=versions()["ogbench"],
        )
        write_json(self.run_dir / "summary.json", summary)
        if self.log.records("eval"):
            learning_curve(self.run_dir, self.run_dir / "learning_curve.png")
        return summary


def format_summary(summary: dict) -> str:
    lines = [
        f"{summary['agent']} on {summary['env']}: {summary['final_step']} steps in "
        f"{summary['wall_time_s']:.0f} s of training"
    ]
    for seed, s in summary["per_seed"].items():
        lines.append(
            f"  seed {seed}: final success {s['final_success']:.2f}, best {s['best_success']:.2f}, "
            f"score (mean of last 3 evals) {s['score']:.2f}"
        )
    if summary.get("score_mean") is not None and len(summary["per_seed"]) > 1:
        lines.append(f"  mean score over seeds: {summary['score_mean']:.3f}")
    ups = summary.get("updates_per_s_median")
    if ups is not None and not math.isnan(ups):
        lines.append(f"  updates/s (median, all seeds): {ups:.1f}")
    return "\n".join(lines)
