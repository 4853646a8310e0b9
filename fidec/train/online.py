"""The online phase of a run: after the offline steps every seed acts in its own environment and keeps training.

Each chunk: collect ``k = online_collect`` environment steps (each one batched policy call for all seeds, then one
step of every seed's environment), push their transitions into the device rings, then run their
``k x online_updates_per_step`` updates as one compiled call (``lax.scan`` over steps and updates, ``vmap`` over
seeds); the update after online step ``m`` samples from the buffer as it was after step ``m``
(:mod:`fidec.online.buffer`). ``k = 1`` is FQL's alternation (act, update, act, ...); with ``k > 1`` the actions of
a chunk come from the parameters before it, at most ``k - 1`` updates old. ``k`` is cut at the log, evaluation
and checkpoint steps, so those happen exactly where they would with ``k = 1``.

Checkpoints cut the episodes in progress in every run (:mod:`fidec.online.collect`), so a resumed online run is
bit-identical to an uninterrupted one; the checkpoint of a stop request (SIGTERM, SIGUSR1), at a step where the
uninterrupted run cuts nothing, keeps them instead and the resumed run replays them. The authors' release cannot
resume online at all (``scripts/run_fqlscope_online_grid_resume_2x4090.sh`` L272: "exact online resume is
unsupported by current code; restarting from offline checkpoint").

The step axis of every record is the gradient update count (offline steps, then ``online_updates_per_step`` per
environment step); online train records add ``phase = 'online'``, ``env_steps``, the buffer's sizes, the
episodes that ended since the previous record (return, success, length), throughput and where the time went.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from fidec.config import Config
from fidec.console import progress_bar
from fidec.errors import FidecError
from fidec.online import buffer as ob
from fidec.online.collect import OnlineCollector, act_base_keys
from fidec.train import folder
from fidec.train.chunks import make_act_fn, make_online_chunk_fn

TIMERS = ("act", "env", "push", "update")


def new_online_state(n_seeds: int) -> dict:
    """What a checkpoint holds of the online phase besides the agent states."""
    return {
        "env_steps": 0,
        "episodes": [0] * n_seeds,
        "segments": [],
        "segment_sha256": {},
        "window": empty_window(n_seeds),
    }


def empty_window(n_seeds: int) -> dict:
    """Episodes that ended since the last train record (per seed: returns, successes, lengths) and cut ones."""
    return {"ended": [[] for _ in range(n_seeds)], "cut": [0] * n_seeds}


def _empty_rates() -> dict:
    return {"loop": 0.0, "updates": 0, "env_steps": 0, "chunks": 0.0}


class OnlinePhase:
    """``online_steps`` environment steps after the offline ones. ``online`` is the checkpointed online state
    (:func:`new_online_state`), updated in place; ``data`` the dataset on the device, ``task`` the task whose
    environment the seeds act in."""

    def __init__(
        self, config: Config, agent, task, data, seeds: list[int], online: dict, run_dir: Path, progress: bool = True
    ):
        self.config, self.agent, self.task, self.data = config, agent, task, data
        self.seeds, self.online, self.run_dir, self.progress = list(seeds), online, Path(run_dir), progress
        self.end = config.total_steps
        self.n_data = len(task.train["observations"])
        self.ring = ob.ring_size(config, self.n_data)
        self.collector: OnlineCollector | None = None

    # ------------------------------------------------------------------ the driver's calls
    def open(self, step: int):
        c, o, seeds = self.config, self.online, self.seeds
        hashes = o.setdefault("segment_sha256", {})  # absent from checkpoints written before segments had one
        self.listed = list(o["segments"])  # what the checkpoint in the folder lists (kept while it is the previous)
        open_segment, lengths = o.pop("open_segment", None), o.pop("in_progress", None)  # a stop checkpoint's
        try:
            if o["segments"]:
                self.rings = ob.load_ring(
                    self.run_dir, o["segments"], o["env_steps"], self.ring, len(seeds), self.task.train, hashes
                )
            else:
                self.rings = ob.empty_ring(len(seeds), self.ring, self.task.train)
            partial = ob.read_segment(self.run_dir, open_segment, hashes.get(open_segment)) if open_segment else None
        except ob.DamagedSegment as e:
            raise FidecError(f"{e}; {folder.fallback_advice(self.run_dir)}") from None
        self.run = make_online_chunk_fn(self.agent, c, self.n_data, self.ring)
        self.act = make_act_fn(self.agent)
        self.base_keys = act_base_keys(seeds)
        # transitions since the last regular checkpoint (each seeds x k), for its segment: after a stop checkpoint,
        # the ones it saved as an open segment, which the next checkpoint's segment replaces
        self.pending: list[dict] = [partial] if partial is not None else []
        self.pending_from = ob.segment_start(open_segment) if open_segment else o["env_steps"]
        o["segments"] = [s for s in o["segments"] if s != open_segment]
        self.collector = OnlineCollector(self.task, seeds, o["episodes"])
        if lengths is None:
            self.collector.reset_all()  # the online phase and every regular checkpoint start new episodes
        else:
            self._resume_episodes(lengths, partial)
        self.timers = dict.fromkeys(TIMERS, 0.0)
        self.rates = _empty_rates()
        self.window_start = time.perf_counter()
        self.compiled: set[int] = set()
        self.warm = False  # the policy has been compiled (its first call is left out of the rates)
        return progress_bar(
            c.online_steps,
            initial=o["env_steps"],
            enabled=self.progress,
            unit="env step",
            desc=f"online {c.agent} {c.env}",
        )

    def _resume_episodes(self, lengths: list[int], rows: dict | None) -> None:
        """Continue the episodes in progress at a stop checkpoint; where the environment does not replay them
        exactly, cut them (counted as cut) and say so."""
        if rows is None:
            rows = {k: np.zeros((len(self.seeds), 0, 1), np.float32) for k in ob.TRANSITION_KEYS}
        why = self.collector.resume_episodes(lengths, rows)
        if why is None:
            return
        self.collector.reset_all()
        for i, n in enumerate(lengths):
            self.online["window"]["cut"][i] += int(int(n) > 0)
        print(
            f"warning: the environment did not replay the episodes in progress at the checkpoint ({why}); they are "
            "cut instead, so from here this run differs from an uninterrupted one",
            file=sys.stderr,
        )

    def boundary(self, step: int) -> int:
        c = self.config
        nxt = self.end
        for every in (c.log_every, c.eval_every, c.checkpoint_every):
            nxt = min(nxt, (step // every + 1) * every)
        return min(c.online_collect, (nxt - step) // c.online_updates_per_step) * c.online_updates_per_step

    def chunk(self, states, step: int, updates: int):
        o, col = self.online, self.collector
        k = updates // self.config.online_updates_per_step
        m = o["env_steps"]
        t_loop = time.perf_counter()
        t = dict.fromkeys(TIMERS, 0.0)
        rows = []
        for j in range(k):
            t0 = time.perf_counter()
            actions = np.asarray(self.act(states.params, jnp.asarray(col.obs), self.base_keys, m + j))
            t1 = time.perf_counter()
            r, ended = col.step(actions)
            t["act"] += t1 - t0
            t["env"] += time.perf_counter() - t1
            rows.append(r)
            for i, ret, succ, length in ended:
                o["window"]["ended"][i].append([ret, succ, length])
        new = {key: np.stack([r[key] for r in rows], axis=1) for key in rows[0]}
        t0 = time.perf_counter()
        self.rings = ob.push(self.rings, new, m, self.ring)
        self.pending.append(new)
        t1 = time.perf_counter()
        new_states, infos = self.run(states, self.data, self.rings, jnp.int32(m), k)
        infos = jax.device_get(infos)
        t2 = time.perf_counter()
        t["push"], t["update"] = t1 - t0, t2 - t1
        self.k, self.t, self.t_loop = k, t, t2 - t_loop
        return new_states, infos, t2 - t1

    def commit(self) -> None:
        k, utd = self.k, self.config.online_updates_per_step
        self.online["env_steps"] += k
        self.rates["chunks"] += self.t["update"]
        if k in self.compiled and self.warm:  # compilations stay out of the rates
            self.rates["loop"] += self.t_loop
            self.rates["updates"] += k * utd
            self.rates["env_steps"] += k
            for key in TIMERS:
                self.timers[key] += self.t[key]
        self.compiled.add(k)
        self.warm = True

    def close_window(self, now: float):
        n, timers = len(self.seeds), self.timers
        ups = self.rates["updates"] * n / timers["update"] if timers["update"] > 0 else None
        frac = self.rates["chunks"] / (now - self.window_start) if now > self.window_start else None
        self.window_start = now
        self.closed_rates, self.closed_timers = self.rates, timers
        self.timers, self.rates = dict.fromkeys(TIMERS, 0.0), _empty_rates()
        return ups, frac

    def annotate(self, records: list[dict]) -> None:
        n, rates, timers = len(self.seeds), self.closed_rates, self.closed_timers
        loop = rates["loop"]
        counts = ob.buffer_counts(self.config, self.n_data, self.online["env_steps"])
        w = self.online["window"]
        for i, rec in enumerate(records):
            ended = w["ended"][i]
            rec.update(
                phase="online",
                env_steps=self.online["env_steps"],
                buffer_size=counts["size"],
                buffer_online=counts["online"],
                buffer_dataset=counts["dataset"],
                online_episodes=len(ended),
                online_episodes_cut=w["cut"][i],
                online_return=float(np.mean([e[0] for e in ended])) if ended else None,
                online_success=float(np.mean([e[1] for e in ended])) if ended else None,
                online_length=float(np.mean([e[2] for e in ended])) if ended else None,
                env_steps_per_s=rates["env_steps"] * n / loop if loop > 0 else None,
                loop_updates_per_s=rates["updates"] * n / loop if loop > 0 else None,
                **{f"time_{k}_frac": (timers[k] / loop if loop > 0 else None) for k in TIMERS},
            )
        self.online["window"] = empty_window(n)

    def eval_line(self, step: int, evals: list[dict]) -> str:
        return f"step {step} (online step {self.online['env_steps']}): success " + ", ".join(
            f"{r['success']:.2f} (seed {r['seed']})" for r in evals
        )

    def checkpoint_state(self, stopping: bool = False) -> dict:
        """The transitions since the last checkpoint as one segment; the online state naming its segments (and
        their sha256). Episodes in progress are cut here (counted in the window) in every run, resumed or not;
        ``stopping`` (a stop request's checkpoint, where the uninterrupted run cuts nothing) keeps them going
        instead: the state names the segment as open (the next checkpoint's segment replaces it) and records
        each episode's steps so far, which the resumed run replays."""
        o = self.online
        m = o["env_steps"]
        if not stopping:
            for i, n in enumerate(self.collector.in_progress()):
                o["window"]["cut"][i] += int(n)
        segments, hashes, written = list(o["segments"]), dict(o["segment_sha256"]), None
        if self.pending:
            rows = {k: np.concatenate([p[k] for p in self.pending], axis=1) for k in self.pending[0]}
            written, sha = ob.write_segment(self.run_dir, self.pending_from, m, rows)
            segments.append(written)
            hashes[written] = sha
        o["segments"] = ob.needed_segments(segments, m, self.ring)
        o["segment_sha256"] = {k: hashes[k] for k in o["segments"] if k in hashes}
        o["episodes"] = list(self.collector.episodes)
        if stopping:
            o["open_segment"], o["in_progress"] = written, [int(n) for n in self.collector.length]
        return {"online": o}

    def after_checkpoint(self, stopping: bool = False) -> None:
        o = self.online
        # segments neither this checkpoint nor the one before it (now checkpoint.prev) lists: overwritten ones
        ob.remove_unlisted(self.run_dir, set(o["segments"]) | set(self.listed))
        self.listed = list(o["segments"])
        if stopping:  # as a run resumed from this checkpoint: the open segment's transitions stay pending
            open_segment = o.pop("open_segment", None)
            o.pop("in_progress", None)
            o["segments"] = [s for s in o["segments"] if s != open_segment]
            return
        self.pending, self.pending_from = [], o["env_steps"]
        self.collector.reset_all()

    def advance(self, bar, updates: int) -> None:
        bar.update(updates // self.config.online_updates_per_step)

    def close(self) -> None:
        if self.collector is not None:
            self.collector.close()
            self.collector = None
