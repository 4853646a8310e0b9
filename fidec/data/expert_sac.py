"""``fidec data expert ant``: OGBench's ant locomotion expert, trained here with SAC in JAX.

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
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from fidec.console import format_duration, progress_bar
from fidec.errors import FidecError

EXPERT_FILE = "expert.npz"
LOG_FILE = "log.jsonl"
EXPERT_FORMAT = "fidec-sac-expert/1"
#: The experts fidec knows; only the ant one is implemented (see ``fidec data list`` for the others' cost).
EXPERTS = ("ant",)


@dataclass(frozen=True)
class SACConfig:
    """One source of the expert's settings; defaults are OGBench's ant expert."""

    #: commands.sh: ``--env_name=online-ant-xy-v0`` (online_env_utils.py: '-xy' -> GymXYWrapper).
    env_name: str = "online-ant-v0"
    #: online_env_utils.py: ``GymXYWrapper(env, resample_interval=100)`` for the ant.
    resample_interval: int = 100
    #: ogbench/online_locomotion/__init__.py registers online-ant-v0 with ``max_episode_steps=1000``.
    max_episode_steps: int = 1000
    #: commands.sh: ``--train_steps=400000``.
    train_steps: int = 400_000
    #: main_sac.py: ``seed_steps=10000`` (random actions before; updates once the buffer holds this many).
    seed_steps: int = 10_000
    #: main_sac.py: ``train_interval=1``, ``num_epochs=1`` (one update per environment step).
    train_interval: int = 1
    #: main_sac.py: ``ReplayBuffer.create(..., size=int(1e6))``.
    buffer_size: int = 1_000_000
    #: sac.py: ``batch_size=256``.
    batch_size: int = 256
    #: sac.py: ``lr=1e-4`` (one ``optax.adam`` over actor, critic and temperature).
    lr: float = 1e-4
    #: sac.py: ``actor_hidden_dims=(256, 256)``, ``value_hidden_dims=(256, 256)`` (GELU MLPs, networks.py).
    actor_hidden_dims: tuple = (256, 256)
    value_hidden_dims: tuple = (256, 256)
    #: sac.py: ``layer_norm=False`` (critic).
    layer_norm: bool = False
    #: sac.py: ``discount=0.99``, ``tau=0.005`` (target_update(): Polyak from the critic before the update).
    discount: float = 0.99
    tau: float = 0.005
    #: sac.py: ``target_entropy=None`` -> ``-target_entropy_multiplier * action_dim`` with multiplier 0.5.
    target_entropy_multiplier: float = 0.5
    #: sac.py: ``actor_fc_scale=0.01`` (init scale of the mean and log-std heads); networks.py GCActor:
    #: ``log_std_min=-5``, ``log_std_max=2``, ``state_dependent_std=True``, ``tanh_squash=True``.
    actor_fc_scale: float = 0.01
    log_std_min: float = -5.0
    log_std_max: float = 2.0
    #: sac.py: ``min_q=True`` (min over the 2 critics, networks.py ``ensemblize(..., 2)``).
    min_q: bool = True
    #: main_sac.py ``seed=0``.
    seed: int = 0
    #: commands.sh: ``--log_interval=5000``, ``--eval_interval=100000``.
    log_interval: int = 5000
    eval_interval: int = 100_000
    #: main_sac.py evaluates 50 episodes with ``eval_temperature=0``; fidec evaluates 10 (cost).
    eval_episodes: int = 10
    #: fidec: a checkpoint at the first episode end after every this many steps (and at the end).
    checkpoint_interval: int = 25_000

    def __post_init__(self):
        object.__setattr__(self, "actor_hidden_dims", tuple(int(x) for x in self.actor_hidden_dims))
        object.__setattr__(self, "value_hidden_dims", tuple(int(x) for x in self.value_hidden_dims))
        for name in ("train_steps", "seed_steps", "train_interval", "batch_size", "max_episode_steps"):
            if int(getattr(self, name)) < 1:
                raise FidecError(f"expert setting {name} must be at least 1, got {getattr(self, name)}")

    @property
    def buffer_rows(self) -> int:
        return int(min(self.buffer_size, self.train_steps))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["actor_hidden_dims"] = list(self.actor_hidden_dims)
        d["value_hidden_dims"] = list(self.value_hidden_dims)
        return d


def default_expert_dir(dataset_dir=None, name: str = "ant") -> Path:
    """Where ``fidec data expert NAME`` writes and ``fidec data generate`` looks: ``{dataset_dir}/experts/NAME``."""
    from fidec.paths import dataset_dir as resolve

    return resolve(dataset_dir) / "experts" / name


# ------------------------------------------------------------------------------------------- environment
def make_env(config: SACConfig):
    """OGBench's ``online-ant-v0`` in OGBench's ``GymXYWrapper`` (the '-xy' directional task)."""
    from fidec.data.recipes import quiet_imports

    quiet_imports()
    import gymnasium
    import ogbench.online_locomotion  # noqa: F401  (registers online-ant-v0)
    from ogbench.online_locomotion.wrappers import GymXYWrapper

    env = gymnasium.make(config.env_name, max_episode_steps=config.max_episode_steps)
    return GymXYWrapper(env, resample_interval=config.resample_interval)


# ------------------------------------------------------------------------------------------------ agent
def _networks(config: SACConfig, action_dim: int):
    import flax.linen as nn
    import jax.numpy as jnp

    from fidec.networks import INITIALIZERS, MLP

    glorot = INITIALIZERS["glorot"]  # networks.py default_init(): variance_scaling(1, 'fan_avg', 'uniform')

    class Actor(nn.Module):
        """networks.py GCActor: GELU MLP (activate_final=True), state-dependent log-std, tanh squash."""

        @nn.compact
        def __call__(self, obs):
            x = obs
            for i, width in enumerate(config.actor_hidden_dims):
                x = nn.gelu(nn.Dense(width, kernel_init=glorot, name=f"hidden_{i}")(x))
            head = nn.initializers.variance_scaling(config.actor_fc_scale, "fan_avg", "uniform")
            mean = nn.Dense(action_dim, kernel_init=head, name="mean")(x)
            log_std = nn.Dense(action_dim, kernel_init=head, name="log_std")(x)
            return mean, jnp.clip(log_std, config.log_std_min, config.log_std_max)

    class Critic(nn.Module):
        """networks.py GCValue with ensemble=True: two GELU MLPs of (obs, action)."""

        @nn.compact
        def __call__(self, obs, actions):
            ens = nn.vmap(
                MLP,
                variable_axes={"params": 0},
                split_rngs={"params": True},
                in_axes=None,
                out_axes=0,
                axis_size=2,
            )
            q = ens(hidden_dims=config.value_hidden_dims, out_dim=1, layer_norm=config.layer_norm)(
                jnp.concatenate([obs, actions], axis=-1)
            )
            return q[..., 0]

    return Actor(), Critic()


def _tanh_gaussian(mean, log_std, key):
    """A sample of tanh(N(mean, std)) and its log-density (distrax Tanh bijector's log-det, stable form)."""
    import jax
    import jax.numpy as jnp

    std = jnp.exp(log_std)
    eps = jax.random.normal(key, mean.shape)
    u = mean + std * eps
    logp_u = (-0.5 * eps**2 - log_std - 0.5 * jnp.log(2 * jnp.pi)).sum(-1)
    log_det = (2.0 * (jnp.log(2.0) - u - jax.nn.softplus(-2.0 * u))).sum(-1)
    return jnp.tanh(u), logp_u - log_det


class SAC:
    """The SAC agent of OGBench's ``impls/agents/sac.py`` as pure functions over a state dict."""

    def __init__(self, config: SACConfig, obs_dim: int, action_dim: int):
        import jax
        import optax

        self.config, self.obs_dim, self.action_dim = config, obs_dim, action_dim
        self.target_entropy = -config.target_entropy_multiplier * action_dim
        self.actor, self.critic = _networks(config, action_dim)
        self.tx = optax.adam(config.lr)
        self._step = jax.jit(self._update_and_act)
        self._act = jax.jit(self._sample_action)

    def init(self, seed: int) -> dict:
        import jax
        import jax.numpy as jnp

        rng, k_actor, k_critic = jax.random.split(jax.random.PRNGKey(seed), 3)
        obs = jnp.zeros((1, self.obs_dim))
        act = jnp.zeros((1, self.action_dim))
        critic = self.critic.init(k_critic, obs, act)["params"]
        params = {
            "actor": self.actor.init(k_actor, obs)["params"],
            "critic": critic,
            "log_alpha": jnp.zeros(()),  # networks.py LogParam(init_value=1.0)
        }
        return {
            "params": params,
            "target_critic": jax.tree_util.tree_map(jnp.array, critic),  # sac.py: target starts as the critic
            "opt_state": self.tx.init(params),
            "rng": rng,
        }

    # ------------------------------------------------------------------------------------------- losses
    def _loss(self, params, state, batch, key):
        import jax
        import jax.numpy as jnp

        cfg = self.config
        k_next, k_actor = jax.random.split(key)
        cur = jax.lax.stop_gradient(state["params"])
        alpha_const = jnp.exp(cur["log_alpha"])
        agg = (lambda q: jnp.min(q, axis=0)) if cfg.min_q else (lambda q: jnp.mean(q, axis=0))

        # Critic (sac.py critic_loss): soft TD target from the target critic and the current actor.
        next_mean, next_log_std = self.actor.apply({"params": cur["actor"]}, batch["next_observations"])
        next_a, next_logp = _tanh_gaussian(next_mean, next_log_std, k_next)
        next_q = agg(self.critic.apply({"params": state["target_critic"]}, batch["next_observations"], next_a))
        target = batch["rewards"] + cfg.discount * batch["masks"] * next_q
        target = target - cfg.discount * batch["masks"] * next_logp * alpha_const
        q = self.critic.apply({"params": params["critic"]}, batch["observations"], batch["actions"])
        critic_loss = jnp.square(q - target).mean()

        # Actor (sac.py actor_loss): reparameterised sample, Q from the current (fixed) critic.
        mean, log_std = self.actor.apply({"params": params["actor"]}, batch["observations"])
        a, logp = _tanh_gaussian(mean, log_std, k_actor)
        q_pi = agg(self.critic.apply({"params": cur["critic"]}, batch["observations"], a))
        actor_loss = (logp * alpha_const - q_pi).mean()

        # Temperature (sac.py): alpha * (entropy - target_entropy), entropy held fixed.
        entropy = -jax.lax.stop_gradient(logp).mean()
        alpha = jnp.exp(params["log_alpha"])
        alpha_loss = alpha * (entropy - self.target_entropy)

        info = {
            "critic_loss": critic_loss,
            "q_mean": q.mean(),
            "actor_loss": actor_loss,
            "alpha": alpha,
            "entropy": entropy,
        }
        return critic_loss + actor_loss + alpha_loss, info

    def _update_and_act(self, state, batch, next_obs):
        """One SAC update (sac.py ``update``) and an action for ``next_obs`` from the updated actor."""
        import jax
        import optax

        rng, k_update, k_act = jax.random.split(state["rng"], 3)
        grads, info = jax.grad(self._loss, has_aux=True)(state["params"], state, batch, k_update)
        updates, opt_state = self.tx.update(grads, state["opt_state"], state["params"])
        params = optax.apply_updates(state["params"], updates)
        # sac.py target_update() averages the critic *before* this update (``self.network.params``) into the target.
        tau = self.config.tau
        target = jax.tree_util.tree_map(
            lambda p, t: p * tau + t * (1 - tau), state["params"]["critic"], state["target_critic"]
        )
        new = {"params": params, "target_critic": target, "opt_state": opt_state, "rng": rng}
        return new, self._sample(params, next_obs, k_act), info

    def _sample(self, params, obs, key):
        import jax.numpy as jnp

        mean, log_std = self.actor.apply({"params": params["actor"]}, obs)
        a, _ = _tanh_gaussian(mean, log_std, key)
        return jnp.clip(a, -1, 1)  # sac.py sample_actions clips

    def _sample_action(self, state, obs):
        import jax

        rng, key = jax.random.split(state["rng"])
        return {**state, "rng": rng}, self._sample(state["params"], obs, key)

    def update_and_act(self, state, batch, next_obs):
        return self._step(state, batch, next_obs)

    def act(self, state, obs):
        return self._act(state, obs)


# ----------------------------------------------------------------------------------------- replay buffer
class ReplayBuffer:
    """Rows ``[0, size)`` of preallocated float32 arrays; uniform sampling from a seeded generator."""

    KEYS = ("observations", "actions", "rewards", "masks", "next_observations")

    def __init__(self, rows: int, obs_dim: int, action_dim: int, seed: int):
        dims = {"observations": obs_dim, "actions": action_dim, "next_observations": obs_dim}
        self.data = {k: np.zeros((rows, dims[k]) if k in dims else (rows,), np.float32) for k in self.KEYS}
        self.size = 0
        self.rng = np.random.default_rng(seed)

    def add(self, **row) -> None:
        if self.size >= len(self.data["rewards"]):
            raise FidecError("replay buffer full: train_steps exceeds the buffer rows")
        for k in self.KEYS:
            self.data[k][self.size] = row[k]
        self.size += 1

    def sample(self, n: int) -> dict:
        idx = self.rng.integers(0, self.size, size=n)  # main_sac.py: ReplayBuffer.sample, uniform
        return {k: v[idx] for k, v in self.data.items()}


# ------------------------------------------------------------------------------------------ actor export
def actor_arrays(params: dict) -> dict[str, np.ndarray]:
    """The actor's parameters as flat float32 arrays: 'hidden_0/kernel', ..., 'mean/bias', 'log_std/bias'."""
    out = {}
    for layer, p in params["actor"].items():
        for name, v in p.items():
            out[f"{layer}/{name}"] = np.asarray(v, np.float32)
    return out


@dataclass
class Expert:
    """The deterministic expert (``eval_temperature=0``: ``tanh(mean)``) in NumPy, for data collection."""

    layers: list  # [(kernel, bias), ...] hidden layers
    mean: tuple
    meta: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Expert:
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except Exception as e:  # noqa: BLE001 - any unreadable file gets the same remedy
            raise FidecError(
                f"cannot read the expert {path}: {' '.join(str(e).split())}; retrain it with 'fidec data expert ant'"
            ) from None
        meta = json.loads(str(arrays.pop("meta")))
        if meta.get("format") != EXPERT_FORMAT:
            raise FidecError(f"{path} is not a fidec expert (format {meta.get('format')!r}, expected {EXPERT_FORMAT})")
        return cls.from_arrays(arrays, len(meta["config"]["actor_hidden_dims"]), meta)

    @classmethod
    def from_arrays(cls, arrays: dict, n_hidden: int, meta: dict | None = None) -> Expert:
        layers = [(arrays[f"hidden_{i}/kernel"], arrays[f"hidden_{i}/bias"]) for i in range(n_hidden)]
        return cls(layers, (arrays["mean/kernel"], arrays["mean/bias"]), meta or {})

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        x = np.asarray(obs, np.float32)
        for w, b in self.layers:
            x = _gelu(x @ w + b)
        return np.clip(np.tanh(x @ self.mean[0] + self.mean[1]), -1, 1)


def _gelu(x):
    """flax ``nn.gelu`` (approximate=True)."""
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))


def write_expert(path: Path, params: dict, config: SACConfig, step: int, evals: list) -> None:
    import io

    from fidec.io import atomic_write_bytes

    meta = {
        "format": EXPERT_FORMAT,
        "config": config.to_dict(),
        "step": int(step),
        "finished": int(step) >= config.train_steps,
        "evaluations": evals,
    }
    buf = io.BytesIO()
    np.savez(buf, meta=np.array(json.dumps(meta)), **actor_arrays(params))
    atomic_write_bytes(path, buf.getvalue())


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
    from fidec.data.recipes import quiet_imports

    quiet_imports()
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
        from fidec import checkpoint

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

        from fidec import checkpoint

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
            from fidec.io import atomic_write_text

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
        from fidec import checkpoint

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
