"""Work run in other processes: a pool of spawned local processes that never outlive the process that started
them, or Ray tasks. ``fidec sweep`` (one training run per process) and ``fidec data generate`` (one chunk of
episodes per task) both run their work here, each with its own progress reporting and error handling."""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing as mp
import os
import threading
import time

from fidec.errors import FidecError

#: Where work runs: a pool of local processes or Ray tasks.
BACKENDS = ("local", "ray")


def die_with_parent(parent_pid: int, poll_s: float = 0.5) -> None:
    """End this (worker) process as soon as ``parent_pid`` is no longer its parent.

    When the parent dies, however it dies (SIGKILL included), the worker is re-parented and ``os.getppid``
    changes; a daemon thread polls it and calls ``os._exit``. Without this, killing ``fidec data generate`` or
    ``fidec sweep`` left its pool workers finishing their work and then waiting forever, holding memory.
    Call it first thing in a worker (a pool's ``initializer``), with the parent's ``os.getpid()``.
    """

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def cpu_count() -> int:
    """The CPUs this process may run on (its affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


# ---------------------------------------------------------------------------------------------- local pool
def spawn_context():
    """Spawned, not forked: a worker starts fresh, with no JAX state or threads of this process."""
    return mp.get_context("spawn")


def _start_worker(parent_pid: int, initializer, initargs: tuple) -> None:
    die_with_parent(parent_pid)
    if initializer is not None:
        initializer(*initargs)


def spawn_pool(
    workers: int, initializer=None, initargs: tuple = (), one_task_per_process: bool = False
) -> cf.ProcessPoolExecutor:
    """A pool of ``workers`` spawned processes, each ended when this process dies (:func:`die_with_parent`),
    then set up by ``initializer(*initargs)``. ``one_task_per_process``: a fresh process for every task, so no
    memory or compiled state is carried from one task to the next."""
    kw = {
        "max_workers": workers,
        "mp_context": spawn_context(),
        "initializer": _start_worker,
        "initargs": (os.getpid(), initializer, tuple(initargs)),
    }
    if one_task_per_process:
        kw["max_tasks_per_child"] = 1
    return cf.ProcessPoolExecutor(**kw)


def stop_pool(pool: cf.ProcessPoolExecutor) -> None:
    """Stop a pool now (its caller was interrupted or failed): pending tasks cancelled, running workers
    terminated, nothing waited for."""
    procs = list((getattr(pool, "_processes", None) or {}).values())  # our own workers, before shutdown drops them
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        with contextlib.suppress(Exception):
            p.terminate()


# ---------------------------------------------------------------------------------------------- Ray
def require_ray():
    """The ``ray`` module, or a one-line error saying how to install it."""
    try:
        import ray  # Ray is an optional dependency (the 'ray' extra): imported only by the Ray backends
    except ImportError:
        raise FidecError(
            "backend 'ray' needs Ray, which is not installed: pip install 'fidec[ray]' (or use --backend local)"
        ) from None
    return ray


def start_ray(address: str | None = None):
    """``(ray, started)``: Ray connected to ``address`` (None: ``RAY_ADDRESS`` or a local instance);
    ``started`` is False when this process was connected already (then the caller does not shut it down)."""
    ray = require_ray()
    if ray.is_initialized():
        return ray, False
    ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    return ray, True


class RayTasks:
    """``remote.remote(item)`` for each item, at most ``max_in_flight`` at once (None: all at once); iterating
    yields ``(item, ref)`` as each task finishes (``ray.get(ref)`` is the caller's, with its error handling)."""

    def __init__(self, ray, remote, items, max_in_flight: int | None = None):
        self.ray, self.remote, self.todo = ray, remote, list(items)
        self.max_in_flight = max_in_flight
        self.in_flight: dict = {}

    def _submit(self) -> None:
        while self.todo and (self.max_in_flight is None or len(self.in_flight) < max(self.max_in_flight, 1)):
            item = self.todo.pop(0)
            self.in_flight[self.remote.remote(item)] = item

    def __iter__(self):
        self._submit()
        while self.in_flight:
            ready, _ = self.ray.wait(list(self.in_flight), num_returns=1)
            for ref in ready:
                yield self.in_flight.pop(ref), ref
            self._submit()

    def cancel(self) -> None:
        """Force-cancel the tasks still running (the caller was interrupted)."""
        for ref in self.in_flight:
            self.ray.cancel(ref, force=True)
