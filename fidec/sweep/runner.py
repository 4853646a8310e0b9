"""Running a sweep: each job trained (or resumed) in a process of its own, on a local pool or as Ray tasks.

One loop drives both backends: it starts a job only when the backend has room for it (the local pool: one per
worker, nothing queued behind them), never one whose run folder another process holds (that job waits, and is
taken over if the other process leaves it unfinished), and records each result as it comes. A Ctrl-C stops it
starting jobs at once, interrupts the running ones (each keeps its folder resumable from its last checkpoint),
gives them :data:`GRACE_S` seconds to stop, kills what is left, and writes the status before the
KeyboardInterrupt goes on. A stop request (SIGTERM or SIGUSR1, :mod:`fidec.preemption`) also stops it starting
jobs, but passes the signal on to the running local jobs, each of which stops at its next chunk boundary with a
checkpoint of that step, waits for all of them, writes the status and raises :class:`~fidec.errors.Preempted`.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import signal
import time
from pathlib import Path

from fidec.errors import FidecError, Preempted
from fidec.io import atomic_write_text
from fidec.preemption import defer_stop_signals, stop_requests
from fidec.procs import BACKENDS, RayTasks, cpu_count, interrupt_workers, spawn_pool, start_ray, stop_pool
from fidec.sweep.datasets import ensure_datasets
from fidec.sweep.job import HELD, RUNNING, failed_result, run_job
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
    run_holder,
    sweep_lock,
    write_status,
)
from fidec.sweep.suites import Suite, load_suite

#: Seconds between looks at run folders another process holds.
POLL_S = 2.0
#: Seconds the running jobs get to stop after a Ctrl-C before their processes are killed.
GRACE_S = 10.0
#: Times Ray runs a job again when its worker or node died (the run resumes from its last checkpoint).
RAY_MAX_RETRIES = 3


class LocalRuns:
    """Jobs in a pool of spawned processes, a fresh one per job (no JAX state or memory carried over; none
    outlives this process), at most ``workers`` at once and none queued behind them. The workers are in process
    groups of their own: a Ctrl-C at the terminal reaches the sweep alone, which interrupts them itself. A stop
    signal never ends a worker (:func:`~fidec.preemption.defer_stop_signals`): its run stops at a chunk boundary
    with a checkpoint, or before training if it had not begun."""

    def __init__(self, workers: int):
        self.workers = workers
        self.pool = spawn_pool(
            workers, initializer=defer_stop_signals, one_task_per_process=True, own_process_group=True
        )
        self.running: dict[cf.Future, dict] = {}

    def free(self) -> int:
        return self.workers - len(self.running)

    def submit(self, payload: dict) -> None:
        self.running[self.pool.submit(run_job, payload)] = payload

    def wait(self, timeout: float | None, interrupted: bool = False) -> list[tuple[dict, dict]]:
        """``(payload, result)`` of the jobs finished within ``timeout`` seconds (None: until one is)."""
        if not self.running:
            time.sleep(timeout or 0)
            return []
        done, _ = cf.wait(self.running, timeout=timeout, return_when=cf.FIRST_COMPLETED)
        out = []
        for fut in done:
            p = self.running.pop(fut)
            try:
                res = fut.result()
            except Exception as e:  # noqa: BLE001 - e.g. BrokenProcessPool: the worker died
                res = (
                    _interrupted(p)
                    if interrupted
                    else failed_result(p, f"worker process died: {type(e).__name__}: {e} (killed or out of memory?)")
                )
            out.append((p, res))
        return out

    def interrupt(self) -> None:
        interrupt_workers(self.pool)

    def stop(self, sig: signal.Signals) -> None:
        """Pass a stop request on to the workers (each run checkpoints and stops at its next chunk boundary)."""
        interrupt_workers(self.pool, sig)

    def close(self) -> None:
        if self.running:
            stop_pool(self.pool)  # interrupted or failed: the running jobs are killed
        else:
            self.pool.shutdown(wait=True)


class RayRuns:
    """Jobs as Ray tasks with ``num_cpus``/``num_gpus`` each, a fresh worker process per task; a task whose
    worker or node dies is run again (:data:`RAY_MAX_RETRIES`), resuming its run from the last checkpoint."""

    def __init__(self, address: str | None, cpus: float, gpus: float):
        self.ray, self.started = start_ray(address)
        remote = self.ray.remote(num_cpus=cpus, num_gpus=gpus, max_calls=1, max_retries=RAY_MAX_RETRIES)(run_job)
        self.tasks = RayTasks(self.ray, remote, [])

    @property
    def running(self) -> dict:
        return self.tasks.in_flight

    def free(self) -> float:
        return float("inf")  # Ray queues the tasks until the cluster has room (and cancels queued ones on a Ctrl-C)

    def submit(self, payload: dict) -> None:
        self.tasks.submit(payload)

    def wait(self, timeout: float | None, interrupted: bool = False) -> list[tuple[dict, dict]]:
        if not self.tasks.in_flight:
            time.sleep(timeout or 0)
            return []
        out = []
        for p, ref in self.tasks.wait(timeout):
            try:
                res = self.ray.get(ref)
            except Exception as e:  # noqa: BLE001 - cancelled, or its retries spent on dead workers or nodes
                res = _interrupted(p) if interrupted else failed_result(p, f"Ray task failed: {type(e).__name__}: {e}")
            out.append((p, res))
        return out

    def interrupt(self) -> None:
        self.tasks.cancel(force=False)  # queued tasks never start; running ones get a KeyboardInterrupt

    def stop(self, sig: signal.Signals) -> None:
        """As a Ctrl-C: Ray stops its tasks itself (each run keeps its last checkpoint)."""
        self.interrupt()

    def close(self) -> None:
        self.tasks.cancel(force=True)
        if self.started:
            self.ray.shutdown()


def _interrupted(payload: dict) -> dict:
    return {"name": payload["name"], "status": INTERRUPTED, "action": "interrupted", "error": "interrupted"}


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
    """Run (or continue) a sweep: skip done runs, resume interrupted ones, start pending ones; run the ones
    another process holds only if it leaves them unfinished."""
    if isinstance(suite, str):
        suite = load_suite(suite)
    if backend not in BACKENDS:
        raise FidecError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    out = Path(out or Path("sweeps") / suite.name).resolve()
    jobs = expand(suite, out, seeds, agents, tasks, overrides, dataset_dir, variants_filter)
    for j in jobs:
        j.status, j.error = job_status(j)
    todo_status = {PENDING, INTERRUPTED, RUNNING} | ({FAILED} if retry_failed else set())
    todo = [j for j in jobs if j.status in todo_status]
    cpus = cpus_per_run or suite.cpus_per_run
    gpus = suite.gpus_per_run if gpus_per_run is None else gpus_per_run
    n_workers = workers or max(1, int(cpu_count() // cpus))
    n_workers = max(1, min(n_workers, len(todo))) if todo else 0
    results: dict[str, dict] = {}
    status_path = out / STATUS_FILE
    result = SweepResult(out, jobs, results, status_path)
    c = {s: sum(j.status == s for j in jobs) for s in (DONE, INTERRUPTED, FAILED, CONFLICT, RUNNING, PENDING)}
    log(
        f"suite {suite.name}: {len(jobs)} runs in {out}: {c[DONE]} done, {c[INTERRUPTED]} interrupted, "
        f"{c[FAILED]} failed{'' if retry_failed else ' (not retried)'}, {c[CONFLICT]} in conflict, "
        + (f"{c[RUNNING]} running in another process, " if c[RUNNING] else "")
        + f"{c[PENDING]} pending"
    )
    if dry_run:
        for j in jobs:
            log(f"  {j.status:12s}{j.name}")
        return result
    with sweep_lock(out):
        atomic_write_text(out / f"suite{'.yaml' if suite.fmt == 'yaml' else '.toml'}", suite.text)
    write_status(out, suite, jobs, results, backend)
    if not todo:
        log(format_status(result))
        return result

    ensure_datasets(suite, todo, generate, workers=n_workers or 1, log=log)
    share = (backend == "local" and n_workers > 1) or (0 < gpus < 1)
    threads = max(1, int(cpus))
    payloads = [{**j.to_dict(), "suite": suite.name, "share_device": share, "threads": threads} for j in todo]
    where = f"{n_workers} local process(es)" if backend == "local" else f"Ray ({ray_address or 'local instance'})"
    log(f"running {len(todo)} run(s) on {where}")
    runs = LocalRuns(n_workers) if backend == "local" else RayRuns(ray_address, cpus, gpus)
    driver = _Driver(
        runs,
        jobs,
        results,
        len(todo),
        lambda: write_status(out, suite, jobs, results, backend, driver.running_names()),
        log,
    )
    try:
        with stop_requests() as stop:
            driver.run(payloads, stop)
            if stop.requested:
                name = stop.signal.name
                log(f"stopped by {name}: no more runs start; each running run stops at its next chunk boundary "
                    "with a checkpoint")  # fmt: skip
                driver.stop(stop.signal)
                raise Preempted(
                    f"sweep stopped by {name}, each run resumable from its checkpoint; run the same command again to "
                    "continue"
                )
    except Preempted:
        runs.close()
        write_status(out, suite, jobs, results, backend)
        log(format_status(result))
        raise
    except KeyboardInterrupt:
        log("interrupted: no more runs start; stopping the running ones (each resumable from its last checkpoint)")
        try:
            driver.interrupt()
        finally:
            runs.close()  # whatever still runs is killed: its folder resumes from its last checkpoint
            write_status(out, suite, jobs, results, backend)
            log(format_status(result))
        raise
    except BaseException:
        runs.close()
        raise
    runs.close()
    write_status(out, suite, jobs, results, backend)
    log(format_status(result))
    return result


class _Driver:
    """The loop of :func:`run_sweep`: starts each job when the backend has room and its folder is free, and
    records the results as they come."""

    def __init__(self, runs, jobs, results: dict, total: int, write, log):
        self.runs, self.results, self.total, self.write, self.log = runs, results, total, write, log
        self.by_name = {j.name: j for j in jobs}
        self.first = {j.name: j.status for j in jobs}  # each job's status when the sweep began
        self.finished = 0

    def running_names(self) -> set[str]:
        return {p["name"] for p in self.runs.running.values()}

    def run(self, payloads: list[dict], stop=None) -> None:
        """Run the jobs; return early, with jobs still running, once ``stop`` (a StopRequest) is requested."""
        queue = list(payloads)
        waiting: dict[str, dict] = {}  # folders another process holds, looked at every POLL_S seconds
        while (queue or waiting or self.runs.running) and not (stop and stop.requested):
            for name in [n for n, p in waiting.items() if run_holder(p["run_dir"]) is None]:
                queue.append(waiting.pop(name))  # released: finished, or left for this sweep to take over
            started = False
            while queue and self.runs.free() > 0:
                p = queue.pop(0)
                j = self.by_name[p["name"]]
                holder = run_holder(j.run_dir)
                if holder is not None:
                    self.log(f"  {j.name}: another process (pid {holder}) is training it; waiting for it")
                    waiting[j.name] = p
                    continue
                status, error = job_status(j, held=False)
                if status != self.first[j.name] and status in (DONE, FAILED, CONFLICT):  # finished elsewhere
                    j.status, j.error = status, error
                    self._count(f"{status} {j.name} (by another process)")
                    continue
                self.runs.submit(p)
                started = True
            if started:
                self.write()  # shows them running
            for p, res in self.runs.wait(POLL_S):
                if res["status"] == HELD:  # another process took the folder just before this job's process did
                    waiting[p["name"]] = p
                    continue
                self.record(p, res)

    def interrupt(self) -> None:
        """Interrupt the running jobs; record those that stop within GRACE_S."""
        self.runs.interrupt()
        deadline = time.monotonic() + GRACE_S
        while self.runs.running and time.monotonic() < deadline:
            for p, res in self.runs.wait(min(POLL_S, max(0.0, deadline - time.monotonic())), interrupted=True):
                self.record(p, res, write=False)

    def stop(self, sig: signal.Signals) -> None:
        """Pass a stop request on to the running jobs and record each as it stops (no deadline: a scheduler's
        SIGKILL bounds the wait, a Ctrl-C cuts it short)."""
        self.runs.stop(sig)
        while self.runs.running:
            for p, res in self.runs.wait(POLL_S, interrupted=True):
                self.record(p, res, write=False)

    def record(self, payload: dict, res: dict, write: bool = True) -> None:
        j = self.by_name[payload["name"]]
        self.results[j.name] = res
        j.status, j.error = res["status"], res.get("error")
        if write:
            self.write()
        if res["status"] == INTERRUPTED:
            self._count(f"interrupted {j.name}")
        elif res["status"] == DONE:
            score = res.get("score_mean")
            extra = f", score {score:.3f}" if isinstance(score, (int, float)) else ""
            self._count(f"{res.get('action', DONE)} -> done {j.name} ({res.get('wall_s', 0):.0f} s{extra})")
        else:
            self._count(f"FAILED {j.name}: {j.error}")

    def _count(self, text: str) -> None:
        self.finished += 1
        self.log(f"[{self.finished}/{self.total}] {text}")
