"""The one loop driver: both phases of a run (offline updates, then online fine-tuning) go through :func:`drive`.

Each round: the phase says how many updates run before the next boundary (a log, evaluation or checkpoint step,
or its own limit), runs them as one compiled chunk (the online phase first collects the environment steps they
train on), the driver checks that every loss term and the new state are finite, then closes the log window into
train records, evaluates, writes the records, and checkpoints, each at its step. A phase object supplies only what
differs between the phases (:class:`Phase`); the run (:class:`fidec.train.Trainer`) holds the states, the step
counter, the run folder and the record streams.

The loss terms since the last train record (the log window) travel from one phase to the next and with every
checkpoint, so a resumed run logs the same averages as an uninterrupted one.

A stop request (SIGTERM or SIGUSR1, :mod:`fidec.preemption`) is honoured at the end of the round it arrives in:
the driver writes a checkpoint of that step (unless the round just wrote one), in which a phase keeps what a
regular checkpoint would end (the online phase's episodes in progress), and raises
:class:`~fidec.errors.Preempted`; a run resumed from it continues exactly as the uninterrupted run does.
"""

from __future__ import annotations

import sys
import time
from typing import Protocol

from fidec.errors import NonFiniteLossError, Preempted
from fidec.preemption import stop_requests
from fidec.train.chunks import first_nonfinite, nonfinite_state


class Phase(Protocol):
    """What differs between the offline and the online phase."""

    end: int  #: the step the phase ends at (its last log, evaluation and checkpoint step)

    def open(self, step: int):
        """Start the phase at ``step`` (it is below ``end``); returns its progress bar."""

    def boundary(self, step: int) -> int:
        """The number of updates of the next chunk."""

    def chunk(self, states, step: int, updates: int) -> tuple[object, dict, float]:
        """Run the chunk: ``(new states, loss terms on the host (updates, members), seconds in compiled calls)``."""

    def commit(self) -> None:
        """The chunk's states were accepted (finite): advance the phase's own counters and rate window."""

    def close_window(self, now: float) -> tuple[float | None, float | None]:
        """``(updates/s in compiled chunks, share of the time in them)`` since the last train record; restarts the
        rate window."""

    def annotate(self, records: list[dict]) -> None:
        """Add the phase's fields to the train records of a log step."""

    def eval_line(self, step: int, evals: list[dict]) -> str:
        """The line printed after an evaluation."""

    def checkpoint_state(self, stopping: bool = False) -> dict:
        """The phase's part of the checkpoint's meta (written to the run folder before the checkpoint).
        ``stopping``: the checkpoint of a stop request, at a step where the uninterrupted run writes none."""

    def after_checkpoint(self, stopping: bool = False) -> None:
        """The checkpoint is written."""

    def advance(self, bar, updates: int) -> None:
        """Move the progress bar after a chunk."""

    def close(self) -> None:
        """Release the phase's resources (environments, prefetch threads); called however the phase ends."""


def drive(run, phases: list[Phase]) -> None:
    """Run ``phases`` one after another from ``run.step``; a phase already complete is skipped.

    ``run`` provides ``config``, ``run_dir``, ``states``, ``step``, ``saved_step``, ``wall``, ``chunk_time``,
    ``loop_time``, ``log_window``, ``member_labels``, ``train_records``, ``evaluate``, ``write_records``,
    ``save_checkpoint`` and ``nonfinite_advice``. SIGTERM and SIGUSR1 stop it at the next chunk boundary with a
    checkpoint (:class:`~fidec.errors.Preempted`); their previous handlers are restored when it returns."""
    window = [run.log_window] if run.log_window else []
    loop_start = time.perf_counter()
    with stop_requests() as stop:
        for phase in phases:
            try:
                if run.step < phase.end:
                    window = _drive_phase(run, phase, window, loop_start, stop)
            finally:
                phase.close()


def _drive_phase(run, phase: Phase, window: list[dict], loop_start: float, stop) -> list[dict]:
    c = run.config
    bar = phase.open(run.step)
    while run.step < phase.end:
        updates = phase.boundary(run.step)
        t0 = time.perf_counter()
        new_states, infos, in_chunk = phase.chunk(run.states, run.step, updates)
        dt = time.perf_counter() - t0
        bad = first_nonfinite(infos, run.step, run.member_labels) or nonfinite_state(
            new_states, run.step, updates, run.member_labels
        )
        if bad:
            bar.close()
            raise NonFiniteLossError(f"{bad}; {run.nonfinite_advice()}")
        run.states = new_states
        run.step += updates
        run.wall += dt
        run.chunk_time += in_chunk
        phase.commit()
        window.append(infos)

        records = []
        if run.step % c.log_every == 0 or run.step == phase.end:
            ups, frac = phase.close_window(time.perf_counter())
            train = run.train_records(window, ups, frac)
            phase.annotate(train)
            records += train
            window = []
        if c.evaluates_at(run.step, phase.end):
            evals = run.evaluate()
            records += evals
            bar.write(phase.eval_line(run.step, evals), file=sys.stderr)
        if records:
            run.write_records(records)
        if run.step % c.checkpoint_every == 0 or run.step == phase.end:
            run.save_checkpoint(window, phase.checkpoint_state())
            phase.after_checkpoint()
        run.loop_time = time.perf_counter() - loop_start
        phase.advance(bar, updates)
        if stop.requested:
            if run.saved_step != run.step:
                run.save_checkpoint(window, phase.checkpoint_state(stopping=True))
                phase.after_checkpoint(stopping=True)
            bar.close()
            raise Preempted(
                f"stopped by {stop.signal.name} at step {run.step} of {run.config.total_steps}, checkpoint saved; "
                f"continue with 'fidec train --resume {run.run_dir}'"
            )
    bar.close()
    return window
