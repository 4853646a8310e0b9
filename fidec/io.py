"""Files written so that a reader never sees half of one: atomic writes, JSON, directory fsync, hashing.

Every writer in fidec (run folders, checkpoints, dataset sidecars, reports) goes through
:func:`atomic_write_bytes`: the data goes to a temporary file beside the target (``.{name}.{random}.tmp``),
is flushed to disk, then replaces the target in one ``os.replace``. A writer killed mid-write leaves only
such a temporary, which :func:`remove_stale_temporaries` recognises and removes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
from pathlib import Path

TMP_SUFFIX = ".tmp"


def _temp_name(path: Path) -> Path:
    """A fresh temporary name beside ``path``: ``.{name}.{random}.tmp`` (what :func:`remove_stale_temporaries`
    removes)."""
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}{TMP_SUFFIX}")


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike):
    """A binary file to write ``path`` through: readers see either the old file or the complete new one.

    The data goes to a temporary name beside ``path``; on a clean exit it is flushed to disk and renamed over
    ``path``; on an exception the temporary is removed and ``path`` is untouched. The file gets the mode a
    plain ``open(path, 'w')`` would give (0666 less the umask), so results in a shared folder stay readable by
    others where the umask allows it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the OS applies the umask
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path) as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def _jsonable(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return str(x)


def write_json(path: str | os.PathLike, obj) -> None:
    """``obj`` as indented, key-sorted JSON, written atomically (NumPy scalars become floats)."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_jsonable) + "\n")


def read_json(path: str | os.PathLike) -> dict | None:
    """The JSON object at ``path``, or None when it is absent, unreadable or not an object."""
    try:
        with open(path) as f:
            obj = json.load(f)
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files of atomic writes that a killed writer left in ``folder`` (e.g.
    ``.checkpoint.msgpack.3f9a1c0b2d4e.tmp``, as large as a checkpoint). Only safe while no other writer can
    be mid-write (a run folder's :class:`~fidec.runs.RunLock`, a dataset's generation lock); returns what was
    removed."""
    removed = []
    for p in Path(folder).glob(f".*{TMP_SUFFIX}"):
        if p.is_file():
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def fsync_dir(path: str | os.PathLike) -> None:
    """Make a rename inside ``path`` durable (best effort: not every filesystem allows it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def sha256_file(path: str | os.PathLike, block: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()
