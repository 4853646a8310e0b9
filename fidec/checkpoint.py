"""Checkpoints: the whole agent state (parameters, optimiser state, RNG, step), written atomically, with a checksum,
beside the previous one.

A checkpoint is only ever written from a state whose every floating-point leaf is finite (:func:`save`
refuses anything else), so the checkpoint in a run folder is always the last finite state; :func:`load`
checks again, for checkpoints written by older versions.

The file is self-verifying: :data:`~fidec.io.CHECKPOINT_MAGIC`, the sha256 of the payload, then the payload (flax
msgpack of ``{"state", "meta"}``), written in one atomic write, so a crash leaves the old file or the complete new
one. :func:`load` recomputes the sha256 and refuses a file whose bytes changed since (a flipped bit, a truncation)
in one line naming the file and what remains. A file without the header (written by an older fidec) loads as
before, unverified.

Before a new checkpoint replaces ``checkpoint.msgpack``, the one there becomes ``checkpoint.prev.msgpack`` (a hard
link where the filesystem allows it: no data is copied); the new file is read back and verified after the write.
So a damaged newest checkpoint leaves the previous one: :func:`promote_previous` makes it the newest again and
keeps the damaged file as ``checkpoint.damaged.msgpack``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import flax.serialization as ser
import jax
import numpy as np

from fidec.errors import FidecError, NonFiniteLossError
from fidec.io import CHECKPOINT_FILE, CHECKPOINT_HEADER_BYTES, CHECKPOINT_MAGIC, atomic_copy, atomic_open

CHECKPOINT = CHECKPOINT_FILE
#: the checkpoint before the newest (kept until the newest is written and verified)
PREVIOUS = "checkpoint.prev.msgpack"
#: where :func:`promote_previous` keeps a damaged newest checkpoint
DAMAGED = "checkpoint.damaged.msgpack"


class DamagedCheckpoint(FidecError):
    """A checkpoint file's bytes are not what was written (checksum mismatch, truncated, unreadable)."""


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


