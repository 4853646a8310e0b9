"""Figures from run folders (matplotlib, Agg backend, files written atomically)."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

from fidec.io import atomic_write_bytes  # noqa: E402
from fidec.runs import MetricsLog


def save_figure(fig, path: str | os.PathLike) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def learning_curve(run_dir, path) -> Path:
    """Success rate against steps (each seed thin, mean thick) and the critic / divergence terms."""
    log = MetricsLog(run_dir)
    evals, train = log.records("eval"), log.records("train")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    seeds = sorted({r["seed"] for r in evals})
    steps = sorted({r["step"] for r in evals})
    for s in seeds:
        rows = sorted((r for r in evals if r["seed"] == s), key=lambda r: r["step"])
        axes[0].plot([r["step"] for r in rows], [r["success"] for r in rows], lw=0.8, alpha=0.5)
    mean = [np.mean([r["success"] for r in evals if r["step"] == st]) for st in steps]
    axes[0].plot(steps, mean, "k-o", lw=2, ms=3, label="mean over seeds")
    axes[0].set(xlabel="gradient steps", ylabel="success rate", ylim=(-0.02, 1.02), title="evaluation")
    axes[0].legend(loc="upper left", fontsize=8)
    for key in ("critic_loss", "divergence", "distill_loss", "flow_loss"):
        pts = [(r["step"], r[key]) for r in train if isinstance(r.get(key), (int, float))]
        if pts:
            xs, ys = zip(*sorted(pts), strict=True)
            axes[1].plot(xs, ys, ".-", ms=2, label=key)
    axes[1].set(xlabel="gradient steps", yscale="log", title="training terms")
    online_start = _online_start(run_dir)
    if online_start is not None:  # offline-to-online: the online episodes' success and where the phase starts
        on = [r for r in train if r.get("phase") == "online" and isinstance(r.get("online_success"), (int, float))]
        on_steps = sorted({r["step"] for r in on})
        if on_steps:
            ys = [np.mean([r["online_success"] for r in on if r["step"] == st]) for st in on_steps]
            axes[0].plot(on_steps, ys, "--", color="tab:green", lw=1.2, label="online episodes (training)")
        for ax in axes:
            ax.axvline(online_start, color="tab:red", ls=":", lw=1.2, label="online phase starts")
        axes[0].legend(loc="upper left", fontsize=8)
    axes[1].legend(fontsize=8)
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(6))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x / 1000:g}k" if x >= 1000 else f"{x:g}"))
    fig.suptitle(Path(run_dir).name)
    return save_figure(fig, path)


def _online_start(run_dir) -> int | None:
    """The step where the run's online phase starts (its offline steps), or None for an offline run."""
    try:
        cfg = json.loads((Path(run_dir) / "config.json").read_text())["config"]
    except (OSError, ValueError, KeyError):
        return None
    return int(cfg["steps"]) if cfg.get("online_steps") else None
