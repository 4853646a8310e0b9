"""The task a run trains on (from :mod:`fidec.data.sources`), kept on the device and sampled there."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from fidec.data.sources import Task, load_task
from fidec.data.sources.ogbench import TRANSITION_KEYS, check_env, split_env_name

__all__ = [
    "TRANSITION_KEYS",
    "Task",
    "check_env",
    "load_task",
    "next_row_actions",
    "sample_batch",
    "split_env_name",
    "to_device",
    "with_next_actions",
]


def next_row_actions(actions):
    """Each row's next row's action, the last row its own: FQL's ``return_next_actions``
    (``utils/datasets.py``: ``actions[min(i + 1, size - 1)]``). At an episode's end that is the next episode's first
    action, as there (a terminal row's mask makes it irrelevant; a time-limit row keeps it)."""
    return actions[np.minimum(np.arange(len(actions)) + 1, len(actions) - 1)]


def with_next_actions(data):
    """The transitions (a dict, or pixel :class:`~fidec.data.frames.FrameData`) with ``next_actions`` (ReBRAC's
    critic penalty reads it)."""
    if isinstance(data, dict):
        return {**data, "next_actions": next_row_actions(np.asarray(data["actions"]))}
    return data.with_next_actions(next_row_actions(np.asarray(data.actions)))


def to_device(data: dict) -> dict:
    """The transitions as device arrays (the whole dataset lives on the accelerator)."""
    return {k: jnp.asarray(v) for k, v in data.items()}


def sample_batch(data: dict, key: jax.Array, batch_size: int) -> dict:
    """A uniform minibatch drawn on the device (no host round trip)."""
    n = data["observations"].shape[0]
    idx = jax.random.randint(key, (batch_size,), 0, n)
    return {k: v[idx] for k, v in data.items()}
