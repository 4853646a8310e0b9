"""The task a run trains on (from :mod:`fidec.data.sources`), kept on the device and sampled there."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from fidec.data.sources import Task, load_task
from fidec.data.sources.ogbench import TRANSITION_KEYS, check_env, split_env_name

__all__ = ["TRANSITION_KEYS", "Task", "check_env", "load_task", "sample_batch", "split_env_name", "to_device"]


def to_device(data: dict) -> dict:
    """The transitions as device arrays (the whole dataset lives on the accelerator)."""
    return {k: jnp.asarray(v) for k, v in data.items()}


def sample_batch(data: dict, key: jax.Array, batch_size: int) -> dict:
    """A uniform minibatch drawn on the device (no host round trip)."""
    n = data["observations"].shape[0]
    idx = jax.random.randint(key, (batch_size,), 0, n)
    return {k: v[idx] for k, v in data.items()}
