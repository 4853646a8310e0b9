"""The one loop driver: both phases of a run (offline updates, then online fine-tuning) go through :func:`drive`.

Each round: the phase says how many updates run before the next boundary (a log, evaluation or checkpoint step,
or its own limit), runs them as one compiled chunk (the online phase first collects the environment steps they
train on), the driver checks that every loss term and the new state are finite, then closes the log window into
train records, evaluates, writes the records, and checkpoints, each at its step. A phase object supplies only what
differs between the phases (:class:`Phase`); the run (:class:`fidec.train.Trainer`) holds the states, the step
counter, the run folder and the record streams.

The loss terms since the last train record (the log window) travel from one phase to the next and with every
checkpoint, so a resumed run logs the same averages as an uninterrupted one.
"""

from __future__ import annotations

import sys
import time
from typing import Protocol

from fidec.errors import NonFiniteLossError
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

    def checkpoint_state(self) -> dict:
        """The phase's part of the checkpoint's meta (written to the run folder before the checkpoint)."""

    def after_checkpoint(self) -> None:
        """The checkpoint is written."""

    def advance(self, bar, updates: int) -> None:
        """Move the progress bar after a chunk."""

    def close(self) -> None:
        """Release the phase's resources (environments, prefetch threads); called however the phase ends."""


def drive(run, phases: list[Phase]) -> None:
    """Run ``phases`` one after another from ``run.step``; a phase already complete is skipped.

    ``run`` provides ``config``, ``states``, ``step``, ``wall``, ``chunk_time``, ``loop_time``, ``log_window``,
    ``member_labels``, ``train_records``, ``evaluate``, ``write_records``, ``save_checkpoint`` and
    ``nonfinite_advice``."""
    window = [run.log_window] if run.log_window else []
    loop_start = time.perf_counter()
    for phase in phases:
        try:
            if run.step < phase.end:
                window = _drive_phase(run, phase, window, loop_start)
        finally:
            phase.close()


def _drive_phase(run, phase: Phase, window: list[dict], loop_start: float) -> list[dict]:
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
    bar.close()
    return window
