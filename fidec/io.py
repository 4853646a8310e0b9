"""Files written so that a reader never sees half of one: atomic writes, JSON, directory fsync, hashing.

Every writer in fidec (run folders, checkpoints, dataset sidecars, reports) goes through
:func:`atomic_write_bytes`: the data goes to a temporary file beside the target (``.{name}.{random}.tmp``),
is flushed to disk, then replaces the target in one ``os.replace``. A writer killed mid-write leaves only
such a temporary, which :func:`remove_stale_temporaries` recognises and removes.

A write that the filesystem refuses (full: ENOSPC/EDQUOT; read-only or not permitted: EROFS/EACCES/EPERM) becomes
one :class:`~fidec.errors.StorageError` line, here and only here (:func:`storage_errors`, used by the atomic
writer, the run folder's lock and the metric appends): it names the path, what is kept and what to do.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import secrets
import shutil
from pathlib import Path

from fidec.errors import StorageError

TMP_SUFFIX = ".tmp"
#: the checkpoint file of a run folder (fidec.checkpoint's), named here for the "what is kept" of a failed write
CHECKPOINT_FILE = "checkpoint.msgpack"
#: the first bytes of a checkpoint file with a checksum: this magic, then the payload's sha256 (32 bytes), then the
#: payload (flax msgpack); a file without them is one written before checkpoints carried a checksum (the payload alone)
CHECKPOINT_MAGIC = b"FIDECCK2"
CHECKPOINT_HEADER_BYTES = len(CHECKPOINT_MAGIC) + 32
_FULL = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded"}
_NOT_WRITABLE = {
    errno.EROFS: "the filesystem is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}


def _checkpoint_step(path: Path) -> int | None:
    """The step a checkpoint file records, read without restoring it (None when unreadable)."""
    try:
        import msgpack  # flax's serialisation format; loaded only here, on a failed write

        raw = path.read_bytes()
        if raw.startswith(CHECKPOINT_MAGIC):
            raw = raw[CHECKPOINT_HEADER_BYTES:]
        meta = msgpack.unpackb(raw, strict_map_key=False).get("meta", {})
        return int(meta["step"])
    except Exception:  # noqa: BLE001 - best effort: the message then names the file without its step
        return None


def _run_folder(path: Path) -> Path | None:
    """The run folder holding a checkpoint that ``path`` is in (or is): itself, its folder or the folder above
    (a target-divergence sub-run's group), or None."""
    for d in (path, path.parent, path.parent.parent):
        if (d / CHECKPOINT_FILE).is_file():
            return d
    return None


def storage_error(exc: OSError, path: str | os.PathLike, remedy: str | None = None) -> StorageError | None:
    """The one-line error for ``exc`` met writing ``path`` when the filesystem is full or not writable, else None.

    It names the path, what is kept (the run folder's last checkpoint and its step, where there is one: an atomic
    write leaves every file already written as it was) and what to do: free space, or make the folder writable
    or move it, then ``fidec train --resume``; ``remedy`` replaces that advice (e.g. another output folder).
    """
    code = getattr(exc, "errno", None)
    if code not in _FULL and code not in _NOT_WRITABLE:
        return None
    path = Path(path)
    run = _run_folder(path)
    if run is not None:
        step = _checkpoint_step(run / CHECKPOINT_FILE)
        at = f" at step {step}" if step is not None else ""
        kept = f"the checkpoint{at} in {run} and every file written before are kept"
        resume = f", then continue with 'fidec train --resume {run}'"
    else:
        kept = "every file written before is kept"
        resume = " and run the command again"
    if code in _FULL:
        why = _FULL[code]
        todo = remedy or f"free space on that filesystem{resume}"
    else:
        why = _NOT_WRITABLE[code]
        if run is not None:
            move = f"make {run} writable, or copy it to a writable place, then continue with 'fidec train --resume'"
            todo = remedy or f"{move} on it"
        else:
            todo = remedy or f"make {path.parent} writable or choose a writable folder, and run the command again"
    return StorageError(f"cannot write {path}: {why} ({errno.errorcode[code]}); {kept}; {todo}")


@contextlib.contextmanager
def storage_errors(path: str | os.PathLike, remedy: str | None = None):
    """Writes to ``path`` inside this block: a full or read-only filesystem raises :func:`storage_error`'s one
    line instead of an ``OSError`` (other errors pass unchanged)."""
    try:
        yield
    except OSError as e:
        err = storage_error(e, path, remedy)
        if err is None:
            raise
        raise err from e


def _temp_name(path: Path) -> Path:
    """A fresh temporary name beside ``path``: ``.{name}.{random}.tmp`` (what :func:`remove_stale_temporaries`
    removes)."""
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}{TMP_SUFFIX}")


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, remedy: str | None = None):
    """A binary file to write ``path`` through: readers see either the old file or the complete new one.

    The data goes to a temporary name beside ``path``; on a clean exit it is flushed to disk and renamed over
    ``path``; on an exception the temporary is removed and ``path`` is untouched. The file gets the mode a
    plain ``open(path, 'w')`` would give (0666 less the umask), so results in a shared folder stay readable by
    others where the umask allows it. A full or read-only filesystem is a one-line
    :class:`~fidec.errors.StorageError` (:func:`storage_error`; ``remedy`` is its advice), ``path`` untouched.
    """
    path = Path(path)
    tmp = _temp_name(path)
    with storage_errors(path, remedy):
        path.parent.mkdir(parents=True, exist_ok=True)
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


def atomic_copy(src: str | os.PathLike, dst: str | os.PathLike, link: bool = True) -> None:
    """Make ``dst`` a copy of ``src`` atomically: readers see the old ``dst`` or the complete copy. ``link``: a hard
    link where the filesystem allows one (no data written; later atomic writes to ``src`` replace its name, not
    the data ``dst`` holds), else a copied file (written by :func:`atomic_open`)."""
    src, dst = Path(src), Path(dst)
    if link:
        tmp = _temp_name(dst)
        with storage_errors(dst):
            try:
                os.link(src, tmp)
            except OSError:
                pass  # no hard links here: copy below
            else:
                try:
                    os.replace(tmp, dst)
                    return
                except BaseException:
                    if os.path.exists(tmp):
                        os.unlink(tmp)
                    raise
    with atomic_open(dst) as fo, open(src, "rb") as fi:
        shutil.copyfileobj(fi, fo, 1 << 22)


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


def sha256_bytes(data) -> str:
    """The sha256 of ``data`` (bytes or any buffer), as hex."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike, block: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()
