"""Training: compiled chunks of updates over device-resident data, several seeds at once, and one loop for both
phases of a run.

- :mod:`fidec.train.chunks`: the compiled chunks (offline, host-streamed pixels, online), the batched acting
  policy, the states of all members, and the finite checks after every chunk;
- :mod:`fidec.train.folder`: a run folder's lifecycle (claim, config.json, checkpoints, summaries);
- :mod:`fidec.train.loop`: the loop driver (boundary, chunk, finite check, log window, evaluation, checkpoint);
- :mod:`fidec.train.offline` and :mod:`fidec.train.online`: the two phases the driver runs;
- :mod:`fidec.train.trainer`: :class:`Trainer`, which owns a run folder and what both phases share.

One call of a compiled chunk runs ``n`` updates (``lax.scan``) for every seed (``vmap``), sampling minibatches on
the device. Between chunks the host logs (loss terms averaged over the chunk, plus log-time diagnostics that need
extra ODE solves), evaluates, and checkpoints. Every random draw comes from the checkpointed state, so a resumed run
continues bit-identically.
"""

from fidec.train.chunks import (
    finite_flags,
    first_nonfinite,
    init_states,
    make_act_fn,
    make_chunk_fn,
    make_online_chunk_fn,
    make_stream_chunk_fn,
    nonfinite_state,
    seed_slice,
)
from fidec.train.folder import format_summary, online_summary, sub_run_name, success_timing, versions
from fidec.train.trainer import DIAG_BATCH, Trainer

__all__ = [
    "DIAG_BATCH",
    "Trainer",
    "finite_flags",
    "first_nonfinite",
    "format_summary",
    "init_states",
    "make_act_fn",
    "make_chunk_fn",
    "make_online_chunk_fn",
    "make_stream_chunk_fn",
    "nonfinite_state",
    "online_summary",
    "seed_slice",
    "sub_run_name",
    "success_timing",
    "versions",
]
