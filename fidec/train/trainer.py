"""The trainer: one run folder, its agent and members (seeds, or an ε × seed grid), data on the device, records.

``Trainer(config, run_dir).run()`` trains; :meth:`Trainer.create` and :meth:`Trainer.resume` open the run folder
(:mod:`fidec.train.folder`). :meth:`Trainer.run` hands the offline phase (:mod:`fidec.train.offline`) and, with
``online_steps > 0``, the online phase (:mod:`fidec.train.online`) to the loop driver (:mod:`fidec.train.loop`),
which calls back here for what both phases share: train records with their log-time diagnostics (extra ODE
solves on a validation batch), evaluations, record streams, checkpoints and the advice of a non-finite stop.
"""

from __future__ import annotations

import dataclasses
import time
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from fidec import checkpoint
from fidec.agents import make_agent
from fidec.config import Config
from fidec.data.frames import FrameStackFactory, sample_frames, stacked_observations
from fidec.data.loading import Task, load_task, to_device, with_next_actions
from fidec.data.placement import choose_placement, device_memory_bytes, to_device_frames
from fidec.errors import FidecError
from fidec.evaluate import EnvPool, evaluate, evaluate_seeds, make_batch_policy_fn, make_policy_fn
from fidec.io import remove_stale_temporaries
from fidec.loggers import RecordStream, open_stream, require_loggers
from fidec.online.collect import check_steppable
from fidec.runs import MetricsLog, RunLock
from fidec.train import folder, inputs
from fidec.train.chunks import init_states, make_chunk_fn, make_stream_chunk_fn, seed_slice
from fidec.train.folder import sub_run_name
from fidec.train.loop import drive
from fidec.train.offline import OfflinePhase
from fidec.train.online import OnlinePhase, new_online_state

DIAG_BATCH = 256


def _check_observations(config: Config, task: Task) -> None:
    """Pixel data needs an encoder and state data none: a one-line error naming the fix."""
    if task.pixels and config.encoder == "none":
        raise FidecError(
            f"{config.env} has pixel observations and needs an image encoder: pass --encoder impala_small (the paper "
            "preset sets it, with --frame-stack 3 --p-aug 0.5, for visual-* tasks)"
        )
    if not task.pixels and config.encoder != "none":
        raise FidecError(f"--encoder {config.encoder} is for pixel observations; {config.env} has states: drop it")


