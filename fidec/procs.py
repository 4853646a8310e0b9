"""Work run in other processes: a pool of spawned local processes that never outlive the process that started
them, or Ray tasks. ``fidec sweep`` (one training run per process) and ``fidec data generate`` (one chunk of
episodes per task) both run their work here, each with its own progress reporting and error handling."""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing as mp
import os
import signal
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


def _start_worker(parent_pid: int, own_group: bool, initializer, initargs: tuple) -> None:
    die_with_parent(parent_pid)
    if own_group:
        os.setpgid(0, 0)
    if initializer is not None:
        initializer(*initargs)


def spawn_pool(
    workers: int,
    initializer=None,
    initargs: tuple = (),
    one_task_per_process: bool = False,
    own_process_group: bool = False,
) -> cf.ProcessPoolExecutor:
    """A pool of ``workers`` spawned processes, each ended when this process dies (:func:`die_with_parent`),
    then set up by ``initializer(*initargs)``. ``one_task_per_process``: a fresh process for every task, so no
    memory or compiled state is carried from one task to the next. ``own_process_group``: each worker in a
    process group of its own, so that a Ctrl-C at the terminal reaches this process alone, which decides what
    its workers do (:func:`interrupt_workers`)."""
    kw = {
        "max_workers": workers,
        "mp_context": spawn_context(),
        "initializer": _start_worker,
        "initargs": (os.getpid(), own_process_group, initializer, tuple(initargs)),
    }
    if one_task_per_process:
        kw["max_tasks_per_child"] = 1
    return cf.ProcessPoolExecutor(**kw)


def _workers(pool: cf.ProcessPoolExecutor) -> list:
    """The pool's worker processes (the executor keeps them in a private attribute)."""
    return list((getattr(pool, "_processes", None) or {}).values())


def interrupt_workers(pool: cf.ProcessPoolExecutor, sig: signal.Signals = signal.SIGINT) -> None:
    """Send ``sig`` to each worker of ``pool``: with SIGINT a task running there gets a KeyboardInterrupt, as at a
    Ctrl-C; a stop request (SIGTERM, SIGUSR1) does what the worker's handlers make of it."""
    for p in _workers(pool):
        with contextlib.suppress(ProcessLookupError, TypeError):  # already gone (TypeError: pid not known yet)
            os.kill(p.pid, sig)


def stop_pool(pool: cf.ProcessPoolExecutor) -> None:
    """Stop a pool now (its caller was interrupted or failed): pending tasks cancelled, running workers
    terminated, then the pool shut down (quickly: it waits only for its manager thread to see the workers gone;
    without that wait, a pool replacing its workers, ``max_tasks_per_child``, fails in that thread)."""
    for p in _workers(pool):
        with contextlib.suppress(Exception):
            p.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


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
            yield from self.wait()
            self._submit()

    def submit(self, item) -> None:
        """Start one more task now (besides the queue ``max_in_flight`` limits)."""
        self.in_flight[self.remote.remote(item)] = item

    def wait(self, timeout: float | None = None) -> list[tuple]:
        """``(item, ref)`` of the tasks finished within ``timeout`` seconds (None: until one is), removed from
        the tasks in flight."""
        if not self.in_flight:
            return []
        ready, _ = self.ray.wait(list(self.in_flight), num_returns=1, timeout=timeout)
        return [(self.in_flight.pop(ref), ref) for ref in ready]

    def cancel(self, force: bool = True) -> None:
        """Cancel the tasks in flight (the caller was interrupted): those not started never start; running ones
        get a KeyboardInterrupt, or with ``force`` their worker process is killed."""
        for ref in self.in_flight:
            with contextlib.suppress(Exception):  # noqa: BLE001 - a task that finished meanwhile, a lost node
                self.ray.cancel(ref, force=force)
