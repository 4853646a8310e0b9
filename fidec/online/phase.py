"""The online phase of a run (a mixin of :class:`fidec.train.Trainer`).

Loop, after the offline steps: collect ``k = online_collect`` environment steps (each one batched policy call for
all seeds, then one step of every seed's environment), push their transitions into the device rings, then run
their ``k x online_updates_per_step`` updates as one compiled call (``lax.scan`` over steps and updates, ``vmap``
over seeds); the update after online step ``m`` samples from the buffer as it was after step ``m``
(:mod:`fidec.online.buffer`). ``k = 1`` is FQL's alternation (act, update, act, ...); with ``k > 1`` the actions of
a chunk come from the parameters before it, at most ``k - 1`` updates old. ``k`` is cut at the log, evaluation
and checkpoint steps, so those happen exactly where they would with ``k = 1``.

Checkpoints cut the episodes in progress in every run (:mod:`fidec.online.collect`), so a resumed online run is
bit-identical to an uninterrupted one; the authors' release cannot resume online at all
(``scripts/run_fqlscope_online_grid_resume_2x4090.sh`` L272: "exact online resume is unsupported by current
code; restarting from offline checkpoint").

The step axis of every record is the gradient update count (offline steps, then ``online_updates_per_step`` per
environment step); online train records add ``phase = 'online'``, ``env_steps``, the buffer's sizes, the
episodes that ended since the previous record (return, success, length), throughput and where the time went.
"""

from __future__ import annotations

import sys
import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from fidec import checkpoint
from fidec.console import progress_bar
from fidec.errors import NonFiniteLossError
from fidec.online import buffer as ob
from fidec.online.collect import Collector, act_base_keys


def make_online_chunk_fn(agent, config, n_data: int, ring: int):
    """``run(states, data, rings, m0, n) -> (states, infos)``: the updates of online steps m0+1..m0+n, infos of
    shape (n x updates per step, seeds)."""
    sample = ob.make_sampler(config, n_data, ring)
    utd = config.online_updates_per_step
    frozen = ("flow",) if config.online_freeze_flow else ()

    def one_update(state, data, buf, m):
        rng, k = jax.random.split(state.rng)
        return agent.update(state.replace(rng=rng), sample(data, buf, k, m), frozen=frozen)

    all_seeds = jax.vmap(one_update, in_axes=(0, None, 0, None))

    @partial(jax.jit, static_argnums=4, donate_argnums=0)
    def run(states, data, rings, m0, n):
        single = jax.tree_util.tree_leaves(states)[0].shape[0] == 1
        if single:  # as the offline chunk: no size-1 vmap on XLA:CPU (slower code, same computation)
            states = jax.tree_util.tree_map(lambda x: x[0], states)
            rings = jax.tree_util.tree_map(lambda x: x[0], rings)
            upd = lambda s, m: one_update(s, data, rings, m)  # noqa: E731
        else:
            upd = lambda s, m: all_seeds(s, data, rings, m)  # noqa: E731

        def env_step(s, j):
            m = m0 + j + 1
            return jax.lax.scan(lambda s2, _: upd(s2, m), s, None, length=utd)

        states, infos = jax.lax.scan(env_step, states, jnp.arange(n))
        infos = jax.tree_util.tree_map(lambda x: x.reshape((n * utd, *x.shape[2:])), infos)
        if single:
            states = jax.tree_util.tree_map(lambda x: x[None], states)
            infos = jax.tree_util.tree_map(lambda x: x[:, None], infos)
        return states, infos

    return run


def make_act_fn(agent):
    """A jitted ``(params, obs, base_keys, t) -> actions`` for one observation per seed (seeds axis first)."""

    def one(params, obs, base_key, t):
        return agent.act(params, obs, jax.random.fold_in(base_key, t))

    return jax.jit(jax.vmap(one, in_axes=(0, 0, 0, None)))


def new_online_state(n_seeds: int) -> dict:
    """What a checkpoint holds of the online phase besides the agent states."""
    return {"env_steps": 0, "episodes": [0] * n_seeds, "segments": [], "window": empty_window(n_seeds)}


def empty_window(n_seeds: int) -> dict:
    """Episodes that ended since the last train record (per seed: returns, successes, lengths) and cut ones."""
    return {"ended": [[] for _ in range(n_seeds)], "cut": [0] * n_seeds}


TIMERS = ("act", "env", "push", "update")


