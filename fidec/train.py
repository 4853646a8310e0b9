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
import sys
import time
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from fidec import checkpoint
from fidec.agents import make_agent
from fidec.config import Config
from fidec.console import format_duration, progress_bar
from fidec.data.loading import Task, load_task, sample_batch, to_device
from fidec.errors import FidecError, NonFiniteLossError
from fidec.evaluate import EnvPool, evaluate, evaluate_seeds, make_batch_policy_fn, make_policy_fn
from fidec.io import remove_stale_temporaries, write_json
from fidec.loggers import open_stream, require_loggers
from fidec.online.collect import check_steppable
from fidec.online.phase import OnlinePhase, new_online_state
from fidec.runs import MetricsLog, RunLock, summarize

DIAG_BATCH = 256
#: Warn when the measured rate says the rest of a run will take longer than this (seconds).
SLOW_RUN_WARNING_S = 24 * 3600


def _check_observations(config: Config, task: Task) -> None:
    """Pixel data needs an encoder and state data none: a one-line error naming the fix."""
    if task.pixels and config.encoder == "none":
        raise FidecError(
            f"{config.env} has pixel observations and needs an image encoder: pass --encoder impala_small (the paper "
            "preset sets it, with --frame-stack 3 --p-aug 0.5, for visual-* tasks)"
        )
    if not task.pixels and config.encoder != "none":
        raise FidecError(f"--encoder {config.encoder} is for pixel observations; {config.env} has states: drop it")


def versions() -> dict:
    out = {}
    for pkg in (
        "fidec",
        "jax",
        "jaxlib",
        "flax",
        "optax",
        "ogbench",
        "mujoco",
        "numpy",
        "minari",
        "gymnasium-robotics",
    ):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


def success_timing(env) -> str | None:
    """OGBench >= 1.2 computes singletask reward/success before the step ('pre'); 1.1 used 'post'."""
    return getattr(env.unwrapped, "_success_timing", None)


def make_chunk_fn(agent, batch_size: int, member_eps=None, sampler=None):
    """``run_chunk(states, data, n) -> (states, infos)``: n updates for every member (seed), infos of shape
    (n, members). ``member_eps`` (one target divergence per member, ``Config.target_divergences``) vmaps the
    update over (state, eps): one process trains a whole ε × seed grid. ``sampler(data, key, batch_size)`` draws
    a minibatch on the device (default :func:`sample_batch`; pixels: :func:`fidec.data.frames.sample_frames`)."""
    sampler = sampler or sample_batch

    def one_update(state, data, eps=None):
        rng, k = jax.random.split(state.rng)
        member = agent if eps is None else agent.with_target_divergence(eps)
        return member.update(state.replace(rng=rng), sampler(data, k, batch_size))

    if member_eps is None:
        all_seeds = jax.vmap(one_update, in_axes=(0, None))
    else:
        eps_arr = jnp.asarray(member_eps, jnp.float32)

        def all_seeds(states, data):
            return jax.vmap(one_update, in_axes=(0, None, 0))(states, data, eps_arr)

    @partial(jax.jit, static_argnums=2, donate_argnums=0)
    def run_chunk(states, data, n):
        if jax.tree_util.tree_leaves(states)[0].shape[0] == 1:
            # One seed: no vmap. XLA:CPU compiles a size-1 batch axis into slower code (LayerNorm/GELU
            # backward; 5-15 % per update, benchmarks/speed/README.md). Same computation.
            state = jax.tree_util.tree_map(lambda x: x[0], states)
            eps0 = None if member_eps is None else float(member_eps[0])
            state, infos = jax.lax.scan(lambda s, _: one_update(s, data, eps0), state, None, length=n)
            return jax.tree_util.tree_map(lambda x: x[None], state), jax.tree_util.tree_map(lambda x: x[:, None], infos)
        return jax.lax.scan(lambda s, _: all_seeds(s, data), states, None, length=n)

    return run_chunk


