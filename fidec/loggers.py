"""One record stream, several sinks: metrics.jsonl/csv (always), TensorBoard and Weights & Biases (optional).

Every record the trainer makes (``{"kind": "train"|"eval", "step": ..., "seed": ..., name: value, ...}``)
goes to every sink. The run folder's :class:`~fidec.runs.MetricsLog` is the record of truth (resume
truncates it); the optional sinks mirror its numbers under ``<kind>/<name>`` (``train/critic_loss``,
``eval/success``) with ``step`` as the x axis, one TensorBoard run / W&B run per seed:

- ``tensorboard`` (extra ``fidec[tensorboard]``, tensorboardX): event files in ``RUN/tensorboard/seed<S>``;
  view with ``tensorboard --logdir RUN/tensorboard``. A resumed run purges the events after its checkpoint.
- ``wandb`` (extra ``fidec[wandb]``): offline by default (no network, no account), files in ``RUN/wandb``;
  upload later with ``wandb sync RUN/wandb/offline-run-*``, or set ``WANDB_MODE=online`` to stream.
  ``WANDB_PROJECT`` names the project (default ``fidec``).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from fidec.config.schema import LOGGERS, parse_loggers  # noqa: F401  (the names are Config.logger's rule)
from fidec.errors import FidecError
from fidec.runs import MetricsLog, _clean

#: the fields of a record that are its coordinates, not values
COORDINATES = ("kind", "step", "seed")


def scalars(record: dict) -> dict[str, float]:
    """The record's numeric values under ``<kind>/<name>`` (None, text and the coordinates left out)."""
    out = {}
    for k, v in record.items():
        if k in COORDINATES or isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        out[f"{record['kind']}/{k}"] = float(v)
    return out


def _missing(extra: str, package: str) -> FidecError:
    return FidecError(f"--logger {extra} needs the {package} package; install it with pip install 'fidec[{extra}]'")


PACKAGES = {"tensorboard": "tensorboardX", "wandb": "wandb"}


def require_loggers(text: str | None) -> None:
    """Raise the one-line FidecError naming the extra to install if a named logger's package is missing."""
    import importlib

    for name in parse_loggers(text):
        try:
            importlib.import_module(PACKAGES[name])
        except ImportError:
            raise _missing(name, PACKAGES[name]) from None


class TensorBoardSink:
    """tensorboardX event files, one folder per seed under ``RUN/tensorboard``."""

    def __init__(self, run_dir: Path, seeds: list[int], start_step: int = 0):
        try:
            from tensorboardX import SummaryWriter  # an optional dependency (fidec[tensorboard])
        except ImportError:
            raise _missing("tensorboard", "tensorboardX") from None
        purge = start_step + 1 if start_step else None  # a resumed run redoes the steps after its checkpoint
        self.writers = {
            s: SummaryWriter(logdir=str(run_dir / "tensorboard" / f"seed{s}"), purge_step=purge) for s in seeds
        }

    def append(self, records: list[dict]) -> None:
        for r in records:
            w = self.writers[r["seed"]]
            for tag, value in scalars(r).items():
                w.add_scalar(tag, value, global_step=int(r["step"]))
        for w in self.writers.values():
            w.flush()

    def close(self) -> None:
        for w in self.writers.values():
            w.close()


class WandbSink:
    """One W&B run per seed (group = the run folder), offline unless ``WANDB_MODE`` says otherwise."""

    def __init__(self, run_dir: Path, seeds: list[int], config: dict):
        try:
            import wandb  # an optional dependency (fidec[wandb])
        except ImportError:
            raise _missing("wandb", "wandb") from None
        group = run_dir.resolve().name
        # A stable id per (folder, seed): a resumed run continues the same W&B run.
        tag = hashlib.sha1(str(run_dir.resolve()).encode()).hexdigest()[:10]
        self.runs = {}
        for s in seeds:
            run = wandb.init(
                dir=str(run_dir),
                project=os.environ.get("WANDB_PROJECT", "fidec"),
                group=group,
                name=f"{group}-seed{s}",
                id=f"fidec-{tag}-seed{s}",
                mode=os.environ.get("WANDB_MODE", "offline"),
                config={**config, "seed": s},
                resume="allow",
                reinit="create_new",
            )
            run.define_metric("step")
            run.define_metric("*", step_metric="step")
            self.runs[s] = run

    def append(self, records: list[dict]) -> None:
        for r in records:
            self.runs[r["seed"]].log({**scalars(r), "step": int(r["step"])})

    def close(self) -> None:
        for run in self.runs.values():
            run.finish()


class RecordStream:
    """``append(records)`` appends to metrics.jsonl/csv first (:class:`~fidec.runs.MetricsLog`), then mirrors to the
    other sinks."""

    def __init__(self, log: MetricsLog, sinks: list | None = None):
        self.log = log
        self.sinks = list(sinks or [])

    def append(self, records: list[dict]) -> None:
        records = [{k: _clean(v) for k, v in r.items()} for r in records]
        self.log.append(records)
        for sink in self.sinks:
            sink.append(records)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()
        self.sinks = []


def open_stream(
    log: MetricsLog, loggers: str | None, seeds: list[int], config: dict | None = None, start_step: int = 0
) -> RecordStream:
    """The record stream of a run folder with the sinks named by ``loggers`` (see :func:`parse_loggers`)."""
    run_dir = Path(log.dir)
    sinks: list = []
    try:
        for name in parse_loggers(loggers):
            if name == "tensorboard":
                sinks.append(TensorBoardSink(run_dir, seeds, start_step))
            elif name == "wandb":
                sinks.append(WandbSink(run_dir, seeds, config or {}))
    except BaseException:
        for sink in sinks:
            sink.close()
        raise
    return RecordStream(log, sinks)
