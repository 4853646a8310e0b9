"""OGBench's SAC agent for the ant locomotion expert, in JAX, and the replay buffer its online loop samples.

Every setting is OGBench's (``impls/agents/sac.py``, ``main_sac.py``, ``data_gen_scripts/commands.sh``), cited in
:class:`SACConfig`. The agent makes one Adam step on the sum of the critic, actor and temperature losses; each
environment step is one call of one compiled function that runs the update and samples the next action.

The replay buffer here is not :mod:`fidec.online.buffer`: this one is a NumPy array of rows for one environment,
filled once and never wrapped (``main_sac.py``'s buffer), sampled by one seeded NumPy generator and saved whole
in the expert's checkpoint; the online buffer is a per-seed ring on the accelerator, sampled inside compiled
training chunks and checkpointed in segments. Sharing one would change either the expert's results (its
sampling stream) or the online phase's compiled layout.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from fidec.console import quiet_warnings
from fidec.data.expert import EXPERT_FORMAT
from fidec.errors import FidecError
from fidec.io import atomic_write_bytes
from fidec.networks import INITIALIZERS, MLP


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


# ------------------------------------------------------------------------------------------- environment
def make_env(config: SACConfig):
    """OGBench's ``online-ant-v0`` in OGBench's ``GymXYWrapper`` (the '-xy' directional task)."""
    quiet_warnings()
    import gymnasium
    import ogbench.online_locomotion  # noqa: F401  (registers online-ant-v0)
    from ogbench.online_locomotion.wrappers import GymXYWrapper

    env = gymnasium.make(config.env_name, max_episode_steps=config.max_episode_steps)
    return GymXYWrapper(env, resample_interval=config.resample_interval)


# ------------------------------------------------------------------------------------------------ agent
def _networks(config: SACConfig, action_dim: int):
    import flax.linen as nn
    import jax.numpy as jnp

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


def write_expert(path: Path, params: dict, config: SACConfig, step: int, evals: list) -> None:
    import io

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
