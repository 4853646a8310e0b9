"""The online replay buffer: the dataset (shared by the seeds) plus one ring of online transitions per seed.

FQL's ``ReplayBuffer.create_from_initial_dataset`` (``utils/datasets.py``) copies the N dataset transitions into
an array of capacity ``C = max(buffer_size, N + 1)`` and writes online transition ``t`` at slot ``(N + t) % C``:
after ``C - N`` online steps it overwrites the dataset from its start, later its own oldest transitions. A
uniform sample from it is a uniform sample over the dataset transitions not yet overwritten and the last
``min(m, C)`` online ones. fidec keeps that distribution without copying the dataset once per seed: the
dataset stays one device array, and each seed's online transitions live in a ring of ``min(C, online_steps)``
slots (transition ``t`` in slot ``t % ring``). With ``balanced_sampling`` (FQL's ``ReplayBuffer.create(size=
buffer_size)``) the ring holds ``min(buffer_size, online_steps)`` slots and half of each batch (``B // 2``)
comes from the dataset, half from the ring, dataset rows first as in FQL's ``np.concatenate``.

An update made after ``m`` online steps samples from the buffer as it was after the ``m``-th step, also inside a
compiled chunk whose transitions were all pushed first (``m`` is a scan input). Once a ring is full, an update
may draw a slot that a later step of its own chunk has already overwritten (FQL would draw the older transition):
with ``online_collect = 1`` this never happens.

Checkpoints hold only the online transitions: the dataset is reloaded from its verified file. Each checkpoint
writes the transitions collected since the previous one as one segment file (``online_buffer/seg_A_B.npz``,
transitions A..B-1 of every seed), atomically and once, and records its sha256 (the checkpoint is written after
the segment, so a crash between the two leaves a segment no checkpoint lists); a segment whose bytes changed
since is refused on resume. Segments that the ring has entirely overwritten are deleted once neither the newest
checkpoint nor the previous one lists them, and segments a killed writer left behind are ignored and removed.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from fidec.data.loading import TRANSITION_KEYS
from fidec.errors import FidecError
from fidec.io import atomic_write_bytes, sha256_bytes

SEGMENT_DIR = "online_buffer"
_SEGMENT = re.compile(r"seg_(\d+)_(\d+)\.npz")


def dataset_capacity(buffer_size: int, n_data: int) -> int:
    """FQL's capacity of the buffer that starts as the dataset: ``max(buffer_size, N + 1)``."""
    return max(buffer_size, n_data + 1)


def ring_size(config, n_data: int) -> int:
    """Slots of each seed's online ring: never more than the online steps, never more than the capacity."""
    cap = config.buffer_size if config.balanced_sampling else dataset_capacity(config.buffer_size, n_data)
    return max(1, min(cap, config.online_steps))


def buffer_counts(config, n_data: int, m) -> dict:
    """After ``m`` online steps: dataset transitions still sampled (``dataset``), online transitions held
    (``online``) and their sum (``size``, what a batch is drawn from; balanced: the two halves' sources)."""
    if config.balanced_sampling:
        held = min(m, config.buffer_size)
        return {"dataset": n_data, "online": held, "size": n_data + held}
    cap = dataset_capacity(config.buffer_size, n_data)
    overwritten = min(max(m - (cap - n_data), 0), n_data)
    held = min(m, cap)
    return {"dataset": n_data - overwritten, "online": held, "size": n_data - overwritten + held}


def ring_next_actions(buf: dict, ri, m, ring: int):
    """The action of the online transition after the one in slot ``ri`` (slot ``ri + 1``, cyclically); the newest
    transition (slot ``(m - 1) % ring``) its own: ReBRAC's ``next_actions`` for online rows (FQL's buffer takes its
    next row, clipped at the last one written)."""
    nxt = jnp.where(ri == (m - 1) % ring, ri, (ri + 1) % ring)
    return buf["actions"][nxt]


def make_sampler(config, n_data: int, ring: int):
    """``sample(data, ring_arrays, key, m) -> batch`` for one seed, jittable (``m`` may be traced). Where ``data``
    carries ``next_actions`` (ReBRAC) the batch does too: the dataset's for dataset rows, :func:`ring_next_actions`
    for online ones."""
    batch = config.batch_size
    if config.balanced_sampling:
        half = batch // 2
        cap = config.buffer_size

        def sample(data, buf, key, m):
            k_data, k_buf = jax.random.split(key)
            di = jax.random.randint(k_data, (half,), 0, n_data)
            ri = jax.random.randint(k_buf, (half,), 0, jnp.minimum(m, cap))
            out = {k: jnp.concatenate([data[k][di], buf[k][ri]]) for k in TRANSITION_KEYS}
            if "next_actions" in data:
                out["next_actions"] = jnp.concatenate([data["next_actions"][di], ring_next_actions(buf, ri, m, ring)])
            return out

        return sample
    cap = dataset_capacity(config.buffer_size, n_data)

    def sample(data, buf, key, m):
        overwritten = jnp.clip(m - (cap - n_data), 0, n_data)
        survivors = n_data - overwritten
        u = jax.random.randint(key, (batch,), 0, survivors + jnp.minimum(m, cap))
        from_data = u < survivors
        di = jnp.clip(overwritten + u, 0, n_data - 1)
        ri = jnp.clip(u - survivors, 0, ring - 1)
        out = {}
        for k in TRANSITION_KEYS:
            d, r = data[k][di], buf[k][ri]
            out[k] = jnp.where(from_data.reshape((-1,) + (1,) * (d.ndim - 1)), d, r)
        if "next_actions" in data:
            out["next_actions"] = jnp.where(
                from_data[:, None], data["next_actions"][di], ring_next_actions(buf, ri, m, ring)
            )
        return out

    return sample


