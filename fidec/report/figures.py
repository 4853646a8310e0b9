"""The figures of a report: aggregates with CIs, probabilities of improvement, learning curves per family."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from fidec.plots import plt, save_figure  # pyplot with the backend fidec.plots sets
from fidec.report.runs import Run, method_order, task_label, task_order


def method_colors(methods: list[str]) -> dict[str, str]:
    """One colour per method, from matplotlib's colour cycle."""
    cyc = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {m: cyc[i % len(cyc)] for i, m in enumerate(methods)}


def plot_aggregates(aggs: dict[str, dict], path: Path, colors: dict) -> Path:
    methods = list(aggs)
    fig, axes = plt.subplots(1, 2, figsize=(9, 0.5 + 0.45 * len(methods)), squeeze=False)
    for ax, (key, title) in zip(axes[0], (("iqm", "IQM"), ("mean", "Mean")), strict=True):
        for i, m in enumerate(methods):
            if aggs[m][f"{key}_ci"] is not None:
                lo, hi = aggs[m][f"{key}_ci"]
                ax.barh(i, 100 * (hi - lo), left=100 * lo, height=0.6, color=colors[m], alpha=0.75)
            ax.plot([100 * aggs[m][key]] * 2, [i - 0.3, i + 0.3], color="k", lw=1.5)
            ax.plot(100 * aggs[m][key], i, "ko", ms=3)
        ax.set_yticks(range(len(methods)), methods if ax is axes[0][0] else [""] * len(methods))
        ax.set(xlabel="success rate (%)", title=f"{title} (95% stratified-bootstrap CI)")
        ax.grid(axis="x", alpha=0.3)
        ax.invert_yaxis()
    return save_figure(fig, path)


def plot_poi(poi: dict[str, dict], path: Path) -> Path:
    keys = list(poi)
    fig, ax = plt.subplots(figsize=(6, 0.6 + 0.45 * len(keys)))
    for i, k in enumerate(keys):
        if poi[k]["ci"] is not None:
            lo, hi = poi[k]["ci"]
            ax.barh(i, hi - lo, left=lo, height=0.6, color="tab:blue", alpha=0.6)
        ax.plot([poi[k]["poi"]] * 2, [i - 0.3, i + 0.3], color="k", lw=1.5)
        ax.plot(poi[k]["poi"], i, "ko", ms=4, clip_on=False)
    ax.axvline(0.5, color="grey", ls="--", lw=1)
    ax.set_yticks(range(len(keys)), [f"P({k.replace(' vs ', ' > ')})" for k in keys])
    ax.set(xlim=(-0.02, 1.02), xlabel="probability of improvement (95% CI)")
    ax.invert_yaxis()
    return save_figure(fig, path)


def plot_curves(runs: list[Run], family: str, path: Path, colors: dict) -> Path:
    """One panel per task of ``family``: mean success over seeds per method, band = ± one std over seeds."""
    mine = [r for r in runs if r.family == family]
    envs = task_order(r.env for r in mine)
    cols = min(5, len(envs))
    rows = math.ceil(len(envs) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False, sharey=True)
    for ax, env in zip(axes.flat, envs, strict=False):
        for m in method_order(r.label for r in mine):
            rs = [r for r in mine if r.env == env and r.label == m]
            if not rs:
                continue
            steps = sorted({s for r in rs for s in r.steps})
            vals = [[r.success[r.steps.index(s)] for r in rs if s in r.steps] for s in steps]
            mean = np.array([np.mean(v) for v in vals])
            std = np.array([np.std(v) for v in vals])
            ax.plot(steps, 100 * mean, color=colors[m], lw=1.6, label=f"{m} ({len(rs)})")
            ax.fill_between(
                steps, 100 * np.clip(mean - std, 0, 1), 100 * np.clip(mean + std, 0, 1), color=colors[m], alpha=0.2
            )
        starts = sorted({int(r.config["steps"]) for r in mine if r.env == env and r.config.get("online_steps")})
        for i, st in enumerate(starts):  # offline-to-online runs: where the online phase starts
            ax.axvline(st, color="tab:red", ls=":", lw=1.2, label="online phase starts" if i == 0 else None)
        ax.set(title=task_label(env), xlabel="gradient steps", ylim=(-2, 102))
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(envs) :]:
        ax.set_visible(False)
    axes[0][0].set_ylabel("success rate (%)")
    axes[0][0].legend(fontsize=7, loc="upper left", title="method (seeds)", title_fontsize=7)
    fig.suptitle(f"{family}: mean over seeds, band ± 1 std", y=1.0)
    fig.tight_layout()
    return save_figure(fig, path)
