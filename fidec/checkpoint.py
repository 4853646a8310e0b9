"""Checkpoints: the whole agent state (parameters, optimiser state, RNG, step), written atomically.

A checkpoint is only ever written from a state whose every floating-point leaf is finite (:func:`save`
refuses anything else), so the checkpoint in a run folder is always the last finite state; :func:`load`
checks again, for checkpoints written by older versions.
"""

from __future__ import annotations

import os
from pathlib import Path

import flax.serialization as ser
import jax
import numpy as np

from fidec.errors import FidecError, NonFiniteLossError
from fidec.io import CHECKPOINT_FILE, atomic_write_bytes

CHECKPOINT = CHECKPOINT_FILE


def nonfinite_leaves(tree) -> list[str]:
    """Paths (e.g. ``params/actor/Dense_0/kernel``) of the floating-point leaves of ``tree`` holding a NaN/inf."""
    out = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        a = np.asarray(leaf)
        if a.dtype.kind in "fc" and not np.isfinite(a).all():
            out.append("/".join(_key(k) for k in path))
    return out


def _key(k) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(k, attr):
            return str(getattr(k, attr))
    return str(k)


def save(run_dir: str | os.PathLike, state, meta: dict) -> Path:
    """Write ``state`` and ``meta`` to ``run_dir/checkpoint.msgpack`` atomically; a state with a non-finite leaf
    is refused (``NonFiniteLossError``) and the previous checkpoint stays."""
    path = Path(run_dir) / CHECKPOINT
    host = jax.tree_util.tree_map(np.asarray, state)
    bad = nonfinite_leaves(host)
    if bad:
        raise NonFiniteLossError(
            f"refusing to checkpoint a state with {len(bad)} non-finite leaves (first: {bad[0]}); "
            f"the checkpoint in {run_dir} is unchanged"
        )
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
        raise FidecError(f"cannot read checkpoint {path}: {' '.join(str(e).split())}") from e
    bad = nonfinite_leaves(state)
    if bad:
        raise NonFiniteLossError(
            f"checkpoint {path} holds non-finite values in {len(bad)} leaves (first: {bad[0]}), written by an "
            "older fidec; it cannot be evaluated or resumed: start a new run (e.g. with a lower --lr)"
        )
    return state, payload["meta"]


def read_meta(run_dir: str | os.PathLike) -> dict | None:
    """The checkpoint's ``meta`` (step, wall time, ...) without restoring the state, or None without one."""
    path = Path(run_dir) / CHECKPOINT
    if not path.exists():
        return None
    try:
        return ser.msgpack_restore(path.read_bytes())["meta"]
    except Exception:  # noqa: BLE001 - unreadable: treated as absent by the callers' messages
        return None


def exists(run_dir) -> bool:
    return (Path(run_dir) / CHECKPOINT).exists()
