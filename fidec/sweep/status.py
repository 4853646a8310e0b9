"""The status of a sweep's jobs, read from their run folders, and ``sweep_status.json``, which lists them all.

Status of a job folder: *done* (``summary.json`` with ``final_step`` == the suite's steps), *running* (a process
holds the folder's lock, ``.fidec.lock``), *interrupted* (a run was started and nothing holds it), *failed*
(``error.txt``), *conflict* (the folder holds a run with another configuration), *pending* (nothing yet).

``sweep_status.json`` is computed from the folders each time it is written, under the sweep folder's own lock
(``OUT/.fidec-sweep.lock``), so with several sweeps on one folder the one that writes last writes what the folders
hold, whichever process ran which run.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

from fidec import checkpoint
from fidec.config import resolve
from fidec.io import read_json, storage_errors, write_json
from fidec.runs import LOCK_FILE
from fidec.sweep.job import CONFLICT, DONE, ERROR_FILE, FAILED, INTERRUPTED, PENDING, RUNNING, config_conflict
from fidec.sweep.jobs import Job
from fidec.sweep.suites import Suite

try:
    import fcntl  # POSIX only: without it, no lock is taken or seen (as in fidec.runs.RunLock)
except ImportError:
    fcntl = None

STATUS_FILE = "sweep_status.json"
#: The sweep folder's own lock: held by a sweep while it reads its runs' folders and writes the status file.
SWEEP_LOCK = ".fidec-sweep.lock"
#: The statuses sweep_status.json counts (a conflict counts as failed; its ``detail`` says conflict).
COUNTED = (DONE, FAILED, INTERRUPTED, RUNNING, PENDING)


def run_holder(run_dir: str | os.PathLike) -> str | None:
    """The pid (as its lock file gives it) of the process holding a run folder's lock, or None when none does.

    A probe, not a lock: a shared lock taken and dropped at once, so it never blocks; a writer starting in that
    instant is refused as if the folder were busy (a sweep's job then waits and tries again)."""
    if fcntl is None:
        return None
    try:
        fd = os.open(Path(run_dir) / LOCK_FILE, os.O_RDONLY)
    except OSError:  # no lock file: never written by a run
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
    finally:
        os.close(fd)  # drops the probe's lock
    return None


@contextlib.contextmanager
def sweep_lock(out: Path):
    """Hold the sweep folder's lock (blocking: each holder reads some run folders and writes one small file)."""
    out.mkdir(parents=True, exist_ok=True)
    with storage_errors(out / SWEEP_LOCK):
        fd = os.open(out / SWEEP_LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def job_status(job: Job, held: bool | None = None) -> tuple[str, str | None]:
    """(status, error) of a job's run folder. ``held``: whether a process holds the folder (None: probe it)."""
    run_dir = Path(job.run_dir)
    steps = resolve(job.overrides).total_steps  # offline steps, then the online phase's updates
    summary = read_json(run_dir / "summary.json")
    started = (run_dir / "config.json").exists() or checkpoint.exists(run_dir)
    if started:
        conflict = config_conflict(run_dir, job.overrides)
        if conflict:
            return CONFLICT, conflict
    if summary and summary.get("final_step") == steps:
        return DONE, None
    if summary and (summary.get("final_step") or 0) > steps:
        return CONFLICT, (
            f"run folder holds a longer run ({summary.get('final_step')} steps) than the suite asks ({steps})"
        )
    if held is None:
        holder = run_holder(run_dir)
        held = holder is not None
    if held:  # a run in progress (a failed one retried, or an interrupted one resumed, by another process)
        return RUNNING, None
    err = run_dir / ERROR_FILE
    if err.exists():
        first = next((ln for ln in err.read_text().splitlines() if ln.strip()), "failed")
        return FAILED, first
    if started:
        return INTERRUPTED, None
    return PENDING, None


@dataclass
class SweepResult:
    out: Path
    jobs: list[Job]
    results: dict[str, dict]  # name -> result of the jobs this process ran
    status_path: Path

    def counts(self) -> dict[str, int]:
        c = dict.fromkeys(COUNTED, 0)
        for j in self.jobs:
            c[_summary_status(j.status)] += 1
        return c

    @property
    def ok(self) -> bool:
        return all(j.status == DONE for j in self.jobs)


def _summary_status(status: str) -> str:
    return FAILED if status == CONFLICT else status


def refresh(jobs: list[Job], running: set[str] = frozenset()) -> None:
    """Each job's status and error, read from its folder now (``running``: jobs this process is running)."""
    for j in jobs:
        j.status, j.error = job_status(j, held=True if j.name in running else None)


def write_status(
    out: Path,
    suite: Suite,
    jobs: list[Job],
    results: dict[str, dict],
    backend: str,
    running: set[str] = frozenset(),
) -> Path:
    """Read every job's folder (:func:`refresh`) and write ``sweep_status.json``, under the sweep folder's lock."""
    path = out / STATUS_FILE
    with sweep_lock(out):
        refresh(jobs, running)
        runs = []
        for j in jobs:
            r = results.get(j.name, {})
            runs.append(
                {
                    "name": j.name,
                    "status": _summary_status(j.status),
                    "detail": j.status,
                    "agent": j.agent,
                    "env": j.env,
                    "variant": j.tag,
                    "seeds": j.seeds,
                    "error": j.error,
                    "action": r.get("action"),
                    "wall_s": r.get("wall_s"),
                }
            )
        counts = dict.fromkeys(COUNTED, 0)
        for r in runs:
            counts[r["status"]] += 1
        write_json(
            path,
            {
                "suite": suite.name,
                "suite_file": suite.source,
                "backend": backend,
                "updated": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "counts": counts,
                "runs": runs,
            },
        )
    return path


def format_status(result: SweepResult) -> str:
    c = result.counts()
    lines = [
        f"sweep {result.out}: "
        + ", ".join(f"{c[s]} {s}" for s in COUNTED if c[s] or s in (DONE, FAILED))
        + f" of {len(result.jobs)} runs; status in {result.status_path}"
    ]
    for j in result.jobs:
        if j.status == FAILED:
            lines.append(f"  failed  {j.name}: {j.error}  (see {Path(j.run_dir) / ERROR_FILE})")
        elif j.status == CONFLICT:
            lines.append(f"  conflict {j.name}: {j.error}")
    for j in result.jobs:
        if j.status in (INTERRUPTED, RUNNING, PENDING):
            lines.append(f"  {j.status:12s}{j.name}")
    return "\n".join(lines)
