"""The budget frontier: does the Fisher metric's *shape* beat the isotropic one at equal step length?

At one target divergence ε the two metrics allow different step lengths, so success at a shared ε mixes shape
and length. Across an ε sweep each (task, agent variant) traces a frontier: success against ε, against the
measured mean squared displacement E[δ²] (the isotropic divergence, ``sq_displacement``) and against the
measured Fisher divergence (``divergence_fisher``), both averaged over the last fifth of training
(:func:`fidec.report.runs.run_diagnostics`).

The statistic: for FD curve A and DeFlow curve B on one task, interpolate each curve's mean success linearly in
log E[δ²] and average A − B over a grid spanning the displacements both curves reached. Its 95 % CI comes from
a bootstrap over seeds (each (curve, ε) point resamples its seeds). A CI that excludes 0 answers "at equal step
length, FD is ahead (or behind)"; one that covers 0 says no difference was resolved.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fidec.plots import plt  # pyplot with the backend fidec.plots sets
from fidec.report.runs import run_diagnostics

#: x axes of the frontier: (key in the Point, axis label, log scale)
AXES = (
    ("eps", "target divergence ε", True),
    ("sq_displacement", "measured E[δ²] (mean squared displacement)", True),
    ("divergence_fisher", "measured Fisher divergence E[δᵀF̂δ]/d", True),
)
MATCH_AXIS = "sq_displacement"


@dataclass(frozen=True)
class Point:
    env: str
    curve: str  # the method label without its target_divergence
    agent: str
    eps: float
    seed: int
    score: float
    sq_displacement: float
    divergence_fisher: float


def curve_label(label: str) -> str:
    """'fd [fisher_locality=per-action,target_divergence=0.003]' -> 'fd [fisher_locality=per-action]'."""
    m = re.fullmatch(r"(\S+) \[(.*)\]", label)
    if not m:
        return label
    parts = [p for p in m.group(2).split(",") if not p.startswith("target_divergence=")]
    return m.group(1) if not parts else f"{m.group(1)} [{','.join(parts)}]"


def frontier_points(runs) -> list[Point]:
    """One point per refinement run (fd/deflow) with a score and both measured divergences."""
    out = []
    for r in runs:
        if r.agent not in ("fd", "deflow") or r.score is None:
            continue
        d = run_diagnostics(r)
        out.append(
            Point(
                env=r.env,
                curve=curve_label(r.label),
                agent=r.agent,
                eps=float(r.config["target_divergence"]),
                seed=r.seed,
                score=float(r.score),
                sq_displacement=float(d.get("sq_displacement", d.get("divergence_isotropic", math.nan))),
                divergence_fisher=float(d.get("divergence_fisher", math.nan)),
            )
        )
    return out


def has_frontier(points: list[Point]) -> bool:
    """True when some (task, curve) was run at two or more target divergences."""
    eps: dict[tuple, set] = {}
    for p in points:
        eps.setdefault((p.env, p.curve), set()).add(p.eps)
    return any(len(v) >= 2 for v in eps.values())


def _by_eps(points: list[Point]) -> dict[float, list[Point]]:
    out: dict[float, list[Point]] = {}
    for p in points:
        out.setdefault(p.eps, []).append(p)
    return dict(sorted(out.items()))


def _curve_xy(groups: list[list[Point]], axis: str) -> tuple[np.ndarray, np.ndarray]:
    """(log10 mean x, mean success) per ε point, sorted by x, for finite positive x."""
    xs, ys = [], []
    for g in groups:
        x = np.mean([getattr(p, axis) for p in g])
        if math.isfinite(x) and x > 0:
            xs.append(math.log10(x))
            ys.append(float(np.mean([p.score for p in g])))
    order = np.argsort(xs)
    return np.asarray(xs)[order], np.asarray(ys)[order]


def matched_difference(
    a: list[Point], b: list[Point], axis: str = MATCH_AXIS, reps: int = 2000, grid: int = 64, seed: int = 0
) -> dict:
    """Mean of success_A − success_B over the shared range of ``axis`` (log scale), with a seed-bootstrap CI."""
    ga, gb = list(_by_eps(a).values()), list(_by_eps(b).values())

    def diff(groups_a, groups_b):
        xa, ya = _curve_xy(groups_a, axis)
        xb, yb = _curve_xy(groups_b, axis)
        if len(xa) < 2 or len(xb) < 2:
            return None, None
        lo, hi = max(xa[0], xb[0]), min(xa[-1], xb[-1])
        if hi <= lo:
            return None, (lo, hi)
        xs = np.linspace(lo, hi, grid)
        return float(np.mean(np.interp(xs, xa, ya) - np.interp(xs, xb, yb))), (lo, hi)

    point, span = diff(ga, gb)
    result = {"axis": axis, "points_a": len(ga), "points_b": len(gb)}
    if point is None:
        result.update(difference=None, ci=None, overlap=None if span is None else [10 ** span[0], 10 ** span[1]])
        return result
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(reps):
        ra = [[g[i] for i in rng.integers(0, len(g), len(g))] for g in ga]
        rb = [[g[i] for i in rng.integers(0, len(g), len(g))] for g in gb]
        d, _ = diff(ra, rb)
        if d is not None:
            boots.append(d)
    ci = [float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))] if boots else None
    result.update(difference=point, ci=ci, overlap=[10 ** span[0], 10 ** span[1]], bootstrap_reps=len(boots))
    return result


def verdict(d: dict) -> str:
    if d.get("difference") is None:
        return "no shared range of step lengths: not comparable"
    lo, hi = d["ci"]
    if lo > 0:
        return "FD ahead at equal step length"
    if hi < 0:
        return "FD behind at equal step length"
    return "no difference resolved"


def comparisons(points: list[Point], reps: int = 2000) -> list[dict]:
    """Every FD curve against every DeFlow curve on each task: matched-displacement and matched-ε differences."""
    out = []
    for env in sorted({p.env for p in points}):
        here = [p for p in points if p.env == env]
        fd = sorted({p.curve for p in here if p.agent == "fd"})
        de = sorted({p.curve for p in here if p.agent == "deflow"})
        for a in fd:
            for b in de:
                pa = [p for p in here if p.curve == a]
                pb = [p for p in here if p.curve == b]
                row = {"env": env, "fd": a, "deflow": b}
                row["at_equal_displacement"] = matched_difference(pa, pb, MATCH_AXIS, reps)
                row["at_equal_eps"] = matched_difference(pa, pb, "eps", reps)
                row["verdict"] = verdict(row["at_equal_displacement"])
                out.append(row)
    return out


def table(points: list[Point]) -> dict:
    """env -> curve -> ε -> mean/std of success and of both measured divergences over seeds."""
    out: dict = {}
    for p in points:
        out.setdefault(p.env, {}).setdefault(p.curve, {}).setdefault(p.eps, []).append(p)
    res: dict = {}
    for env, curves in out.items():
        for curve, by in curves.items():
            for eps, g in sorted(by.items()):
                cell = {"seeds": len(g)}
                for k in ("score", "sq_displacement", "divergence_fisher"):
                    v = np.array([getattr(q, k) for q in g], float)
                    cell[k] = float(np.nanmean(v)) if np.isfinite(v).any() else None
                    cell[f"{k}_std"] = float(np.nanstd(v)) if np.isfinite(v).any() else None
                res.setdefault(env, {}).setdefault(curve, {})[f"{eps:g}"] = cell
    return res


def plot(points: list[Point], env: str, path: Path, colors: dict) -> Path:
    """Three panels for one task: success against ε, E[δ²] and the Fisher divergence; mean ± std over seeds."""
    here = [p for p in points if p.env == env]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, (key, label, log) in zip(axes, AXES, strict=True):
        for curve in sorted({p.curve for p in here}):
            groups = list(_by_eps([p for p in here if p.curve == curve]).values())
            xs = np.array([np.nanmean([getattr(p, key) for p in g]) for g in groups])
            ys = np.array([np.mean([p.score for p in g]) for g in groups]) * 100
            sd = np.array([np.std([p.score for p in g]) for g in groups]) * 100
            order = np.argsort(xs)
            xs, ys, sd = xs[order], ys[order], sd[order]
            c = colors.get(curve)
            ax.plot(xs, ys, "o-", label=curve, color=c)
            ax.fill_between(xs, ys - sd, ys + sd, alpha=0.15, color=c)
            for p in here:
                if p.curve == curve:
                    ax.scatter(getattr(p, key), p.score * 100, s=8, alpha=0.4, color=c)
        if log:
            ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("success (%)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Budget frontier: {env} (mean ± std over seeds; dots are seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _fmt_diff(d: dict) -> str:
    if d.get("difference") is None:
        return "not comparable (no shared range)"
    lo, hi = d["ci"]
    return f"{100 * d['difference']:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]"


def markdown(tab: dict, comps: list[dict], figures: dict) -> list[str]:
    lines = [
        "## Budget frontier: success against ε and against the step actually taken",
        "",
        "Each (task, agent variant) run at several target divergences ε. Measured E[δ²] and Fisher divergence are "
        "means over the last fifth of training. The matched comparison interpolates each curve's mean success in "
        "log E[δ²] and averages FD − DeFlow over the displacements both reached; 95 % CIs from a bootstrap over "
        "seeds (success points, percentage points).",
        "",
    ]
    for env, curves in tab.items():
        lines += [f"### {env}", "", "| variant | ε | seeds | success % | E[δ²] | Fisher divergence |"]
        lines.append("|---|---|---|---|---|---|")
        for curve, by in curves.items():
            for eps, c in by.items():
                sq, fi = c["sq_displacement"], c["divergence_fisher"]
                lines.append(
                    f"| {curve} | {eps} | {c['seeds']} | {100 * c['score']:.1f} ± {100 * c['score_std']:.1f} | "
                    f"{'–' if sq is None else f'{sq:.2e}'} | {'–' if fi is None else f'{fi:.2e}'} |"
                )
        if env in figures:
            lines += ["", f"![frontier {env}]({figures[env]})"]
        lines.append("")
    if comps:
        lines += [
            "### At equal step length, is FD ahead?",
            "",
            "| task | FD | DeFlow | FD − DeFlow at equal E[δ²] | shared E[δ²] range | at equal ε | verdict |",
            "|---|---|---|---|---|---|---|",
        ]
        for c in comps:
            m = c["at_equal_displacement"]
            rng = "–" if m.get("overlap") is None else f"{m['overlap'][0]:.1e}–{m['overlap'][1]:.1e}"
            lines.append(
                f"| {c['env']} | {c['fd']} | {c['deflow']} | {_fmt_diff(m)} | {rng} | {_fmt_diff(c['at_equal_eps'])} "
                f"| {c['verdict']} |"
            )
        lines.append("")
    return lines