class OnlinePhase:
    """The online loop of :class:`fidec.train.Trainer`; ``self.online`` is the checkpointed online state."""

    def _online_counts(self) -> dict:
        return ob.buffer_counts(self.config, len(self.task.train["observations"]), self.online["env_steps"])

    def _run_online(self) -> None:
        c, o, seeds = self.config, self.online, self.seeds
        n_data = len(self.task.train["observations"])
        ring = ob.ring_size(c, n_data)
        utd = c.online_updates_per_step
        if o["segments"]:
            rings = ob.load_ring(self.run_dir, o["segments"], o["env_steps"], ring, len(seeds), self.task.train)
        else:
            rings = ob.empty_ring(len(seeds), ring, self.task.train)
        run = make_online_chunk_fn(self.agent, c, n_data, ring)
        act = make_act_fn(self.agent)
        base_keys = act_base_keys(seeds)
        self._collector = col = Collector(self.task, seeds, o["episodes"])
        col.reset_all()  # the online phase and every checkpoint start new episodes
        pending: list[dict] = []  # transitions since the last checkpoint (each seeds x k), for its segment
        pending_from = o["env_steps"]
        end = c.total_steps
        bar = progress_bar(
            c.online_steps,
            initial=o["env_steps"],
            enabled=self.progress,
            unit="env step",
            desc=f"online {c.agent} {c.env}",
        )
        chunk_infos = [self.log_window] if self.log_window else []
        timers = dict.fromkeys(TIMERS, 0.0)
        win = {"loop": 0.0, "updates": 0, "env_steps": 0, "chunks": 0.0}
        window_start = time.perf_counter()
        compiled: set[int] = set()
        warm = False  # the policy has been compiled (its first call is left out of the rates)
        while self.step < end:
            nxt = end
            for every in (c.log_every, c.eval_every, c.checkpoint_every):
                nxt = min(nxt, (self.step // every + 1) * every)
            k = min(c.online_collect, (nxt - self.step) // utd)
            m = o["env_steps"]
            t_loop = time.perf_counter()
            t = dict.fromkeys(TIMERS, 0.0)
            rows = []
            for j in range(k):
                t0 = time.perf_counter()
                actions = np.asarray(act(self.states.params, jnp.asarray(col.obs), base_keys, m + j))
                t1 = time.perf_counter()
                r, ended = col.step(actions)
                t["act"] += t1 - t0
                t["env"] += time.perf_counter() - t1
                rows.append(r)
                for i, ret, succ, length in ended:
                    o["window"]["ended"][i].append([ret, succ, length])
            new = {key: np.stack([r[key] for r in rows], axis=1) for key in rows[0]}
            t0 = time.perf_counter()
            rings = ob.push(rings, new, m, ring)
            pending.append(new)
            t1 = time.perf_counter()
            new_states, infos = run(self.states, self.data, rings, jnp.int32(m), k)
            infos = jax.device_get(infos)
            t2 = time.perf_counter()
            t["push"], t["update"] = t1 - t0, t2 - t1
            bad = first_nonfinite(infos, self.step, seeds) or self._nonfinite_state(new_states, k * utd)
            if bad:
                bar.close()
                raise NonFiniteLossError(f"{bad}; {self._nonfinite_advice()}")
            self.states = new_states
            self.step += k * utd
            o["env_steps"] = m + k
            chunk_infos.append(infos)
            self.wall += t2 - t_loop
            self.chunk_time += t2 - t1
            win["chunks"] += t2 - t1
            if k in compiled and warm:  # compilations stay out of the rates
                win["loop"] += t2 - t_loop
                win["updates"] += k * utd
                win["env_steps"] += k
                for key in TIMERS:
                    timers[key] += t[key]
            compiled.add(k)
            warm = True

            records = []
            if self.step % c.log_every == 0 or self.step == end:
                now = time.perf_counter()
                frac = win["chunks"] / (now - window_start) if now > window_start else None
                records += self._online_records(chunk_infos, win, timers, frac)
                chunk_infos = []
                timers = dict.fromkeys(TIMERS, 0.0)
                win = {"loop": 0.0, "updates": 0, "env_steps": 0, "chunks": 0.0}
                window_start = now
            if c.evaluates_at(self.step, end):
                evals = self._evaluate()
                records += evals
                bar.write(
                    f"step {self.step} (online step {o['env_steps']}): success "
                    + ", ".join(f"{r['success']:.2f} (seed {r['seed']})" for r in evals),
                    file=sys.stderr,
                )
            if records:
                self._stream.append(records)
            if self.step % c.checkpoint_every == 0 or self.step == end:
                self._online_checkpoint(pending, pending_from, ring, chunk_infos)
                pending, pending_from = [], o["env_steps"]
                col.reset_all()
            bar.update(k)
        bar.close()

    def _online_checkpoint(self, pending, pending_from, ring, chunk_infos) -> None:
        """The transitions since the last checkpoint as one segment, then the checkpoint naming its segments.
        Episodes in progress are cut here (counted in the window) in every run, resumed or not."""
        o = self.online
        m = o["env_steps"]
        for i, n in enumerate(self._collector.in_progress()):
            o["window"]["cut"][i] += int(n)
        segments = list(o["segments"])
        if pending:
            rows = {k: np.concatenate([p[k] for p in pending], axis=1) for k in pending[0]}
            segments.append(ob.write_segment(self.run_dir, pending_from, m, rows))
        o["segments"] = ob.needed_segments(segments, m, ring)
        o["episodes"] = list(self._collector.episodes)
        meta = {"step": self.step, "wall_time": self.wall, "online": o}
        if chunk_infos:
            meta["log_window"] = {k: np.concatenate([ci[k] for ci in chunk_infos]) for k in chunk_infos[0]}
        checkpoint.save(self.run_dir, self.states, meta)
        self.saved_step = self.step
        ob.remove_unlisted(self.run_dir, o["segments"])

    def _online_records(self, chunk_infos, win, timers, frac) -> list[dict]:
        n = len(self.seeds)
        loop = win["loop"]
        ups = win["updates"] * n / sum(timers[k] for k in ("update",)) if timers["update"] > 0 else None
        recs = self._train_records(chunk_infos, ups, frac)
        counts = self._online_counts()
        w = self.online["window"]
        for i, rec in enumerate(recs):
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
                env_steps_per_s=win["env_steps"] * n / loop if loop > 0 else None,
                loop_updates_per_s=win["updates"] * n / loop if loop > 0 else None,
                **{f"time_{k}_frac": (timers[k] / loop if loop > 0 else None) for k in TIMERS},
            )
        self.online["window"] = empty_window(n)
        return recs


def first_nonfinite(infos, step, seeds):
    from fidec.train import first_nonfinite as f

    return f(infos, step, seeds)
