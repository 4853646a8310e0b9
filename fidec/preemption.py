"""Stop requests: SIGTERM (what SLURM, Kubernetes, Ray and service managers send before killing a process) and
SIGUSR1 (SLURM's ``--signal``) ask the training loop to stop at its next chunk boundary, after a checkpoint.

:func:`stop_requests` installs the handlers for the duration of a ``with`` block, in the process's main thread
only (elsewhere Python cannot install them and the block changes nothing), and restores the previous ones when it
ends. A handler only records the request; the loop polls :attr:`StopRequest.signal`. SIGINT (Ctrl-C) is left
alone: it stops at once, as before.
"""

from __future__ import annotations

import contextlib
import signal
import threading

#: The signals that ask for a checkpoint and a clean stop.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class StopRequest:
    """The first stop signal received while installed (None while there is none)."""

    def __init__(self):
        self.signal: signal.Signals | None = None

    @property
    def requested(self) -> bool:
        return self.signal is not None

    def _handle(self, signum, frame) -> None:
        if self.signal is None:
            self.signal = signal.Signals(signum)


@contextlib.contextmanager
def stop_requests():
    """A :class:`StopRequest` that SIGTERM and SIGUSR1 set while the block runs (main thread only)."""
    stop = StopRequest()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in STOP_SIGNALS:
            previous[sig] = signal.signal(sig, stop._handle)
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
