"""``fidec data expert ant``: OGBench's online SAC loop that trains the ant locomotion expert, with exact resume,
and the expert's evaluations (directional return; goal-reaching in a maze).

OGBench collects its ant maze datasets with a directional-locomotion expert that is not in the ``ogbench``
package (its README points to a separate download, ``experts.tar.gz``, which needs a network). Its recipe
(``data_gen_scripts/commands.sh``)::

    python main_sac.py --env_name=online-ant-xy-v0 --train_steps=400000 --eval_interval=100000 \
        --save_interval=400000 --log_interval=5000

is followed here setting by setting (:class:`SACConfig` cites each one). The environment is OGBench's
``online-ant-v0`` (10 Hz ant with restricted joints, ``max_episode_steps=1000``) inside OGBench's own
``GymXYWrapper(resample_interval=100)`` (``data_gen_scripts/online_env_utils.py``): the observation gets a
unit direction ``z`` appended (resampled every 100 steps) and the reward is the displacement along ``z``.

The online loop (``main_sac.py``): uniform random actions for the first ``seed_steps`` steps; from then on
one SAC update per environment step on a batch drawn uniformly from the replay buffer, and actions sampled
from the current policy. The agent (``impls/agents/sac.py``) makes one Adam step on the sum of the critic,
actor and temperature losses. Here each environment step makes one call of one compiled function that runs
the update and samples the next action (the online loop allows no longer compiled chunks: every action
depends on the update just made).

Exact resume: a checkpoint is written at the end of an episode (the first one after every
``checkpoint_interval`` steps), after the step's transition is stored and before the reset and the update.
It holds the parameters, optimiser state, JAX key, the replay buffer, and the state of every NumPy generator
involved (the wrapper's global ``np.random``, the environment's ``np_random``, the seed-phase action sampler
and the batch sampler), so a resumed run is bit-identical to an uninterrupted one.

Files in the expert folder (default ``{dataset_dir}/experts/ant``):

- ``checkpoint.msgpack``: the whole training state (for resume);
- ``expert.npz``: the actor's parameters and the config, all data generation needs (NumPy only);
- ``log.jsonl``: one line per log interval and per evaluation (directional return of the deterministic actor).

Deviations from OGBench, all without effect on the trained expert: the first reset is seeded (OGBench's is
not, so its runs are not reproducible); evaluation uses 10 episodes (OGBench: 50) with its own generators, so
it does not disturb the training stream; the replay buffer holds ``min(1e6, train_steps)`` rows (it never
wraps in OGBench either).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from fidec import checkpoint
from fidec.console import format_duration, progress_bar, quiet_warnings
from fidec.data.expert import EXPERT_FILE, Expert
from fidec.errors import FidecError
from fidec.experts.sac import SAC, ReplayBuffer, SACConfig, actor_arrays, make_env, write_expert
from fidec.io import atomic_write_text

LOG_FILE = "log.jsonl"


# ---------------------------------------------------------------------------------------------- training
def _np_state_to_json(gen_state) -> str:
    return json.dumps(gen_state)


def evaluate_directional(expert_fn, config: SACConfig, episodes: int, seed: int) -> dict:
    """Mean directional return (sum of displacement along the commanded direction) of ``expert_fn``.

    Runs with its own generators and restores NumPy's global one afterwards, so training is not disturbed."""
    saved = np.random.get_state()
    try:
        np.random.seed(seed)
        env = make_env(config)
        returns, lengths = [], []
        for ep in range(episodes):
            ob, _ = env.reset(seed=seed * 1000 + ep)
            total, n, done = 0.0, 0, False
            while not done:
                ob, r, term, trunc, _ = env.step(expert_fn(ob))
                total, n, done = total + float(r), n + 1, term or trunc
            returns.append(total)
            lengths.append(n)
        env.close()
    finally:
        np.random.set_state(saved)
    return {
        "return_mean": float(np.mean(returns)),
        "return_std": float(np.std(returns)),
        "length_mean": float(np.mean(lengths)),
    }


def maze_success(expert, env_id: str = "antmaze-large-v0", episodes_per_task: int = 2, seed: int = 0) -> dict:
    """The expert's goal-reaching success in a maze's five evaluation tasks, steered by the maze's BFS waypoint
    oracle as in ``generate_locomaze.py`` (no action noise; the episode ends at the goal or after the env's
    1000 steps)."""
    quiet_warnings()
    import gymnasium
    import ogbench.locomaze  # noqa: F401

    saved = np.random.get_state()
    np.random.seed(seed)
    env = gymnasium.make(env_id)
    u = env.unwrapped
    per_task = {}
    try:
        for task in range(1, u.num_tasks + 1):
            wins = []
            for ep in range(episodes_per_task):
                env.reset(seed=seed * 100 + task * 10 + ep, options={"task_id": task})
                done, info = False, {}
                while not done:
                    subgoal_xy, _ = u.get_oracle_subgoal(u.get_xy(), u.cur_goal_xy)
                    d = subgoal_xy - u.get_xy()
                    d = d / (np.linalg.norm(d) + 1e-6)
                    _, _, term, trunc, info = env.step(expert(np.concatenate([u.get_ob(ob_type="states")[2:], d])))
                    done = term or trunc
                wins.append(float(info.get("success", 0.0)))
            per_task[f"task{task}"] = float(np.mean(wins))
    finally:
        env.close()
        np.random.set_state(saved)
    return {"env": env_id, "success": float(np.mean(list(per_task.values()))), "per_task": per_task}


