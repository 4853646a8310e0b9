"""Checkpoints: the whole agent state (parameters, optimiser state, RNG, step), written atomically."""

from __future__ import annotations

import os
from pathlib import Path

import flax.serialization as ser
import jax
import numpy as np

from fidec.errors import FidecError
from fidec.runs import atomic_write_bytes

CHECKPOINT = "checkpoint.msgpack"


def save(run_dir: str | os.PathLike, state, meta: dict) -> Path:
    path = Path(run_dir) / CHECKPOINT
    host = jax.tree_util.tree_map(np.asarray, state)
    payload = {"state": ser.to_state_dict(host), "meta": meta}
    atomic_write_bytes(path, ser.msgpack_serialize(payload))
    return path


def load(run_dir: str | os.PathLike, template) -> tuple[object, dict]:
    """Restore a state with the structure of ``template``; returns (state, meta)."""
    path = Path(run_dir) / CHECKPOINT
    if not path.exists():
        raise FidecError(f"no checkpoint in {run_dir}; start the run with 'fidec train' first")
    try:
        payload = ser.msgpack_restore(path.read_bytes())
        state = ser.from_state_dict(template, payload["state"])
    except Exception as e:  # corrupted or from another configuration
        raise FidecError(f"cannot read checkpoint {path}: {e}") from e
    return state, payload["meta"]


def exists(run_dir) -> bool:
    return (Path(run_dir) / CHECKPOINT).exists()
