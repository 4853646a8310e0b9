"""Worker processes that never outlive the process that started them."""

from __future__ import annotations

import os
import threading
import time


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
