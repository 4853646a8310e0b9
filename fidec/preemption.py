"""Stop requests: SIGTERM (what SLURM, Kubernetes, Ray and service managers send before killing a process) and
SIGUSR1 (SLURM's ``--signal``) ask the training loop to stop at its next chunk boundary, after a checkpoint.

:func:`stop_requests` installs the handlers for the duration of a ``with`` block, in the process's main thread
only (elsewhere Python cannot install them and the block changes nothing), and restores the previous ones when it
ends. A handler only records the request; the loop polls :attr:`StopRequest.signal`. SIGINT (Ctrl-C) is left
alone: it stops at once, as before.

A process that may receive a stop request before its training loop starts (a sweep's job process, while it loads
data or compiles) calls :func:`defer_stop_signals` first: from then on the signals are recorded instead of ending
the process, and the training loop's :func:`stop_requests` starts from a request already made, so the run stops at
its first chunk boundary.
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


#: The process-wide request of :func:`defer_stop_signals` (None where it was not called).
_deferred: StopRequest | None = None


def defer_stop_signals() -> None:
    """Record SIGTERM and SIGUSR1 in this process from now on instead of letting them end it (main thread only).

    :func:`pending_stop` then says whether one came, and :func:`stop_requests` blocks start from it."""
    global _deferred
    _deferred = StopRequest()
    for sig in STOP_SIGNALS:
        signal.signal(sig, _deferred._handle)


def pending_stop() -> signal.Signals | None:
    """The stop signal received since :func:`defer_stop_signals` (None before one, or without that call)."""
    return _deferred.signal if _deferred is not None else None


@contextlib.contextmanager
def stop_requests():
    """A :class:`StopRequest` that SIGTERM and SIGUSR1 set while the block runs (main thread only); after
    :func:`defer_stop_signals`, the process-wide one, holding any request made before the block."""
    stop = _deferred if _deferred is not None else StopRequest()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in STOP_SIGNALS:
            previous[sig] = signal.signal(sig, stop._handle)
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