def empty_ring(n_seeds: int, ring: int, example: dict) -> dict:
    """Zeroed device arrays (seeds, ring, ...) shaped like one dataset transition."""
    return {k: jnp.zeros((n_seeds, ring, *np.shape(example[k])[1:]), jnp.float32) for k in TRANSITION_KEYS}


@partial(jax.jit, donate_argnums=0)
def _push(buf: dict, new: dict, slots: jax.Array) -> dict:
    return {k: buf[k].at[:, slots].set(new[k]) for k in buf}


def push(buf: dict, new: dict, first: int, ring: int) -> dict:
    """Write transitions ``first, first + 1, ...`` (``new``: seeds x n arrays) into their ring slots."""
    n = len(next(iter(new.values()))[0])
    slots = jnp.asarray((first + np.arange(n)) % ring, jnp.int32)
    return _push(buf, {k: jnp.asarray(v) for k, v in new.items()}, slots)


# ---------------------------------------------------------------------------------------------- checkpoints
def segment_name(start: int, end: int) -> str:
    return f"seg_{start:010d}_{end:010d}.npz"


def write_segment(run_dir, start: int, end: int, rows: dict) -> tuple[str, str]:
    """Write transitions ``start..end-1`` of every seed (``rows``: seeds x (end - start) arrays) atomically;
    returns ``(file name, sha256 of its bytes)``."""
    name = segment_name(start, end)
    buf = io.BytesIO()
    # np.savez's layout with a fixed member time, so equal transitions make equal files (and equal sha256)
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for k, v in rows.items():
            with zf.open(zipfile.ZipInfo(f"{k}.npy", date_time=(1980, 1, 1, 0, 0, 0)), "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asarray(v, np.float32), allow_pickle=False)
    data = buf.getvalue()
    atomic_write_bytes(Path(run_dir) / SEGMENT_DIR / name, data)
    return name, sha256_bytes(data)


class DamagedSegment(FidecError):
    """An online buffer segment a checkpoint lists is missing, or its bytes are not those written."""


def segment_start(name: str) -> int:
    return _span(name)[0]


def read_segment(run_dir, name: str, sha256: str | None = None) -> dict:
    """The transitions of one segment (seeds x n arrays), its bytes checked against ``sha256`` (the one its
    checkpoint recorded; None for a checkpoint written before segments carried one)."""
    path = Path(run_dir) / SEGMENT_DIR / name
    if not path.exists():
        raise DamagedSegment(f"online buffer segment {path} is missing, so the run cannot continue exactly")
    data = path.read_bytes()
    if sha256 is not None and sha256_bytes(data) != sha256:
        raise DamagedSegment(
            f"online buffer segment {path} is damaged: its contents no longer match the sha256 its checkpoint "
            "recorded, so the run cannot continue exactly"
        )
    try:
        with np.load(io.BytesIO(data)) as z:
            return {k: z[k] for k in TRANSITION_KEYS}
    except Exception as e:  # noqa: BLE001 - an old segment (no sha256) that was truncated or overwritten
        raise DamagedSegment(f"cannot read online buffer segment {path}: {' '.join(str(e).split())[:120]}") from e


def segment_problem(run_dir, online: dict | None) -> str | None:
    """Why the segments an online state (a checkpoint's ``meta["online"]``) lists cannot be used, or None."""
    hashes = (online or {}).get("segment_sha256") or {}
    for name in (online or {}).get("segments") or []:
        try:
            read_segment(run_dir, name, hashes.get(name))
        except DamagedSegment as e:
            return str(e)
    return None


def needed_segments(segments: list[str], m: int, ring: int) -> list[str]:
    """The segments holding any of the last ``min(m, ring)`` transitions (the others were overwritten)."""
    keep_from = m - min(m, ring)
    return [s for s in segments if _span(s)[1] > keep_from]


def _span(name: str) -> tuple[int, int]:
    a, b = _SEGMENT.fullmatch(name).groups()
    return int(a), int(b)


def remove_unlisted(run_dir, keep) -> None:
    """Delete segment files the checkpoint does not list (overwritten ones, or left by a killed writer)."""
    d = Path(run_dir) / SEGMENT_DIR
    if not d.is_dir():
        return
    for p in d.iterdir():
        if _SEGMENT.fullmatch(p.name) and p.name not in keep:
            p.unlink(missing_ok=True)


def load_ring(
    run_dir, segments: list[str], m: int, ring: int, n_seeds: int, example: dict, hashes: dict | None = None
) -> dict:
    """The device rings after ``m`` online steps, rebuilt from the checkpoint's segments (each checked against its
    recorded sha256 in ``hashes``; :class:`DamagedSegment` otherwise)."""
    host = {k: np.zeros((n_seeds, ring, *np.shape(example[k])[1:]), np.float32) for k in TRANSITION_KEYS}
    for name in segments:
        z = read_segment(run_dir, name, (hashes or {}).get(name))
        start, end = _span(name)
        ts = np.arange(max(start, m - min(m, ring)), min(end, m))
        for k in TRANSITION_KEYS:
            host[k][:, ts % ring] = z[k][:, ts - start]
    return {k: jnp.asarray(v) for k, v in host.items()}


def segment_bytes(run_dir) -> int:
    d = Path(run_dir) / SEGMENT_DIR
    return sum(os.path.getsize(p) for p in d.iterdir()) if d.is_dir() else 0
