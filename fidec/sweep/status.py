"""The status of a sweep's jobs, read from their run folders, and ``sweep_status.json``, which lists them all.

Status of a job folder: *done* (``summary.json`` with ``final_step`` == the suite's steps), *interrupted* (a run
was started), *failed* (``error.txt``), *conflict* (the folder holds a run with another configuration), *pending*
(nothing yet).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from fidec import checkpoint
from fidec.config import resolve
from fidec.io import read_json, write_json
from fidec.sweep.job import CONFLICT, DONE, ERROR_FILE, FAILED, INTERRUPTED, PENDING, config_conflict
from fidec.sweep.jobs import Job
from fidec.sweep.suites import Suite

STATUS_FILE = "sweep_status.json"


def job_status(job: Job) -> tuple[str, str | None]:
    """(status, error) of a job's run folder."""
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
    results: dict[str, dict]  # name -> result of the jobs run now
    status_path: Path

    def counts(self) -> dict[str, int]:
        c = {DONE: 0, FAILED: 0, PENDING: 0}
        for j in self.jobs:
            c[_summary_status(j.status)] += 1
        return c

    @property
    def ok(self) -> bool:
        return all(j.status == DONE for j in self.jobs)


def _summary_status(status: str) -> str:
    return {DONE: DONE, FAILED: FAILED, CONFLICT: FAILED}.get(status, PENDING)


def write_status(out: Path, suite: Suite, jobs: list[Job], results: dict[str, dict], backend: str) -> Path:
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
    counts = {DONE: 0, FAILED: 0, PENDING: 0}
    for r in runs:
        counts[r["status"]] += 1
    path = out / STATUS_FILE
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
    interrupted = sum(j.status == INTERRUPTED for j in result.jobs)
    lines = [
        f"sweep {result.out}: {c[DONE]} done, {c[FAILED]} failed, {c[PENDING]} pending"
        + (f" ({interrupted} interrupted)" if interrupted else "")
        + f" of {len(result.jobs)} runs; status in {result.status_path}"
    ]
    for j in result.jobs:
        if j.status in (FAILED, CONFLICT):
            lines.append(f"  failed  {j.name}: {j.error}  (see {Path(j.run_dir) / ERROR_FILE})")
    for j in result.jobs:
        if _summary_status(j.status) == PENDING:
            lines.append(f"  {j.status:8s}{j.name}")
    return "\n".join(lines)
