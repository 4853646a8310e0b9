"""Run folders: one writer per folder, metric logs (JSONL + CSV, appended; every record carries its ``step``),
summaries.

Layout of a run folder::

    config.json        resolved configuration (+ versions, reward timing)
    metrics.jsonl      every record: {"kind": "train"|"eval", "step": ..., "seed": ..., ...} (appended)
    train.csv          train records (loss terms, alpha, Fisher statistics, updates/s, wall time), a view of the jsonl
    eval.csv           eval records (success rate, returns), a view of the jsonl
    checkpoint.msgpack latest state (written atomically, with its sha256; never one with a NaN/inf)
    checkpoint.prev.msgpack the one before it (the way back when the newest is damaged)
    .fidec.lock        held (flock) by the one process writing the folder
    summary.json       final/best success and the paper-protocol score per seed
    learning_curve.png
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path

from fidec.errors import FidecError, RunFolderBusy
from fidec.io import atomic_write_text, storage_errors

LOCK_FILE = ".fidec.lock"


class RunLock:
    """One writer per run folder: an exclusive ``flock`` on ``{run_dir}/.fidec.lock``.

    The operating system releases the lock when its holder exits, however it exits (SIGKILL included), so a
    killed run never leaves its folder locked. A second writer (``fidec train``, ``train --resume``, a sweep
    job) fails at once with a one-line :class:`~fidec.errors.RunFolderBusy`; readers (``fidec evaluate``,
    ``api.load``) take no lock. The lock file holds the holder's pid, for the message only.
    """

    def __init__(self, run_dir: str | os.PathLike):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        if self.run_dir.exists() and not self.run_dir.is_dir():
            raise FidecError(f"run folder {self.run_dir} is a file; choose another --run-dir")
        with storage_errors(self.path):  # a full or read-only folder: one line
            self.run_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            import fcntl  # POSIX only: an optional module of the standard library
        except ImportError:  # not POSIX: no lock
            self._fd = fd
            return self
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RunFolderBusy(
                f"run folder {self.run_dir} is being written by another fidec process (pid {holder}); wait for "
                "it to finish or stop it, or choose another --run-dir ('fidec evaluate' may read it meanwhile)"
            ) from None
        try:
            with storage_errors(self.path):
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def remove_if_alone(self) -> None:
        """Remove the lock file and the run folder if nothing else is in it (a run that never started)."""
        try:
            if {c.name for c in self.run_dir.iterdir()} <= {LOCK_FILE}:
                self.path.unlink(missing_ok=True)
                self.run_dir.rmdir()
        except OSError:
            pass

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    def __del__(self):
        self.release()


def _clean(v):
    v = float(v) if hasattr(v, "__float__") and not isinstance(v, (bool, int, str)) else v
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v


class MetricsLog:
    """Append-only metric files of one run folder, truncatable to a step (for exact resume).

    ``metrics.jsonl`` is the record of truth. :meth:`append` adds its records' lines at the end of the file in one
    write, flushed to disk, so an append costs the size of its records, not of the run. A writer killed mid-append
    may leave a last line without its newline: :meth:`records` skips it, and the next :meth:`append` or
    :meth:`truncate_after` (resume) cuts it off, so a torn append reads as one that never happened.

    ``train.csv`` and ``eval.csv`` are views of it, one row per record of their kind, under a header of every column
    their records have (``step``, ``seed``, then the others sorted). An append adds rows under the file's header;
    when a record brings a column the header lacks (a run's first records of a kind, the online phase's first), or
    the CSV is missing or ends in a torn row, that CSV is rewritten whole and atomically from ``metrics.jsonl``, so
    its header always names every column. :meth:`truncate_after` rewrites all three files atomically.
    """

    def __init__(self, run_dir: str | os.PathLike):
        self.dir = Path(run_dir)
        self.jsonl = self.dir / "metrics.jsonl"

    def records(self, kind: str | None = None) -> list[dict]:
        if not self.jsonl.exists():
            return []
        out = []
        # the last piece is empty when the file ends with a newline, else a torn line of a killed writer: skipped
        for line in self.jsonl.read_text().split("\n")[:-1]:
            if line.strip():
                rec = json.loads(line)
                if kind is None or rec.get("kind") == kind:
                    out.append(rec)
        return out

    def append(self, records: list[dict]) -> None:
        """Add ``records`` (a full or read-only folder: a one-line :class:`~fidec.errors.StorageError`; a torn
        append it leaves reads as one that never happened)."""
        with storage_errors(self.jsonl):
            self._append(records)

    def _append(self, records: list[dict]) -> None:
        records = [{k: _clean(v) for k, v in r.items()} for r in records]
        self.dir.mkdir(parents=True, exist_ok=True)
        _cut_torn_line(self.jsonl)
        with open(self.jsonl, "a") as f:
            f.write("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
            f.flush()
            os.fsync(f.fileno())
        everything = None
        for kind in ("train", "eval"):
            rows = [r for r in records if r.get("kind") == kind]
            path = self.dir / f"{kind}.csv"
            header = _csv_header(path)
            if header is None or not set(_columns(rows)) <= set(header):
                if everything is None:
                    everything = self.records()
                _write_csv(path, [r for r in everything if r.get("kind") == kind])
            elif rows:
                buf = io.StringIO()
                csv.DictWriter(buf, fieldnames=header, extrasaction="ignore").writerows(rows)
                with open(path, "a", newline="") as f:
                    f.write(buf.getvalue())
                    f.flush()
                    os.fsync(f.fileno())

    def truncate_after(self, step: int) -> None:
        """Drop every record with ``step`` > ``step`` (records made after the checkpoint being resumed)."""
        self._write([r for r in self.records() if r["step"] <= step])

    def _write(self, records: list[dict]) -> None:
        atomic_write_text(self.jsonl, "".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
        for kind in ("train", "eval"):
            _write_csv(self.dir / f"{kind}.csv", [r for r in records if r.get("kind") == kind])


def _columns(rows: list[dict]) -> list[str]:
    """The CSV columns of ``rows``: ``step`` and ``seed`` first, then every other field but ``kind``, sorted."""
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols and k != "kind"]
    first = [c for c in ("step", "seed") if c in cols]
    return first + sorted(c for c in cols if c not in first)


def _write_csv(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=_columns(rows), extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def _csv_header(path: Path) -> list[str] | None:
    """The columns a CSV's header names, or None when the file is missing or its last row is torn."""
    try:
        with open(path, "rb") as f:
            first = f.readline()
            end = f.seek(0, os.SEEK_END)
            f.seek(max(end - 1, 0))
            if f.read(1) != b"\n":
                return None
    except FileNotFoundError:
        return None
    return next(csv.reader([first.decode()]), [])