def make_stream_chunk_fn(agent, frame_stack: int, p_aug: float, member_eps=None):
    """``run_chunk(states, chunk) -> (states, infos)`` for host-streamed pixel minibatches
    (:mod:`fidec.data.placement`): ``chunk`` holds pre-gathered frames (n, members, batch, K + 1, H, W, C) and
    labels; each update stacks and augments its minibatch on the device with the key the device path draws it with."""
    from fidec.data.frames import LABEL_KEYS, assemble

    def one_update(state, part, eps=None):
        rng, k = jax.random.split(state.rng)
        member = agent if eps is None else agent.with_target_divergence(eps)
        batch = assemble(part["gathered"], {key: part[key] for key in LABEL_KEYS}, frame_stack, p_aug, k)
        return member.update(state.replace(rng=rng), batch)

    eps_arr = None if member_eps is None else jnp.asarray(member_eps, jnp.float32)

    def all_members(states, part):
        if eps_arr is None:
            return jax.vmap(one_update)(states, part)
        return jax.vmap(one_update)(states, part, eps_arr)

    @partial(jax.jit, donate_argnums=0)
    def run_chunk(states, chunk):
        return jax.lax.scan(all_members, states, chunk)

    return run_chunk


def init_states(agent, seeds: list[int]):
    return jax.jit(jax.vmap(agent.init))(jnp.stack([jax.random.PRNGKey(s) for s in seeds]))


def sub_run_name(eps: float) -> str:
    """The sub-run folder of one target divergence of a ``target_divergences`` run."""
    return f"target_divergence={eps:g}"


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


