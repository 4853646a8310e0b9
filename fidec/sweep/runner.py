"""Running a sweep: each job trained (or resumed) in a process of its own, on a local pool or as Ray tasks."""

from __future__ import annotations

import concurrent.futures as cf
import os
from pathlib import Path

from fidec.errors import FidecError
from fidec.io import atomic_write_text
from fidec.procs import BACKENDS, RayTasks, cpu_count, spawn_pool, start_ray
from fidec.sweep.datasets import ensure_datasets
from fidec.sweep.job import failed_result, run_job
from fidec.sweep.jobs import expand
from fidec.sweep.status import (
    CONFLICT,
    DONE,
    FAILED,
    INTERRUPTED,
    PENDING,
    STATUS_FILE,
    SweepResult,
    format_status,
    job_status,
    write_status,
)
from fidec.sweep.suites import Suite, load_suite


def run_local(payloads: list[dict], workers: int, on_result) -> None:
    """Each job in its own spawned process, ``workers`` at a time."""
    # a fresh process per job: no JAX state or memory carried over; none outlives this process
    with spawn_pool(workers, one_task_per_process=True) as pool:
        futures = {pool.submit(run_job, p): p for p in payloads}
        try:
            for fut in cf.as_completed(futures):
                p = futures[fut]
                try:
                    res = fut.result()
                except Exception as e:  # noqa: BLE001 - e.g. BrokenProcessPool: the worker died
                    res = failed_result(p, f"worker process died: {type(e).__name__}: {e} (killed or out of memory?)")
                on_result(p, res)
        except KeyboardInterrupt:
            for f in futures:
                f.cancel()
            raise


def run_ray(payloads: list[dict], address: str | None, cpus: float, gpus: float, on_result) -> None:
    """Each job as a Ray task with ``num_cpus``/``num_gpus`` (a fresh worker process per task)."""
    ray, started = start_ray(address)
    try:
        remote = ray.remote(num_cpus=cpus, num_gpus=gpus, max_calls=1, max_retries=1)(run_job)
        tasks = RayTasks(ray, remote, payloads)
        try:
            for p, ref in tasks:
                try:
                    res = ray.get(ref)
                except Exception as e:  # noqa: BLE001 - the task's worker died, node lost, ...
                    res = failed_result(p, f"Ray task failed: {type(e).__name__}: {e}")
                on_result(p, res)
        except KeyboardInterrupt:
            tasks.cancel()
            raise
    finally:
        if started:
            ray.shutdown()


def run_sweep(
    suite: Suite | str,
    out: str | os.PathLike | None = None,
    backend: str = "local",
    *,
    seeds: list[int] | None = None,
    agents: list[str] | None = None,
    tasks: list[str] | None = None,
    variants_filter: list[str] | None = None,
    overrides: dict | None = None,
    workers: int | None = None,
    ray_address: str | None = None,
    cpus_per_run: float | None = None,
    gpus_per_run: float | None = None,
    dataset_dir: str | None = None,
    generate: bool = True,
    retry_failed: bool = True,
    dry_run: bool = False,
    log=print,
) -> SweepResult:
    """Run (or continue) a sweep: skip done runs, resume interrupted ones, start pending ones."""
    if isinstance(suite, str):
        suite = load_suite(suite)
    if backend not in BACKENDS:
        raise FidecError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    out = Path(out or Path("sweeps") / suite.name).resolve()
    jobs = expand(suite, out, seeds, agents, tasks, overrides, dataset_dir, variants_filter)
    for j in jobs:
        j.status, j.error = job_status(j)
    todo_status = {PENDING, INTERRUPTED} | ({FAILED} if retry_failed else set())
    todo = [j for j in jobs if j.status in todo_status]
    cpus = cpus_per_run or suite.cpus_per_run
    gpus = suite.gpus_per_run if gpus_per_run is None else gpus_per_run
    n_workers = workers or max(1, int(cpu_count() // cpus))
    n_workers = max(1, min(n_workers, len(todo))) if todo else 0
    results: dict[str, dict] = {}
    status_path = out / STATUS_FILE
    result = SweepResult(out, jobs, results, status_path)
    c = {s: sum(j.status == s for j in jobs) for s in (DONE, INTERRUPTED, FAILED, CONFLICT, PENDING)}
    log(
        f"suite {suite.name}: {len(jobs)} runs in {out}: {c[DONE]} done, {c[INTERRUPTED]} interrupted, "
        f"{c[FAILED]} failed{'' if retry_failed else ' (not retried)'}, {c[CONFLICT]} in conflict, "
        f"{c[PENDING]} pending"
    )
    if dry_run:
        for j in jobs:
            log(f"  {j.status:12s}{j.name}")
        return result
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / f"suite{'.yaml' if suite.fmt == 'yaml' else '.toml'}", suite.text)
    write_status(out, suite, jobs, results, backend)
    if not todo:
        log(format_status(result))
        return result

    ensure_datasets(suite, todo, generate, workers=n_workers or 1, log=log)
    by_name = {j.name: j for j in jobs}
    share = (backend == "local" and n_workers > 1) or (0 < gpus < 1)
    threads = max(1, int(cpus))
    payloads = [
        {**j.to_dict(), "suite": suite.name, "share_device": share, "threads": threads, "prior": j.status} for j in todo
    ]
    finished = 0

    def on_result(payload: dict, res: dict) -> None:
        nonlocal finished
        finished += 1
        j = by_name[payload["name"]]
        results[j.name] = res
        j.status = res["status"]
        j.error = res.get("error")
        write_status(out, suite, jobs, results, backend)
        what = res.get("action", res["status"])
        if res["status"] == INTERRUPTED:
            log(f"[{finished}/{len(todo)}] interrupted {j.name}")
        elif res["status"] == DONE:
            score = res.get("score_mean")
            extra = f", score {score:.3f}" if isinstance(score, (int, float)) else ""
            log(f"[{finished}/{len(todo)}] {what} -> done {j.name} ({res.get('wall_s', 0):.0f} s{extra})")
        else:
            log(f"[{finished}/{len(todo)}] FAILED {j.name}: {j.error}")

    where = f"{n_workers} local process(es)" if backend == "local" else f"Ray ({ray_address or 'local instance'})"
    log(f"running {len(todo)} run(s) on {where}")
    if backend == "local":
        run_local(payloads, n_workers, on_result)
    else:
        run_ray(payloads, ray_address, cpus, gpus, on_result)
    write_status(out, suite, jobs, results, backend)
    log(format_status(result))
    return result