# ---------------------------------------------------------------------------------------------- the file
def read_payload(path: str | os.PathLike) -> dict:
    """``{"state": state dict, "meta": meta}`` of a checkpoint file, its checksum verified (a file written before
    checkpoints carried one is read unverified); :class:`DamagedCheckpoint` when its bytes are not what was
    written. ``path`` is the file or its run folder."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT
    raw = path.read_bytes()
    body = memoryview(raw)
    if raw.startswith(CHECKPOINT_MAGIC):
        body = body[CHECKPOINT_HEADER_BYTES:]
        if hashlib.sha256(body).digest() != raw[len(CHECKPOINT_MAGIC) : CHECKPOINT_HEADER_BYTES]:
            raise DamagedCheckpoint(
                f"checkpoint {path} is damaged: its contents no longer match the sha256 written with it "
                f"({len(raw)} bytes)"
            )
    try:
        payload = ser.msgpack_restore(body)
        if not isinstance(payload, dict) or "state" not in payload or "meta" not in payload:
            raise ValueError("not a fidec checkpoint")
    except Exception as e:  # noqa: BLE001 - truncated, empty or not a checkpoint at all
        raise DamagedCheckpoint(f"cannot read checkpoint {path}: {' '.join(str(e).split())[:160]}") from e
    return payload


def problem(path: str | os.PathLike) -> str | None:
    """Why the checkpoint file at ``path`` cannot be used (missing, damaged), or None when it verifies."""
    path = Path(path)
    if not path.is_file():
        return f"{path} does not exist"
    try:
        read_payload(path)
    except DamagedCheckpoint as e:
        return str(e)
    return None


def save(run_dir: str | os.PathLike, state, meta: dict) -> Path:
    """Write ``state`` and ``meta`` to ``run_dir/checkpoint.msgpack`` atomically, with the payload's sha256; the
    checkpoint there becomes ``checkpoint.prev.msgpack`` first. A state with a non-finite leaf is refused
    (``NonFiniteLossError``) and both checkpoints stay."""
    path = Path(run_dir) / CHECKPOINT
    host = jax.tree_util.tree_map(np.asarray, state)
    bad = nonfinite_leaves(host)
    if bad:
        raise NonFiniteLossError(
            f"refusing to checkpoint a state with {len(bad)} non-finite leaves (first: {bad[0]}); "
            f"the checkpoint in {run_dir} is unchanged"
        )
    payload = ser.msgpack_serialize({"state": ser.to_state_dict(host), "meta": meta})
    if path.exists():
        atomic_copy(path, path.with_name(PREVIOUS))  # kept until the new one is written and verified
    with atomic_open(path) as f:
        f.write(CHECKPOINT_MAGIC + hashlib.sha256(payload).digest())
        f.write(payload)
    why = problem(path)
    if why is not None:
        raise FidecError(
            f"the checkpoint just written does not read back intact ({why}); the storage under {run_dir} is "
            f"failing: check it; {fallback_advice(run_dir)}"
        )
    return path


def load(run_dir: str | os.PathLike, template, advice=None) -> tuple[object, dict]:
    """Restore a state with the structure of ``template``; returns (state, meta). A damaged file is a one-line
    ``FidecError`` saying what remains: ``advice()``, or :func:`fallback_advice` without one."""
    path = Path(run_dir) / CHECKPOINT
    if not path.exists():
        raise FidecError(f"no checkpoint in {run_dir}; start the run with 'fidec train' first")
    try:
        payload = read_payload(path)
    except DamagedCheckpoint as e:
        # a FidecError as every other failure to resume (sweeps record the class name beside the message)
        raise FidecError(f"{e}; {advice() if advice is not None else fallback_advice(run_dir)}") from e
    try:
        state = ser.from_state_dict(template, payload["state"])
    except Exception as e:  # from another configuration
        raise FidecError(f"cannot read checkpoint {path}: {' '.join(str(e).split())}") from e
    bad = nonfinite_leaves(state)
    if bad:
        raise NonFiniteLossError(
            f"checkpoint {path} holds non-finite values in {len(bad)} leaves (first: {bad[0]}), written by an "
            "older fidec; it cannot be evaluated or resumed: start a new run (e.g. with a lower --lr)"
        )
    return state, payload["meta"]


def read_meta(run_dir: str | os.PathLike) -> dict | None:
    """The checkpoint's ``meta`` (step, wall time, ...), verified, or None without a checkpoint; a damaged one is a
    one-line ``FidecError``."""
    path = Path(run_dir) / CHECKPOINT
    if not path.exists():
        return None
    try:
        return read_payload(path)["meta"]
    except DamagedCheckpoint as e:
        raise FidecError(f"{e}; {fallback_advice(run_dir)}") from e


def exists(run_dir) -> bool:
    return (Path(run_dir) / CHECKPOINT).exists()


# ---------------------------------------------------------------------------------------------- the previous one
def previous_exists(run_dir) -> bool:
    return (Path(run_dir) / PREVIOUS).exists()


def previous_meta(run_dir, check=None) -> tuple[dict | None, str | None]:
    """``(meta, None)`` of an intact previous checkpoint, or ``(None, why not)``. ``check(meta)`` may name a
    further reason it cannot be used (e.g. a damaged file it needs), or return None."""
    prev = Path(run_dir) / PREVIOUS
    if not prev.is_file():
        return None, "no previous checkpoint is kept"
    try:
        meta = read_payload(prev)["meta"]
    except DamagedCheckpoint as e:
        return None, f"the previous checkpoint is damaged too ({e})"
    why = check(meta) if check is not None else None
    if why:
        return None, f"the previous checkpoint {prev} cannot be used either ({why})"
    return meta, None


def fallback_advice(run_dir, way_back: str | None = None, check=None) -> str:
    """What remains when the newest checkpoint in ``run_dir`` cannot be used, and how to continue: the previous
    checkpoint, verified (``way_back`` says how to continue from it), or that none is left."""
    prev = Path(run_dir) / PREVIOUS
    meta, why = previous_meta(run_dir, check)
    if meta is None:
        return f"{why}: restore the file from a backup or start a new run (another --run-dir)"
    way_back = way_back or (
        f"move {Path(run_dir) / CHECKPOINT} aside and copy {prev.name} to {CHECKPOINT}, then continue the run"
    )
    return f"the previous checkpoint {prev} (step {meta.get('step')}) is intact: {way_back}"


def promote_previous(run_dir) -> tuple[dict, Path | None]:
    """Make the previous checkpoint the newest again: the newest (damaged, or missing) is kept as
    ``checkpoint.damaged.msgpack``; returns ``(the previous checkpoint's meta, where the damaged one is kept)``."""
    run_dir = Path(run_dir)
    meta, why = previous_meta(run_dir)
    if meta is None:
        raise FidecError(f"{run_dir}: {why}; restore the file from a backup or start a new run (another --run-dir)")
    path, kept = run_dir / CHECKPOINT, None
    if path.exists():
        kept = run_dir / DAMAGED
        os.replace(path, kept)
    atomic_copy(run_dir / PREVIOUS, path, link=False)  # a copy: damage to one file never reaches the other
    return meta, kept
