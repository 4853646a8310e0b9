"""The offline phase: ``config.steps`` updates on the dataset, in chunks that end at every log, evaluation and
checkpoint step (and at least every ``chunk_size`` updates).

Data on the device: one compiled call per chunk. Pixel data placed on the host (:mod:`fidec.data.placement`): calls
of ``stream_updates`` updates each on minibatches a prefetcher gathered while the previous calls ran. The progress
bar shows one rate (updates/s over the run so far, evaluations included) and the time left it implies, and warns
when that time is over :data:`SLOW_RUN_WARNING_S`.
"""

from __future__ import annotations

import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from fidec.config import Config
from fidec.console import format_duration, progress_bar
from fidec.data.placement import Prefetcher

#: Warn when the measured rate says the rest of a run will take longer than this (seconds).
SLOW_RUN_WARNING_S = 24 * 3600


class OfflinePhase:
    """Updates on the dataset; ``run_chunk(states, data, n)`` is the compiled chunk, ``stream_chunk`` its
    host-streamed form (with ``placement = 'host'``; ``data`` is then None and ``train`` the host frames)."""

    def __init__(
        self,
        config: Config,
        run_chunk,
        data,
        *,
        members: int,
        placement: str = "device",
        stream_chunk=None,
        train=None,
        progress: bool = True,
    ):
        self.config = config
        self.end = config.steps
        self.run_chunk, self.data, self.members = run_chunk, data, members
        self.placement, self.stream_chunk, self.train = placement, stream_chunk, train
        self.progress = progress
        self._prefetch: Prefetcher | None = None

    # ------------------------------------------------------------------ the driver's calls
    def open(self, step: int):
        c = self.config
        bar = progress_bar(
            c.steps,
            initial=min(step, c.steps),
            enabled=self.progress,
            unit="upd",
            desc=f"{c.agent} {c.env}",
            # one rate (updates/s over the run so far, evaluations included) and the ETA it implies
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]",
        )
        bar.set_postfix_str(f"compiling and running the first {self.boundary(step) - step} updates")
        self.step = step
        self.compiled: set[int] = set()
        self.window_updates, self.window_time, self.window_chunks = 0, 0.0, 0.0
        self.window_start = time.perf_counter()  # seconds inside compiled chunks since the last train record
        self.rate_from: tuple[int, float] | None = None  # (step, time) at the end of the first chunk
        self.rate = 0.0
        self.latest_success: float | None = None
        return bar

    def boundary(self, step: int) -> int:
        c = self.config
        nxt = c.steps
        for every in (c.log_every, c.eval_every, c.checkpoint_every, c.chunk_size):
            nxt = min(nxt, (step // every + 1) * every)
        return nxt - step

    def chunk(self, states, step: int, updates: int):
        t0 = time.perf_counter()
        new_states, infos = self._updates(states, step, updates)
        infos = jax.device_get(infos)
        self.dt, self.n = time.perf_counter() - t0, updates
        return new_states, infos, self.dt

    def commit(self) -> None:
        self.step += self.n
        self.window_chunks += self.dt
        if self.n in self.compiled:  # a chunk length's first call compiles: left out of the rate
            self.window_updates, self.window_time = self.window_updates + self.n, self.window_time + self.dt
        self.compiled.add(self.n)

    def close_window(self, now: float):
        ups = self.window_updates * self.members / self.window_time if self.window_time > 0 else None
        # share of the wall time since the previous train record spent inside compiled chunks; the rest is host
        # work between chunks (logging, diagnostics, evaluation, checkpoints)
        frac = self.window_chunks / (now - self.window_start) if now > self.window_start else None
        self.window_updates, self.window_time = 0, 0.0
        self.window_start, self.window_chunks = now, 0.0
        return ups, frac

    def annotate(self, records: list[dict]) -> None:
        pass

    def eval_line(self, step: int, evals: list[dict]) -> str:
        self.latest_success = float(np.mean([r["success"] for r in evals]))
        return (
            f"step {step}: success "
            + ", ".join(f"{r['success']:.2f} (seed {r['seed']})" for r in evals)
            + f" over {self.config.eval_episodes} episodes"
        )

    def checkpoint_state(self, stopping: bool = False) -> dict:
        return {}  # the step and the states are the whole offline state: any chunk boundary resumes exactly

    def after_checkpoint(self, stopping: bool = False) -> None:
        pass

    def advance(self, bar, updates: int) -> None:
        c, now = self.config, time.perf_counter()
        if self.rate_from is None:
            self.rate_from = (self.step, now)
            self.rate = updates / self.dt  # compilation included: an overestimate of the time left
            self._warn_if_slow(self.rate, c.steps - self.step, updates, bar)
        elif now > self.rate_from[1]:
            self.rate = (self.step - self.rate_from[0]) / (now - self.rate_from[1])
        rate = self.rate
        post = f"{rate:.1f} upd/s, ETA {format_duration((c.steps - self.step) / rate)}" if rate > 0 else ""
        if self.latest_success is not None:
            post += f", success {self.latest_success:.2f}"
        bar.set_postfix_str(post, refresh=False)
        bar.update(updates)

    def close(self) -> None:
        if self._prefetch is not None:
            self._prefetch.close()
            self._prefetch = None

    # ------------------------------------------------------------------ updates
    def _updates(self, states, step: int, n: int):
        """n updates of every member: one compiled call over device-resident data, or (host placement) calls of
        ``stream_updates`` updates each on chunks the prefetcher gathered while the previous ones ran."""
        if self.placement != "host":
            return self.run_chunk(states, self.data, n)
        c = self.config
        if self._prefetch is None or self._prefetch.next_step != step:
            if self._prefetch is not None:
                self._prefetch.close()
            self._prefetch = Prefetcher(
                self.train,
                updates=c.stream_updates,
                members=self.members,
                batch_size=c.batch_size,
                frame_stack=c.frame_stack,
                seed=c.seed,
                start_step=step,
            )
        parts, done = [], 0
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

    @staticmethod
    def _warn_if_slow(rate: float, remaining: int, measured: int, bar) -> None:
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