@jax.jit
def finite_flags(states) -> jax.Array:
    """(floating-point leaves, seeds) booleans: is every value of that leaf of that seed's state finite?"""
    leaves = [x for x in jax.tree_util.tree_leaves(states) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.stack([jnp.isfinite(x).reshape(x.shape[0], -1).all(axis=1) for x in leaves])


class Trainer(OnlinePhase):
    """Owns one run folder. ``Trainer(config, run_dir).run()`` trains; ``Trainer.resume(run_dir)`` continues.

    With ``online_steps > 0`` the offline steps are followed by the online phase (:mod:`fidec.online`)."""

    def __init__(self, config: Config, run_dir: str | Path, task: Task | None = None, progress: bool = True):
        config.validate()
        self.config = config
        self.run_dir = Path(run_dir)
        self.progress = progress
        self.task = task or load_task(config.env, config.dataset_dir, env_id=config.env_id)
        self.pixels = self.task.pixels
        _check_observations(config, self.task)
        if self.pixels:  # evaluation sees the frame stack the data gives (FQL's FrameStackWrapper)
            from fidec.data.frames import FrameStackFactory

            self.task = dataclasses.replace(
                self.task, env_factory=FrameStackFactory(self.task.env_factory, config.frame_stack)
            )
        obs = self.task.train.obs_shape(config.frame_stack) if self.pixels else self.task.obs_dim
        self.agent = make_agent(config, obs, self.task.action_dim)
        self.seeds = config.seeds
        # members: one per seed, or one per (target divergence, seed), ε-major, with Config.target_divergences;
        # each ε's records go to its own sub-run folder, a normal run folder for reports
        self.eps_grid = tuple(float(e) for e in config.target_divergences)
        self.member_eps = [e for e in self.eps_grid or (None,) for _ in self.seeds]
        self.member_seeds = [s for _ in self.eps_grid or (None,) for s in self.seeds]
        self.sub_logs = {e: MetricsLog(self.run_dir / sub_run_name(e)) for e in self.eps_grid}
        self.log = MetricsLog(self.run_dir)
        diag_idx = np.random.default_rng(0).integers(0, self.task.transitions("val"), DIAG_BATCH)
        member_eps = self.member_eps if self.eps_grid else None
        self.placement, self._prefetch, self.stream_chunk = "device", None, None
        if self.pixels:
            from fidec.data.frames import sample_frames, stacked_observations
            from fidec.data.placement import choose_placement, device_memory_bytes, to_device_frames

            self.placement = choose_placement(
                config.data_placement, self.task.train.nbytes, config.data_memory_budget_gb, device_memory_bytes()
            )
            self.data = to_device_frames(self.task.train) if self.placement == "device" else None
            sampler = partial(sample_frames, frame_stack=config.frame_stack, p_aug=config.p_aug)
            self.run_chunk = make_chunk_fn(self.agent, config.batch_size, member_eps, sampler=sampler)
            if self.placement == "host":
                self.stream_chunk = make_stream_chunk_fn(self.agent, config.frame_stack, config.p_aug, member_eps)
            diag = stacked_observations(self.task.val, diag_idx, config.frame_stack)
            self.diag_batch = {k: jnp.asarray(v) for k, v in diag.items()}
        else:
            self.data = to_device(self.task.train)
            self.diag_batch = {k: jnp.asarray(v[diag_idx]) for k, v in self.task.val.items()}
            self.run_chunk = make_chunk_fn(self.agent, config.batch_size, member_eps)
        self.diagnostics = jax.jit(jax.vmap(self.agent.diagnostics, in_axes=(0, None, 0)))
        # validation-set loss terms at log time (the release's main.py logs total_loss on a val batch)
        self.val_losses = jax.jit(jax.vmap(self.agent.loss_terms, in_axes=(0, None, 0)))
        self.states = init_states(self.agent, self.member_seeds)  # a seed starts alike at every ε (paired)
        self.step = 0
        self.wall = 0.0
        self.saved_step: int | None = None  # step of the checkpoint in the run folder, None without one
        self.log_window: dict = {}  # loss terms since the last training record, (updates, seeds) each
        self._lock: RunLock | None = None  # held while this Trainer may write the folder
        self._env = None
        self._policy_fn = None
        self._batch_policy_fn = None
        self._env_pool = None
        self.chunk_time = 0.0  # this process: seconds inside compiled chunk calls, and in the whole loop
        self.loop_time = 0.0
        self.online = new_online_state(len(self.seeds))  # online counters, buffer segments (checkpointed)
        self._collector = None

    # ------------------------------------------------------------------ run folder
    @classmethod
    def create(cls, config: Config, run_dir, progress: bool = True, task: Task | None = None) -> Trainer:
        run_dir = Path(run_dir)
        config.validate()
        require_loggers(config.logger)  # before anything is written: a missing extra is a one-line error
        created = not run_dir.exists()
        lock = RunLock(run_dir).acquire()  # one writer per run folder, before anything is read or written
        try:
            if checkpoint.exists(run_dir) or any(run_dir.glob("**/metrics.jsonl")):
                raise FidecError(
                    f"run folder {run_dir} already holds a run; continue it with 'fidec train --resume {run_dir}' "
                    "or choose another --run-dir"
                )
            remove_stale_temporaries(run_dir)
            t = cls(config, run_dir, task=task, progress=progress)
            if config.online_steps:
                check_steppable(t.task)  # before anything is written
            t._lock = lock
            t._write_config()
        except BaseException:
            lock.release()
            if created:  # bad input (e.g. a dataset that fails validation) leaves no run folder behind
                lock.remove_if_alone()
            raise
        return t

    @classmethod
    def resume(
        cls,
        run_dir,
        steps: int | None = None,
        progress: bool = True,
        task: Task | None = None,
        read_only=False,
        online_steps: int | None = None,
    ):
        """Load a run folder at its latest checkpoint. ``read_only`` (for evaluation/loading) changes no file and
        takes no lock; otherwise the folder's lock is held until :meth:`run` ends (or :meth:`close`).
        ``steps``/``online_steps`` extend the offline/online phase (offline only before the online one began)."""
        run_dir = Path(run_dir)
        cfg_path = run_dir / "config.json"
        if not cfg_path.exists():
            raise FidecError(f"{run_dir} is not a fidec run folder (no config.json); start one with 'fidec train'")
        lock = None if read_only else RunLock(run_dir).acquire()
        try:
            config = Config.from_dict(json.loads(cfg_path.read_text())["config"])
            saved_steps = config.steps
            if steps is not None:
                config.steps = steps
            if online_steps is not None:
                config.online_steps = online_steps
            config.validate()
            t = cls(config, run_dir, task=task, progress=progress)
            t._lock = lock
            saved = json.loads(cfg_path.read_text()).get("dataset", {}).get("sha256")
            if saved and t.task.info.get("sha256") not in (None, saved):  # your own .npz changed since the run began
                raise FidecError(
                    f"{t.task.info.get('file')} changed since {run_dir} began (sha256 differs); restore that file or "
                    "start a new run"
                )
            if checkpoint.exists(run_dir):
                t.states, meta = checkpoint.load(run_dir, t.states)
                t.step, t.wall = int(meta["step"]), float(meta["wall_time"])
                t.saved_step = t.step
                t.log_window = dict(meta.get("log_window") or {})
                if meta.get("online"):
                    t.online = meta["online"]
            if t.step > saved_steps and steps is not None and steps != saved_steps:
                raise FidecError(
                    f"{run_dir} is in its online phase (step {t.step}, offline steps {saved_steps}); --steps can no "
                    "longer change: extend the online phase with --online-steps N"
                )
            if steps is not None and steps < t.step:
                raise FidecError(f"--steps {steps} is below the run's current step {t.step}")
            if online_steps is not None and online_steps < t.online["env_steps"]:
                raise FidecError(
                    f"--online-steps {online_steps} is below the run's online steps so far ({t.online['env_steps']})"
                )
            if config.online_steps and not read_only:
                check_steppable(t.task)
            if not read_only:
                remove_stale_temporaries(run_dir)  # left by a killed writer; safe under the lock
                for log in t.logs():
                    log.truncate_after(t.step)  # records written after the checkpoint are redone
                t._write_config()
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        return t

    def close(self) -> None:
        """Release the run folder's lock (``run`` does this when it ends)."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def logs(self) -> list[MetricsLog]:
        """The metric files this run writes: its own, or one per target divergence."""
        return list(self.sub_logs.values()) if self.eps_grid else [self.log]

    def _write_config(self):
        env = self.env
        meta = {
            "versions": versions(),
            "success_timing": success_timing(env),
            "dataset": {
                "name": self.task.dataset_name,
                "dir": self.task.dataset_dir,
                "transitions": self.task.transitions("train"),
                **({"placement": self.placement} if self.pixels else {}),
                **self.task.info,  # Minari/npz: source, conventions applied, action rule, evaluation env
            },
        }
        write_json(self.run_dir / "config.json", {"config": self.config.to_dict(), **meta})
        for eps, log in self.sub_logs.items():  # each ε's folder reads as a run of its own (fidec report)
            log.dir.mkdir(parents=True, exist_ok=True)
            sub = {"config": self.config.member_config(eps).to_dict(), "group": str(self.run_dir.resolve()), **meta}
            write_json(log.dir / "config.json", sub)

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
        c = self.config
        self._streams = {}
        try:
            if self.eps_grid:
                for eps, log in self.sub_logs.items():
                    sub = c.member_config(eps).to_dict()
                    self._streams[eps] = open_stream(log, c.logger, self.seeds, sub, self.step)
            else:
                self._streams[None] = open_stream(self.log, c.logger, self.seeds, c.to_dict(), self.step)
                self._stream = self._streams[None]  # the online phase's records (no ε grid online: Config.validate)
            return self._run()
        finally:
            for stream in self._streams.values():
                stream.close()
            if self._env_pool is not None:
                self._env_pool.close()
                self._env_pool = None
            if self._prefetch is not None:
                self._prefetch.close()
                self._prefetch = None
            if self._collector is not None:
                self._collector.close()
                self._collector = None
            self.close()

    def _run(self) -> dict:
        c = self.config
        bar = progress_bar(
            c.steps,
            initial=min(self.step, c.steps),
            enabled=self.progress and self.step < c.steps,
            unit="upd",
            desc=f"{c.agent} {c.env}",
            # one rate (updates/s over the run so far, evaluations included) and the ETA it implies
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]",
        )
        if self.step < c.steps:
            bar.set_postfix_str(f"compiling and running the first {self._boundaries() - self.step} updates")
        compiled: set[int] = set()
        window_updates, window_time, latest_success = 0, 0.0, None
        chunk_infos = [self.log_window] if self.log_window else []
        rate_from: tuple[int, float] | None = None  # (step, time) at the end of the first chunk
        rate = 0.0
        loop_start = window_start = time.perf_counter()
        window_chunks = 0.0  # seconds inside compiled chunk calls since the last train record
        while self.step < c.steps:
            n = self._boundaries() - self.step
            t0 = time.perf_counter()
            new_states, infos = self._train_chunk(n)
            infos = jax.device_get(infos)
            dt = time.perf_counter() - t0
            self.wall += dt
            self.chunk_time += dt
            window_chunks += dt
            if n in compiled:
                window_updates, window_time = window_updates + n, window_time + dt
            compiled.add(n)
            bad = first_nonfinite(infos, self.step, self.member_labels) or self._nonfinite_state(new_states, n)
            if bad:
                bar.close()
                raise NonFiniteLossError(f"{bad}; {self._nonfinite_advice()}")
            self.states = new_states
            self.step += n
            chunk_infos.append(infos)

            records = []
            if self.step % c.log_every == 0 or self.step == c.steps:
                ups = window_updates * len(self.member_seeds) / window_time if window_time > 0 else None
                # share of the wall time since the previous train record spent inside compiled chunks; the rest
                # is host work between chunks (logging, diagnostics, evaluation, checkpoints)
                now = time.perf_counter()
                frac = window_chunks / (now - window_start) if now > window_start else None
                records += self._train_records(chunk_infos, ups, frac)
                chunk_infos, window_updates, window_time = [], 0, 0.0
                window_start, window_chunks = now, 0.0
            if c.evaluates_at(self.step, c.steps):
                evals = self._evaluate()
                records += evals
                latest_success = float(np.mean([r["success"] for r in evals]))
                bar.write(
                    f"step {self.step}: success "
                    + ", ".join(f"{r['success']:.2f} (seed {r['seed']})" for r in evals)
                    + f" over {c.eval_episodes} episodes",
                    file=sys.stderr,
                )
            if records:
                for eps, stream in self._streams.items():  # each ε's records to its own folder
                    mine = [r for r in records if r.get("target_divergence", None) == eps or eps is None]
                    stream.append(mine)
            if self.step % c.checkpoint_every == 0 or self.step == c.steps:
                # the loss terms since the last record travel with the checkpoint: a resumed run logs the
                # same averages as an uninterrupted one
                meta = {"step": self.step, "wall_time": self.wall}
                if chunk_infos:
                    meta["log_window"] = {k: np.concatenate([ci[k] for ci in chunk_infos]) for k in chunk_infos[0]}
                checkpoint.save(self.run_dir, self.states, meta)
                self.saved_step = self.step
            now = time.perf_counter()
            self.loop_time = now - loop_start
            if rate_from is None:
                rate_from = (self.step, now)
                rate = n / dt  # compilation included: an overestimate of the time left
                self._warn_if_slow(rate, c.steps - self.step, n, bar)
            elif now > rate_from[1]:
                rate = (self.step - rate_from[0]) / (now - rate_from[1])
            post = f"{rate:.1f} upd/s, ETA {format_duration((c.steps - self.step) / rate)}" if rate > 0 else ""
            if latest_success is not None:
                post += f", success {latest_success:.2f}"
            bar.set_postfix_str(post, refresh=False)
            bar.update(n)
        bar.close()
        if c.online_steps and self.step < c.total_steps:
            if not chunk_infos:  # the offline phase's last record took its loss terms
                self.log_window = {}
            self._run_online()
        return self.finish()

    def _train_chunk(self, n: int):
        """n updates of every member: one compiled call over device-resident data, or (host placement) calls of
        ``stream_updates`` updates each on chunks the prefetcher gathered while the previous ones ran."""
        if self.placement != "host":
            return self.run_chunk(self.states, self.data, n)
        from fidec.data.placement import Prefetcher

        c = self.config
        if self._prefetch is None or self._prefetch.next_step != self.step:
            if self._prefetch is not None:
                self._prefetch.close()
            self._prefetch = Prefetcher(
                self.task.train,
                updates=c.stream_updates,
                members=len(self.member_seeds),
                batch_size=c.batch_size,
                frame_stack=c.frame_stack,
                seed=c.seed,
                start_step=self.step,
            )
        states, parts, done = self.states, [], 0
        while done < n:
            chunk = self._prefetch.get()
            m = min(c.stream_updates, n - done)
            if m < c.stream_updates:  # the run's last, shorter call
                chunk = jax.tree_util.tree_map(lambda x, m=m: x[:m], chunk)
            states, infos = self.stream_chunk(states, chunk)
            parts.append(infos)
            done += m
        if done % c.stream_updates:
            self._prefetch.next_step = -1  # misaligned: a later call starts a new prefetcher
        return states, jax.tree_util.tree_map(lambda *x: jnp.concatenate(x), *parts)

    def _nonfinite_state(self, states, n: int) -> str | None:
        """A message naming the seed and the first state leaf that became NaN/inf in the last ``n`` updates.

        A loss is computed from the parameters before its update, so a diverging last update of a chunk leaves
        every loss term finite; checking the state itself catches it before anything is saved."""
        flags = np.asarray(jax.device_get(finite_flags(states)))
        if flags.all():
            return None
        seed_i = int(np.argwhere(~flags)[0][1])
        bad = checkpoint.nonfinite_leaves(seed_slice(jax.device_get(states), seed_i))
        return (
            f"the parameters became non-finite during steps {self.step + 1}-{self.step + n} (seed "
            f"{self.member_labels[seed_i]}: {len(bad)} non-finite leaves, first {bad[0] if bad else '?'})"
        )

    @property
    def member_labels(self) -> list:
        """How messages name each member: its seed, with its ε in a ``target_divergences`` run."""
        if not self.eps_grid:
            return list(self.member_seeds)
        return [f"{s}, target_divergence {e:g}" for e, s in zip(self.member_eps, self.member_seeds, strict=True)]

    def _member_fields(self, i: int) -> dict:
        """The record fields naming member ``i``."""
        out = {"seed": self.member_seeds[i]}
        if self.eps_grid:
            out["target_divergence"] = self.member_eps[i]
        return out

    def _nonfinite_advice(self) -> str:
        lr = self.config.lr
        if self.saved_step is None:
            kept = f"training stopped before its first checkpoint, so {self.run_dir} holds no checkpoint"
        else:
            kept = (
                f"training stopped; the last checkpoint (step {self.saved_step}) in {self.run_dir} holds only "
                "finite values and is kept"
            )
        return (
            f"{kept}. A resumed run keeps its learning rate, so start a new run with a lower one (this run used "
            f"--lr {lr:g}; e.g. --lr {lr / 10:g} and another --run-dir), or check the data with 'fidec data verify "
            f"{self.task.dataset_name}'"
        )

    def _warn_if_slow(self, rate: float, remaining: int, measured: int, bar) -> None:
        if rate <= 0 or remaining / rate <= SLOW_RUN_WARNING_S:
            return
        device = jax.default_backend()
        where = "this CPU" if device == "cpu" else f"this {device.upper()}"
        bar.write(
            f"warning: at {rate:.1f} updates/s (measured over the first {measured} updates, compilation included) "
            f"the remaining {remaining} updates will take about {format_duration(remaining / rate)} on {where}; "
            "for a shorter run pass --steps N or --preset cpu" + (", or train on a GPU" if device == "cpu" else ""),
            file=sys.stderr,
        )

    def _train_records(self, chunk_infos, ups, time_in_chunks_frac=None) -> list[dict]:
        merged = {k: np.concatenate([ci[k] for ci in chunk_infos], axis=0) for k in chunk_infos[0]}
        keys = jax.vmap(lambda s: jax.random.fold_in(jax.random.PRNGKey(s), self.step))(jnp.array(self.member_seeds))
        diags = jax.device_get(self.diagnostics(self.states, self.diag_batch, keys))
        val = jax.device_get(self.val_losses(self.states, self.diag_batch, keys))
        diags.update({f"val_{k}": v for k, v in val.items() if not k.startswith("grad_norm")})
        out = []
        for i in range(len(self.member_seeds)):
            rec = {
                "kind": "train",
                "step": self.step,
                **self._member_fields(i),
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
            [self.eval_seed(s) for s in self.member_seeds],  # a seed meets the same episodes at every ε
            policy_fn=self._batch_policy_fn,
            max_envs=c.eval_envs,
        )
        dt = time.perf_counter() - t0  # one evaluation for all seeds: each record carries its whole time
        results = [self._with_normalized_score(res) for res in results]
        return [
            {
                "kind": "eval",
                "step": self.step,
                **self._member_fields(i),
                "episodes": c.eval_episodes,
                "eval_time_s": dt,
                "wall_time": self.wall,
                **res,
            }
            for i, res in enumerate(results)
        ]

    def _with_normalized_score(self, res: dict) -> dict:
        """Add D4RL's metric where the dataset has reference scores (Minari): normalised return x 100."""
        if self.task.normalize_return is not None:
            res["normalized_score"] = self.task.normalize_return(res["return"])
        return res

    def _evaluate_sequential(self) -> list[dict]:
        if self._policy_fn is None:
            self._policy_fn = make_policy_fn(self.agent)
        out = []
        for i, seed in enumerate(self.member_seeds):
            t0 = time.perf_counter()
            res = evaluate(
                self.agent,
                seed_slice(self.states.params, i),
                self.env,
                self.config.eval_episodes,
                seed=self.eval_seed(seed),
                policy_fn=self._policy_fn,
            )
            res = self._with_normalized_score(res)
            out.append(
                {
                    "kind": "eval",
                    "step": self.step,
                    **self._member_fields(i),
                    "episodes": self.config.eval_episodes,
                    "eval_time_s": time.perf_counter() - t0,
                    "wall_time": self.wall,
                    **res,
                }
            )
        return out

    def finish(self) -> dict:
        if not self.eps_grid:
            return self._finish_folder(self.log)
        subs = {eps: self._finish_folder(log) for eps, log in self.sub_logs.items()}
        # the group folder's summary: every (ε, seed), and the final step the sweep checks
        per_seed = {
            f"{seed} (target_divergence {eps:g})": v for eps, sub in subs.items() for seed, v in sub["per_seed"].items()
        }
        first = next(iter(subs.values()))
        summary = {
            **{k: first[k] for k in ("agent", "env", "wall_time_s", "time_in_chunks_frac", "final_step")},
            "per_seed": per_seed,
            "score_mean": None,
            "score_mean_by_target_divergence": {f"{eps:g}": sub["score_mean"] for eps, sub in subs.items()},
            "sub_runs": [str(log.dir.name) for log in self.sub_logs.values()],
            "updates_per_s_median": first.get("updates_per_s_median"),
        }
        write_json(self.run_dir / "summary.json", summary)
        return summary

    def _finish_folder(self, log: MetricsLog) -> dict:
        from fidec.plots import learning_curve

        summary = summarize(log.dir)
        summary.update(
            agent=self.config.agent,
            env=self.config.env,
            wall_time_s=self.wall,
            time_in_chunks_frac=self.chunk_time / self.loop_time if self.loop_time > 0 else None,
            success_timing=success_timing(self.env),
            ogbench=versions()["ogbench"],
        )
        if self.config.online_steps:
            summary["online"] = online_summary(log.records("train"), self.config)
        for seed, rows in _final_evals(log.records("eval")).items():  # Minari/npz tasks: return-based scores
            for k in ("return", "normalized_score") if self.task.source != "ogbench" else ():
                if k in rows and str(seed) in summary["per_seed"]:
                    summary["per_seed"][str(seed)][f"final_{k}"] = rows[k]
        write_json(log.dir / "summary.json", summary)
        if log.records("eval"):
            learning_curve(log.dir, log.dir / "learning_curve.png")
        return summary


def online_summary(train: list[dict], config: Config) -> dict:
    """The online phase's throughput against the offline phase's (medians over train records, all seeds)."""

    def median(rows, key):
        xs = sorted(r[key] for r in rows if isinstance(r.get(key), (int, float)) and not math.isnan(r[key]))
        return xs[len(xs) // 2] if xs else None

    off = [r for r in train if r.get("phase") != "online"]
    on = [r for r in train if r.get("phase") == "online"]
    offline_ups, loop_ups = median(off, "updates_per_s"), median(on, "loop_updates_per_s")
    return {
        "offline_steps": config.steps,
        "online_steps": max((r.get("env_steps") or 0 for r in on), default=0),
        "offline_updates_per_s": offline_ups,
        "online_updates_per_s_in_chunks": median(on, "updates_per_s"),
        "online_loop_updates_per_s": loop_ups,
        "online_env_steps_per_s": median(on, "env_steps_per_s"),
        # cost of one online update (act + env step + push + update) relative to one offline update
        "online_cost_per_update": offline_ups / loop_ups if offline_ups and loop_ups else None,
        "time_fracs": {k: median(on, f"time_{k}_frac") for k in ("act", "env", "push", "update")},
        "final_online_success": {str(r["seed"]): r.get("online_success") for r in on},
    }


def _final_evals(evals: list[dict]) -> dict:
    """Each seed's last eval record."""
    out = {}
    for r in sorted(evals, key=lambda r: r["step"]):
        out[r["seed"]] = r
    return out


def format_summary(summary: dict) -> str:
    lines = [
        f"{summary['agent']} on {summary['env']}: {summary['final_step']} steps in "
        f"{summary['wall_time_s']:.0f} s of training"
    ]
    for seed, s in summary["per_seed"].items():
        lines.append(
            f"  seed {seed}: final success {s['final_success']:.2f}, best {s['best_success']:.2f}, "
            f"score (mean of last 3 evals) {s['score']:.2f}"
            + (f", final return {s['final_return']:.1f}" if "final_return" in s else "")
            + (f", normalised score {s['final_normalized_score']:.1f}" if "final_normalized_score" in s else "")
        )
    if summary.get("score_mean") is not None and len(summary["per_seed"]) > 1:
        lines.append(f"  mean score over seeds: {summary['score_mean']:.3f}")
    ups = summary.get("updates_per_s_median")
    if ups is not None and not math.isnan(ups):
        lines.append(f"  updates/s (median, all seeds): {ups:.1f}")
    return "\n".join(lines)