def _cut_torn_line(path: Path) -> None:
    """Cut a last line without its newline (a killed writer's torn append) off ``path``."""
    try:
        f = open(path, "rb+")
    except FileNotFoundError:
        return
    with f:
        end = f.seek(0, os.SEEK_END)
        if end == 0:
            return
        f.seek(end - 1)
        if f.read(1) == b"\n":
            return
        f.seek(0)
        f.truncate(f.read().rfind(b"\n") + 1)


def paper_score(successes: list[float]) -> float | None:
    """The paper's protocol: mean of the last three evaluations (800k, 900k, 1M steps at full budget)."""
    if not successes:
        return None
    tail = successes[-3:]
    return sum(tail) / len(tail)


def summarize(run_dir: str | os.PathLike) -> dict:
    """Per-seed final/best success and paper-protocol score, from the run's eval records."""
    log = MetricsLog(run_dir)
    evals = log.records("eval")
    train = log.records("train")
    per_seed = {}
    for seed in sorted({r["seed"] for r in evals}):
        rows = sorted((r for r in evals if r["seed"] == seed), key=lambda r: r["step"])
        succ = [r["success"] for r in rows]
        per_seed[str(seed)] = {
            "final_success": succ[-1],
            "best_success": max(succ),
            "score": paper_score(succ),
            "eval_steps": [r["step"] for r in rows],
        }
    scores = [v["score"] for v in per_seed.values()]
    ups = [r["updates_per_s"] for r in train if isinstance(r.get("updates_per_s"), (int, float))]
    return {
        "per_seed": per_seed,
        "score_mean": sum(scores) / len(scores) if scores else None,
        "final_step": max((r["step"] for r in train + evals), default=0),
        "updates_per_s_median": sorted(ups)[len(ups) // 2] if ups else None,
    }