class ExpertTrainer:
    """The online SAC loop of ``main_sac.py`` with checkpoints at episode ends and exact resume."""

    def __init__(self, config: SACConfig, out_dir: str | os.PathLike, progress: bool = True):
        self.config, self.dir, self.progress = config, Path(out_dir), progress
        self.dir.mkdir(parents=True, exist_ok=True)
        cfg = config
        np.random.seed(cfg.seed)  # the wrapper's direction z is drawn from NumPy's global generator
        self.env = make_env(cfg)
        self.obs_dim = int(self.env.observation_space.shape[0])
        self.action_dim = int(self.env.action_space.shape[0])
        self.agent = SAC(cfg, self.obs_dim, self.action_dim)
        self.state = self.agent.init(cfg.seed)
        seeds = np.random.SeedSequence(cfg.seed).spawn(2)
        self.buffer = ReplayBuffer(cfg.buffer_rows, self.obs_dim, self.action_dim, seeds[0])
        self.action_rng = np.random.default_rng(seeds[1])  # main_sac.py: env.action_space.sample()
        self.step = 0
        self.wall = 0.0
        self.evals: list = []
        self.episode_returns: list = []
        self.ob = None
        self.next_action = None

    # --------------------------------------------------------------------------------- checkpoints
    def _save(self) -> None:
        host = {
            "agent": self.state,
            "buffer": {k: v[: self.buffer.size] for k, v in self.buffer.data.items()},
            "np_global": np.random.get_state()[1],
        }
        g = np.random.get_state()
        meta = {
            "step": self.step,
            "wall_time": self.wall,
            "config": json.dumps(self.config.to_dict()),
            "np_global": json.dumps([g[0], int(g[2]), int(g[3]), float(g[4])]),
            "env_rng": _np_state_to_json(self.env.unwrapped.np_random.bit_generator.state),
            "buffer_rng": _np_state_to_json(self.buffer.rng.bit_generator.state),
            "action_rng": _np_state_to_json(self.action_rng.bit_generator.state),
            "evals": json.dumps(self.evals),
            "episode_returns": json.dumps(self.episode_returns[-100:]),
        }
        checkpoint.save(self.dir, host, meta)
        write_expert(self.dir / EXPERT_FILE, self.state["params"], self.config, self.step, self.evals)

    def _restore(self) -> None:
        import jax.numpy as jnp

        meta = checkpoint.read_meta(self.dir)
        saved_cfg = json.loads(meta["config"])
        if saved_cfg != self.config.to_dict():
            diff = sorted(k for k in saved_cfg if saved_cfg.get(k) != self.config.to_dict().get(k))
            raise FidecError(
                f"the expert in {self.dir} was trained with other settings ({', '.join(diff)}); "
                "resume it with the same settings, or start a new one with --force"
            )
        template = {
            "agent": self.state,
            "buffer": {k: v[:0] for k, v in self.buffer.data.items()},
            "np_global": np.zeros(624, np.uint32),
        }
        host, meta = checkpoint.load(self.dir, template)
        import jax

        self.state = jax.tree_util.tree_map(jnp.asarray, host["agent"])
        n = len(host["buffer"]["rewards"])
        for k, v in host["buffer"].items():
            self.buffer.data[k][:n] = v
        self.buffer.size = n
        name, pos, has_gauss, cached = json.loads(meta["np_global"])
        np.random.set_state((name, np.asarray(host["np_global"], np.uint32), pos, has_gauss, cached))
        self.env.unwrapped.np_random.bit_generator.state = json.loads(meta["env_rng"])
        self.buffer.rng.bit_generator.state = json.loads(meta["buffer_rng"])
        self.action_rng.bit_generator.state = json.loads(meta["action_rng"])
        self.step, self.wall = int(meta["step"]), float(meta["wall_time"])
        self.evals = json.loads(meta["evals"])
        self.episode_returns = json.loads(meta["episode_returns"])
        # Keep the log lines up to the checkpoint: later ones are written again.
        log = self.dir / LOG_FILE
        if log.exists():
            keep = [ln for ln in log.read_text().splitlines() if ln and json.loads(ln).get("step", 0) <= self.step]
            atomic_write_text(log, "".join(f"{ln}\n" for ln in keep))

    def _log(self, record: dict) -> None:
        with open(self.dir / LOG_FILE, "a") as f:
            f.write(json.dumps(record) + "\n")

    # ------------------------------------------------------------------------------------ the loop
    def _after_step(self) -> None:
        """The tail of a step: the update (once the buffer holds ``seed_steps`` rows) and the next action."""
        cfg = self.config
        if self.buffer.size >= cfg.seed_steps and self.step % cfg.train_interval == 0:
            batch = self.buffer.sample(cfg.batch_size)
            self.state, action, info = self.agent.update_and_act(self.state, batch, self.ob[None])
            self.last_info = info
        elif self.step + 1 >= cfg.seed_steps:
            self.state, action = self.agent.act(self.state, self.ob[None])
        else:
            action = None
        self.next_action = None if action is None else np.asarray(action[0])

    def run(self, resume: bool = True, stop_after: int | None = None) -> dict:
        """Train to ``config.train_steps`` (or to the first checkpoint at or after ``stop_after``)."""
        cfg, env = self.config, self.env
        self.last_info = None
        if resume and checkpoint.exists(self.dir):
            self._restore()
            if self.step >= cfg.train_steps:
                return {"step": self.step, "evaluations": self.evals, "dir": str(self.dir)}
            self.ob = np.asarray(env.reset()[0])
            self._after_step()
        else:
            (self.dir / LOG_FILE).unlink(missing_ok=True)
            self.ob = np.asarray(env.reset(seed=cfg.seed)[0])
            self._after_step()
        last_ckpt = self.step
        ep_return = 0.0
        t0 = time.perf_counter()
        t_last = t_log = t0
        step_log = self.step
        bar = progress_bar(
            cfg.train_steps,
            initial=self.step,
            desc="ant expert (SAC)",
            unit="step",
            enabled=self.progress,
            mininterval=1.0 if sys.stderr.isatty() else 30.0,
        )
        try:
            while self.step < cfg.train_steps:
                self.step += 1
                if self.step < cfg.seed_steps:
                    action = self.action_rng.uniform(env.action_space.low, env.action_space.high)
                else:
                    action = self.next_action
                action = np.asarray(action, np.float64)
                next_ob, reward, terminated, truncated, _ = env.step(action)
                self.buffer.add(
                    observations=self.ob,
                    actions=action,
                    rewards=reward,
                    masks=float(not terminated),
                    next_observations=next_ob,
                )
                ep_return += float(reward)
                self.ob = np.asarray(next_ob)
                done = terminated or truncated
                # Logs and evaluations come before a checkpoint of this step (so a resumed run has them once).
                if self.step % cfg.log_interval == 0:
                    now = time.perf_counter()  # the rate of the last interval (seed steps are much faster)
                    rate = (self.step - step_log) / max(now - t_log, 1e-9)
                    t_log, step_log = now, self.step
                    rec = {
                        "step": self.step,
                        "steps_per_s": rate,
                        "eta_s": (cfg.train_steps - self.step) / max(rate, 1e-9),
                        "recent_episode_return": float(np.mean(self.episode_returns[-10:]))
                        if self.episode_returns
                        else None,
                    }
                    if self.last_info is not None:
                        rec.update({k: float(v) for k, v in self.last_info.items()})
                    self._log(rec)
                    bar.set_postfix_str(
                        f"{rate:,.0f} steps/s, ETA {format_duration(rec['eta_s'])}, "
                        f"return(10 ep) {rec['recent_episode_return'] or 0:.1f}",
                        refresh=False,
                    )
                if self.step % cfg.eval_interval == 0:
                    ev = self.evaluate()
                    self.evals.append(ev)
                    self._log(ev)
                    bar.write(
                        f"step {self.step}: directional return {ev['return_mean']:.1f} +- {ev['return_std']:.1f} "
                        f"over {cfg.eval_episodes} episodes (deterministic actor)"
                    )
                if done:
                    self.episode_returns.append(ep_return)
                    ep_return = 0.0
                    now = time.perf_counter()
                    self.wall += now - t_last
                    t_last = now
                    due = self.step - last_ckpt >= cfg.checkpoint_interval or self.step >= cfg.train_steps
                    if due:
                        self._save()
                        last_ckpt = self.step
                        if self.step >= cfg.train_steps or (stop_after is not None and self.step >= stop_after):
                            break
                    self.ob = np.asarray(env.reset()[0])
                self._after_step()
                bar.update(1)
        finally:
            bar.close()
        if self.step >= cfg.train_steps and last_ckpt != self.step:
            self._save()  # the final state, mid-episode: complete, so it is never resumed
        return {"step": self.step, "evaluations": self.evals, "dir": str(self.dir)}

    def evaluate(self) -> dict:
        expert = Expert.from_arrays(actor_arrays(self.state["params"]), len(self.config.actor_hidden_dims))
        ev = evaluate_directional(expert, self.config, self.config.eval_episodes, seed=10_000 + self.config.seed)
        return {"step": self.step, "eval": True, **ev}
