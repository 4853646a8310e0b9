"""The small Python API beside the CLI.

import fidec.api as fd

cfg = fd.make_config(agent="fd", env="cube-single-play-singletask-task2-v0", preset="cpu", steps=20_000)
policy = fd.train(cfg, run_dir="runs/my-fd")        # trains (or use fd.resume("runs/my-fd"))
# offline to online: fd.make_config(..., steps=20_000, online_steps=20_000[, balanced_sampling=True])
env = fd.make_env(cfg.env)                            # the task's OGBench environment
observation, info = env.reset(seed=0)
action = policy.act(observation)                      # numpy in, numpy out
policy.save("my-fd.policy")                           # one portable file: config + parameters
policy = fd.load("my-fd.policy")                      # or fd.load("runs/my-fd") for a run's checkpoint
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import flax.serialization as ser
import jax
import numpy as np

from fidec.agents import Agent, AgentState, make_agent
from fidec.config import Config, resolve
from fidec.console import quiet_warnings
from fidec.data.loading import check_env
from fidec.errors import FidecError
from fidec.io import atomic_write_bytes
from fidec.train import Trainer, seed_slice


def make_config(**overrides) -> Config:
    """A validated Config: published defaults, then the preset (``paper`` by default), then ``overrides``."""
    return resolve(overrides)


def make_env(task: str, **kwargs):
    """The OGBench environment of a singletask task (e.g. ``cube-single-play-singletask-task2-v0``), as fidec
    evaluates in it: ``ogbench.make_env_and_datasets(task, env_only=True)``. Plain ``gymnasium.make(task)``
    does not know these names (OGBench registers ``cube-single-singletask-task2-v0``, without the dataset
    type). ``kwargs`` go to the environment, e.g. ``render_mode="rgb_array"``."""
    check_env(task)
    quiet_warnings()
    import ogbench  # after quiet_warnings; and MuJoCo (under OGBench) fixes its GL backend when first imported

    return ogbench.make_env_and_datasets(task, env_only=True, **kwargs)


def create_agent(
    config: Config, obs_dim: int | tuple[int, ...], action_dim: int, seed: int = 0
) -> tuple[Agent, AgentState]:
    """An agent and its freshly initialised state, for custom training loops (``obs_dim``: an int, or the image
    shape (H, W, 3K) of frame-stacked pixels with ``config.encoder`` set)."""
    agent = make_agent(config, obs_dim, action_dim)
    return agent, agent.init(jax.random.PRNGKey(seed))


class Policy:
    """A trained agent's acting side: ``act(observation)`` with its own random stream."""

    def __init__(self, agent: Agent, params: dict, seed: int = 0):
        self.agent = agent
        self.config = agent.config
        self.params = params
        self._key = jax.random.PRNGKey(seed)
        self._act = jax.jit(agent.act)

    def act(self, observation) -> np.ndarray:
        """An action in [-1, 1]^d for one observation (or a batch of them). Pixel policies take uint8 images of
        the training frame stack (H, W, 3K), as ``fidec.data.frames.FrameStackEnv`` gives them."""
        self._key, k = jax.random.split(self._key)
        return np.asarray(self._act(self.params, np.asarray(observation), k))

    def save(self, path: str | os.PathLike) -> Path:
        payload = {
            "config": json.dumps(self.config.to_dict()),
            "dims": [
                self.agent.obs_dim if len(self.agent.obs_shape) == 1 else list(self.agent.obs_shape),
                self.agent.action_dim,
            ],
            "params": ser.to_state_dict(jax.tree_util.tree_map(np.asarray, self.params)),
        }
        atomic_write_bytes(path, ser.msgpack_serialize(payload))
        return Path(path)


def train(
    config: Config | None = None, run_dir: str | os.PathLike = "runs/api", progress: bool = True, **overrides
) -> Policy:
    """Train a fresh run into ``run_dir`` and return the first seed's policy."""
    config = config or make_config(**overrides)
    trainer = Trainer.create(config, run_dir, progress=progress)
    trainer.run()
    return _policy_from_trainer(trainer, 0)


def resume(
    run_dir: str | os.PathLike,
    steps: int | None = None,
    progress: bool = True,
    online_steps: int | None = None,
    accept_changed_data: bool = False,
) -> Policy:
    """Continue a run exactly where its checkpoint left it; ``steps``/``online_steps`` extend it. Data that changed
    since the run began is refused unless ``accept_changed_data`` (then the change is recorded in config.json)."""
    trainer = Trainer.resume(
        run_dir, steps=steps, progress=progress, online_steps=online_steps, accept_changed_data=accept_changed_data
    )
    trainer.run()
    return _policy_from_trainer(trainer, 0)


def _policy_from_trainer(trainer, index: int) -> Policy:
    return Policy(trainer.agent, seed_slice(trainer.states.params, index), seed=trainer.member_seeds[index])


def load(path: str | os.PathLike, seed_index: int = 0) -> Policy:
    """A policy from a file written by ``Policy.save`` or from a run folder's latest checkpoint."""
    path = Path(path)
    if path.is_dir():
        trainer = Trainer.resume(path, progress=False, read_only=True)
        if not 0 <= seed_index < len(trainer.member_seeds):
            raise FidecError(
                f"{path} holds members {trainer.member_labels} (seeds, with their target divergence in a "
                f"--target-divergences run); seed_index {seed_index} is out of range"
            )
        return _policy_from_trainer(trainer, seed_index)
    if not path.exists():
        raise FidecError(f"no policy file or run folder at {path}")
    payload = ser.msgpack_restore(path.read_bytes())
    config = Config.from_dict(json.loads(payload["config"]))
    obs, action_dim = payload["dims"]
    obs_dim = tuple(int(x) for x in obs) if isinstance(obs, (list, tuple)) else int(obs)
    action_dim = int(action_dim)
    agent, state = create_agent(config, obs_dim, action_dim)
    params = ser.from_state_dict(state.params, payload["params"])
    return Policy(agent, params, seed=config.seed)
