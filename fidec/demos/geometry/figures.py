"""The figures of the geometry demo."""

from __future__ import annotations

import math
from pathlib import Path

import jax.numpy as jnp
import numpy as np
from matplotlib.patches import Ellipse

from fidec.demos.geometry.run import GeometryRun
from fidec.demos.geometry.setup import ACTION_DIM, VARIANTS, DemoSettings
from fidec.plots import plt, save_figure

SHOWN = ("isotropic", "per-state/velocity", "per-action/velocity")  # the side-by-side figure, paper estimator
COLORS = {"isotropic": "tab:orange", "per-state": "tab:blue", "per-action": "tab:red"}
GRID = 161


def _color(vkey: str) -> str:
    return COLORS[vkey.split("/")[0]]


def _style(vkey: str) -> str:
    return "--" if vkey.endswith("/exact") else "-"


def _grid(run: GeometryRun):
    if not hasattr(run, "grid"):
        xs = np.linspace(-1, 1, GRID, dtype=np.float32)
        xx, yy = np.meshgrid(xs, xs)
        lp = np.asarray(run.logp_fn(jnp.asarray(np.stack([xx.ravel(), yy.ravel()], -1)))).reshape(GRID, GRID)
        run.grid = (xx, yy, lp)
    return run.grid


def _background(ax, run: GeometryRun, *, region=True):
    xx, yy, lp = _grid(run)
    ax.contourf(xx, yy, np.exp(lp), levels=12, cmap="Greys", alpha=0.45)
    if region:
        ax.contour(xx, yy, lp, levels=[run.threshold], colors="k", linewidths=1.0, linestyles="--")
    lo = np.maximum(np.quantile(run.data, 0.001, axis=0) - 0.15, -1.0)
    hi = np.minimum(np.quantile(run.data, 0.999, axis=0) + 0.15, 1.0)
    ax.set(xlim=(lo[0], hi[0]), ylim=(lo[1], hi[1]), aspect="equal")
    ax.tick_params(labelsize=7)


def _reward_arrow(ax, run: GeometryRun):
    w = np.asarray(run.dist.reward_w)
    (x0, _), (y0, _) = ax.get_xlim(), ax.get_ylim()
    start = np.array([x0 + 0.08, y0 + 0.12])
    ax.annotate("", xy=start + 0.25 * w, xytext=start, arrowprops={"arrowstyle": "-|>", "color": "tab:green", "lw": 2})
    ax.text(start[0], start[1] - 0.09, r"$\nabla r$", color="tab:green", fontsize=9)


def _ellipses(ax, run: GeometryRun, vkey: str, rho: float = 0.035, every: int = 1):
    """The trust region ``delta^T E[F_hat] delta / d = rho^2`` at each ``every``-th ellipse point."""
    for a, f in zip(run.ellipse_points[::every], run.ellipses[vkey][::every], strict=True):
        lam, vec = np.linalg.eigh(f)
        axes = 2 * rho * np.sqrt(ACTION_DIM / np.maximum(lam, 1e-6))
        ang = math.degrees(math.atan2(vec[1, 0], vec[0, 0]))
        ax.add_patch(Ellipse(a, axes[0], axes[1], angle=ang, fill=False, color=_color(vkey), lw=1.0))
        ax.plot(*a, ".", color="k", ms=2)


def _refined(ax, run: GeometryRun, vkey: str, eps_index: int, n_arrows: int = 150, q_name: str = "reward"):
    acts = run.refined[(q_name, vkey)][eps_index]
    idx = np.random.default_rng(0).choice(len(acts), size=min(n_arrows, len(acts)), replace=False)
    ax.scatter(*run.base[:1000].T, s=1, c="k", alpha=0.3, label="base actions", zorder=2)
    ax.scatter(*acts[:1000].T, s=2, c=_color(vkey), alpha=0.5, label="refined actions", zorder=2)
    d = acts[idx] - run.base[idx]
    ax.quiver(
        *run.base[idx].T,
        *d.T,
        angles="xy",
        scale_units="xy",
        scale=1,
        width=0.005,
        color="k",
        zorder=3,
        headwidth=3.5,
        headlength=4,
    )
    row = run.metrics["results" if q_name == "reward" else "results_critic"][vkey][eps_index]
    label = next(v.label for v in VARIANTS if v.key == vkey)
    ax.set_title(
        f"{label}\nreward {row['reward']:.3f}, in 99% region {100 * row['in_region']:.1f}%, "
        f"log p {row['log_density']:.2f}",
        fontsize=8,
    )


def _frontier(ax, run: GeometryRun, ykey: str = "in_region", results_key: str = "results"):
    m = run.metrics
    base_y = m["base"][ykey] * (100 if ykey == "in_region" else 1)
    for vkey, rows in m[results_key].items():
        label = next(v.label for v in VARIANTS if v.key == vkey)
        xs = [m["base"]["reward"]] + [r["reward"] for r in rows]
        ys = [base_y] + [r[ykey] * (100 if ykey == "in_region" else 1) for r in rows]
        ax.plot(xs, ys, _style(vkey), color=_color(vkey), marker="o", ms=3, lw=1.3, label=label)
    ax.plot(m["base"]["reward"], base_y, "k*", ms=9, label="behaviour (eps = 0)")
    ax.set_xlabel("mean reward of refined actions")
    ax.set_ylabel("% inside the 99% region" if ykey == "in_region" else "mean log-density")
    if ykey == "log_density":
        ax.set_yscale("symlog", linthresh=1.0)
    ax.grid(alpha=0.3)