class Trainer:
    """Owns one run folder. ``Trainer(config, run_dir).run()`` trains; ``Trainer.resume(run_dir)`` continues.

    With ``online_steps > 0`` the offline steps are followed by the online phase (:mod:`fidec.train.online`)."""

    def __init__(self, config: Config, run_dir: str | Path, task: Task | None = None, progress: bool = True):
        config.validate()
        self.config = config
        self.run_dir = Path(run_dir)
        self.progress = progress
        self.task = task or load_task(
            config.env,
            config.dataset_dir,
            env_id=config.env_id,
            convention=config.data_convention,
            success_timing=config.success_timing,
        )
        self.pixels = self.task.pixels
        _check_observations(config, self.task)
        if self.pixels:  # evaluation sees the frame stack the data gives (FQL's FrameStackWrapper)
            self.task = dataclasses.replace(
                self.task, env_factory=FrameStackFactory(self.task.env_factory, config.frame_stack)
            )
        obs = self.task.train.obs_shape(config.frame_stack) if self.pixels else self.task.obs_dim
        self.agent = make_agent(config, obs, self.task.action_dim)
        if self.agent.needs_next_actions:  # ReBRAC: every batch carries the dataset's next action
            self.task = dataclasses.replace(
                self.task, train=with_next_actions(self.task.train), val=with_next_actions(self.task.val)
            )
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
        self.placement, self.stream_chunk = "device", None
        if self.pixels:
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
        self._streams: dict[float | None, RecordStream] = {}
        self._env = None
        self._policy_fn = None
        self._batch_policy_fn = None
        self._env_pool = None
        self.chunk_time = 0.0  # this process: seconds inside compiled chunk calls, and in the whole loop
        self.loop_time = 0.0
        self.online = new_online_state(len(self.seeds))  # online counters, buffer segments (checkpointed)
        self.inputs: dict | None = None  # observation shape and data fingerprint for config.json (fidec.train.inputs)

    # ------------------------------------------------------------------ run folder
    @classmethod
    def create(cls, config: Config, run_dir, progress: bool = True, task: Task | None = None) -> Trainer:
        run_dir = Path(run_dir)
        config.validate()
        require_loggers(config.logger)  # before anything is written: a missing extra is a one-line error
        inputs.check_new(config)  # a pixel dataset's splits share one frame size (file headers), before the folder
        lock, created = folder.claim_new(run_dir)
        try:
            t = cls(config, run_dir, task=task, progress=progress)
            if config.online_steps:
                check_steppable(t.task)  # before anything is written
            t._lock = lock
            t._write_config()
        except BaseException:
            folder.release(lock, created)
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
        accept_changed_data: bool = False,
        use_previous: bool = False,
        log=None,
    ):
        """Load a run folder at its latest checkpoint. ``read_only`` (for evaluation/loading) changes no file and
        takes no lock; otherwise the folder's lock is held until :meth:`run` ends (or :meth:`close`).
        ``steps``/``online_steps`` extend the offline/online phase (offline only before the online one began).
        Data that changed since the run began is refused unless ``accept_changed_data`` (:mod:`fidec.train.inputs`).
        ``use_previous``: the newest checkpoint is damaged; continue from the previous one
        (:func:`fidec.train.folder.use_previous_checkpoint`), saying so through ``log(line)``."""
        run_dir = Path(run_dir)
        folder.saved_config(run_dir)  # not a run folder: a one-line error before any lock is taken
        lock = None if read_only else RunLock(run_dir).acquire()
        try:
            if use_previous:
                if read_only:
                    raise FidecError("--use-previous-checkpoint changes the run folder: it needs a writable resume")
                line = folder.use_previous_checkpoint(run_dir)
                if log is not None:
                    log(line)
            saved = folder.saved_config(run_dir)
            config = Config.from_dict(saved["config"])
            saved_steps = config.steps
            if steps is not None:
                config.steps = steps
            if online_steps is not None:
                config.online_steps = online_steps
            config.validate()
            if task is None:  # the run's inputs are checked before any work (frame shapes: before loading frames)
                inputs.check_frames_before_loading(run_dir, saved, config)
                task = load_task(config.env, config.dataset_dir, env_id=config.env_id)
            record = inputs.check_resume(run_dir, saved, task, config, accept_changed_data, read_only)
            t = cls(config, run_dir, task=task, progress=progress)
            t._lock = lock
            t.inputs = record
            if not checkpoint.exists(run_dir) and checkpoint.previous_exists(run_dir):
                raise FidecError(
                    f"{run_dir} has no {checkpoint.CHECKPOINT} but keeps {checkpoint.PREVIOUS}: "
                    + folder.way_back(run_dir)
                )
            if checkpoint.exists(run_dir):
                t.states, meta = checkpoint.load(run_dir, t.states, lambda: folder.fallback_advice(run_dir))
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
            folder.release(lock)
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
        placement = self.placement if self.pixels else None
        if self.inputs is None:  # a new run: what it is made from
            self.inputs = inputs.new_record(self.task, self.config)
        record = inputs.at_step(self.inputs, self.step)
        folder.write_config(self.run_dir, self.config, self.task, self.env, placement, self.sub_logs, record)

    @property
    def env(self):
        if self._env is None:
            self._env = self.task.make_env()
        return self._env

    # ------------------------------------------------------------------ loop
    def run(self) -> dict:
        """Train to ``config.total_steps``; records go to metrics.jsonl/csv and the loggers named by
        ``config.logger``."""
        c = self.config
        self._streams = {}
        try:
            if self.eps_grid:
                for eps, log in self.sub_logs.items():
                    sub = c.member_config(eps).to_dict()
                    self._streams[eps] = open_stream(log, c.logger, self.seeds, sub, self.step)
            else:
                self._streams[None] = open_stream(self.log, c.logger, self.seeds, c.to_dict(), self.step)
            phases = [
                OfflinePhase(
                    c,
                    self.run_chunk,
                    self.data,
                    members=len(self.member_seeds),
                    placement=self.placement,
                    stream_chunk=self.stream_chunk,
                    train=self.task.train,
                    progress=self.progress,
                )
            ]
            if c.online_steps:  # no ε grid online (Config.validate): the members are the seeds
                phases.append(
                    OnlinePhase(
                        c, self.agent, self.task, self.data, self.seeds, self.online, self.run_dir, self.progress
                    )
                )
            drive(self, phases)
            return self.finish()
        finally:
            for stream in self._streams.values():
                stream.close()
            if self._env_pool is not None:
                self._env_pool.close()
                self._env_pool = None
            self.close()

    def write_records(self, records: list[dict]) -> None:
        """Each record to its run folder's stream: each ε's to its own sub-run folder."""
        for eps, stream in self._streams.items():
            mine = [r for r in records if r.get("target_divergence", None) == eps or eps is None]
            stream.append(mine)

    def save_checkpoint(self, window: list[dict], extra: dict) -> None:
        """The checkpoint of the current step (``window``: the loss terms since the last train record)."""
        folder.save_checkpoint(self.run_dir, self.states, self.step, self.wall, window, extra)
        self.saved_step = self.step

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

    def nonfinite_advice(self) -> str:
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

    def train_records(self, chunk_infos, ups, time_in_chunks_frac=None) -> list[dict]:
        """One train record per member: the loss terms averaged over ``chunk_infos``, and log-time diagnostics."""
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

    # ------------------------------------------------------------------ evaluation
    def eval_seed(self, seed: int) -> int:
        """The evaluation seed of training seed ``seed`` at the current step."""
        return seed * 1_000_003 + self.step

    def evaluate(self) -> list[dict]:
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

    # ------------------------------------------------------------------ summaries
    def finish(self) -> dict:
        """Write summary.json (each sub-run's and the group's with a ε grid) and the learning curves."""
        frac = self.chunk_time / self.loop_time if self.loop_time > 0 else None
        c, task, env, wall = self.config, self.task, self.env, self.wall
        if not self.eps_grid:
            return folder.write_summary(self.log, c, task, env, wall, frac)
        subs = {eps: folder.write_summary(log, c, task, env, wall, frac) for eps, log in self.sub_logs.items()}
        return folder.write_group_summary(self.run_dir, subs, self.sub_logs)