def _eps_index(settings: DemoSettings) -> int:
    return int(np.argmin([abs(math.log(e / settings.eps_show)) for e in settings.eps]))


def figures(runs: list[GeometryRun], out: Path) -> list[Path]:
    written = []
    n = len(runs)
    k = _eps_index(runs[0].settings)
    eps = runs[0].settings.eps[k]

    # behaviour samples and density contours
    fig, axes = plt.subplots(1, n, figsize=(5 * n, 5), squeeze=False)
    for ax, run in zip(axes[0], runs, strict=True):
        _background(ax, run)
        ax.scatter(*run.data[:2500].T, s=1, c="tab:purple", alpha=0.5)
        _reward_arrow(ax, run)
        ax.set_title(f"{run.dist.name}: behaviour samples, density, 99% region (dashed)", fontsize=9)
    written.append(save_figure(fig, out / "behaviour.png"))

    # Fisher ellipses
    fkeys = [v.key for v in VARIANTS if v.key in runs[0].ellipses]
    fig, axes = plt.subplots(n, len(fkeys), figsize=(4.2 * len(fkeys), 4.4 * n), squeeze=False)
    for row, run in zip(axes, runs, strict=True):
        for ax, vkey in zip(row, fkeys, strict=True):
            _background(ax, run)
            _ellipses(ax, run, vkey)
            f = run.metrics["fisher"][vkey]
            extra = f", normal share {f['normal_penalty_share']:.2f}" if "normal_penalty_share" in f else ""
            ax.set_title(
                f"{run.dist.name}: {vkey}\nE[F_hat] cond {f['expected_fisher_cond_mean']:.1f}{extra}", fontsize=8
            )
    fig.suptitle("Fisher trust regions (delta^T E[F_hat|a] delta / d = const) at base actions", fontsize=10)
    written.append(save_figure(fig, out / "fisher_ellipses.png"))

    # refined actions at equal eps
    shown = [v for v in SHOWN if ("reward", v) in runs[0].refined]
    fig, axes = plt.subplots(n, len(shown), figsize=(4.6 * len(shown), 4.8 * n), squeeze=False)
    for row, run in zip(axes, runs, strict=True):
        for ax, vkey in zip(row, shown, strict=True):
            _background(ax, run)
            _refined(ax, run, vkey, k)
            _reward_arrow(ax, run)
    fig.suptitle(f"base -> refined actions at equal target divergence eps = {eps:g} (each metric's own D)")
    written.append(save_figure(fig, out / "refined.png"))

    # frontiers
    for results_key, name in (("results", "frontier.png"), ("results_critic", "frontier_critic.png")):
        if results_key not in runs[0].metrics:
            continue
        fig, axes = plt.subplots(n, 2, figsize=(11, 4.2 * n), squeeze=False)
        for row, run in zip(axes, runs, strict=True):
            _frontier(row[0], run, "in_region", results_key)
            _frontier(row[1], run, "log_density", results_key)
            row[0].set_title(f"{run.dist.name}: support kept vs reward (eps sweep)", fontsize=9)
            row[1].set_title(f"{run.dist.name}: log-density under the behaviour vs reward", fontsize=9)
        axes[0, 0].legend(fontsize=7)
        q = "a critic learned from rewards" if results_key == "results_critic" else "the known reward"
        fig.suptitle(f"reward-versus-support frontier, refinement against {q}")
        written.append(save_figure(fig, out / name))

    # the main figure: density + per-action ellipses | refined x 3 | frontier
    fig, axes = plt.subplots(n, 2 + len(shown), figsize=(4.3 * (2 + len(shown)), 4.5 * n), squeeze=False)
    for row, run in zip(axes, runs, strict=True):
        _background(row[0], run)
        row[0].scatter(*run.data[:1500].T, s=1, c="tab:purple", alpha=0.35)
        if "per-action/velocity" in run.ellipses:
            _ellipses(row[0], run, "per-action/velocity", every=2)
        _reward_arrow(row[0], run)
        row[0].set_title(
            f"{run.dist.name}: behaviour, 99% region (dashed),\nper-action Fisher trust regions", fontsize=8
        )
        for ax, vkey in zip(row[1:-1], shown, strict=True):
            _background(ax, run)
            _refined(ax, run, vkey, k, n_arrows=120)
        _frontier(row[-1], run, "in_region")
        row[-1].set_title(f"{run.dist.name}: frontier over eps", fontsize=8)
    axes[0, -1].legend(fontsize=6, loc="upper right")
    fig.suptitle(f"Refinement at equal target divergence eps = {eps:g}: isotropic vs Fisher (per-state, per-action)")
    fig.tight_layout()
    written.append(save_figure(fig, out / "geometry.png"))
    return written
