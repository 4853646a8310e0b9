"""``fidec report``: Markdown + PNG figures that answer "does Fisher Decorator beat its baselines?".

Input: run folders, or folders holding run folders (a sweep's ``OUT``). Each (run folder, seed) is one
run. A run's score follows the paper's protocol: the mean of its last three evaluations (success rate).

Sections: setup; per-task table (mean ± std over seeds); per-family aggregates; IQM and mean over all
runs with 95 % stratified-bootstrap confidence intervals and the probability of improvement of FD over
each baseline (rliable; Agarwal et al., 2021); learning curves per task with seed bands; training
diagnostics (α, divergence in both metrics, refinement length, Q gain, Fisher anisotropy); the published
numbers of method.md beside ours, with what differs; the runs left out and why. ``report.json`` holds the
same numbers for scripts.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fidec.config import total_updates
from fidec.errors import FidecError
from fidec.io import atomic_write_text, read_json, write_json
from fidec.runs import paper_score

#: Published per-family mean success (%) on OGBench state tasks (5 tasks each, 1M steps, official datasets).
#: Source: /work/shared/method.md, section "Published numbers to compare with" (IQL, ReBRAC and FQL from the
#: FQL paper; DeFlow from the DeFlow paper; Fisher Decorator from its paper). None: not available to us.
PUBLISHED_SOURCE = "method.md, 'Published numbers to compare with' (per-family mean success %, OGBench state)"
PUBLISHED_METHODS = ("IQL", "ReBRAC", "FQL", "DeFlow", "Fisher Decorator")
PUBLISHED: dict[str, dict[str, float | None]] = {
    "antmaze-large": {"IQL": 53, "ReBRAC": 81, "FQL": 79, "DeFlow": 81, "Fisher Decorator": 87},
    "antmaze-giant": {"IQL": 4, "ReBRAC": 26, "FQL": 9, "DeFlow": 12, "Fisher Decorator": None},
    "humanoidmaze-medium": {"IQL": 33, "ReBRAC": 22, "FQL": 58, "DeFlow": 48, "Fisher Decorator": 72},
    "humanoidmaze-large": {"IQL": 2, "ReBRAC": 2, "FQL": 4, "DeFlow": 5, "Fisher Decorator": None},
    "antsoccer-arena": {"IQL": 8, "ReBRAC": 0, "FQL": 60, "DeFlow": 67, "Fisher Decorator": None},
    "cube-single": {"IQL": 83, "ReBRAC": 91, "FQL": 96, "DeFlow": 96, "Fisher Decorator": None},
    "cube-double": {"IQL": 7, "ReBRAC": 12, "FQL": 29, "DeFlow": 40, "Fisher Decorator": None},
    "scene": {"IQL": 28, "ReBRAC": 41, "FQL": 56, "DeFlow": 51, "Fisher Decorator": None},
    "puzzle-3x3": {"IQL": 9, "ReBRAC": 21, "FQL": 30, "DeFlow": 43, "Fisher Decorator": None},
    "puzzle-4x4": {"IQL": 7, "ReBRAC": 14, "FQL": 17, "DeFlow": 11, "Fisher Decorator": None},
    "D4RL antmaze (6)": {"IQL": 57, "ReBRAC": 78, "FQL": 84, "DeFlow": 83, "Fisher Decorator": 87},
    "D4RL adroit (12)": {"IQL": 53, "ReBRAC": 59, "FQL": 52, "DeFlow": 52, "Fisher Decorator": None},
}
#: Our agent -> its column in the published table.
PUBLISHED_COLUMN = {"fd": "Fisher Decorator", "deflow": "DeFlow", "fql": "FQL"}
#: The published protocol (method.md), for the "what differs" line.
PAPER = {"steps": 1_000_000, "hidden_dims": [512, 512, 512, 512], "eval_every": 100_000, "eval_episodes": 50}

AGENT_ORDER = ("fd", "deflow", "fql", "bc")
FD = "fd"


# ---------------------------------------------------------------------------------------------- loading
@dataclass
class Run:
    """One seed of one run folder."""

    run_dir: Path
    agent: str
    variant: str
    env: str
    seed: int
    steps: list[int]
    success: list[float]
    complete: bool
    config: dict = field(repr=False)
    meta: dict = field(repr=False)  # config.json without "config": versions, success_timing, dataset
    train: list[dict] = field(default_factory=list, repr=False)  # this seed's training records

    @property
    def label(self) -> str:
        return self.agent if self.variant in ("", "base") else f"{self.agent} [{self.variant}]"

    @property
    def family(self) -> str:
        return task_family(self.env)

    @property
    def score(self) -> float | None:
        return paper_score(self.success)


#: A bootstrap CI over fewer runs per task than this is degenerate (one run: the interval is the point).
MIN_RUNS_FOR_CI = 2
NO_CI = "(CI needs >= 2 runs per task)"


def task_family(env: str) -> str:
    """'cube-single-play-singletask-task2-v0' -> 'cube-single-play' (any OGBench singletask name)."""
    return re.sub(r"-singletask(-task\d+)?-v\d+$", "", env)


def task_label(env: str) -> str:
    m = re.search(r"-singletask-(task\d+)-v\d+$", env)
    return m.group(1) if m else env


def published_family(family: str) -> str | None:
    """Our family name -> the published table's row ('cube-single-play' -> 'cube-single')."""
    key = re.sub(r"-(play|navigate)$", "", family)
    return key if key in PUBLISHED else None


def _is_group(meta) -> bool:
    """``meta`` (a parsed config.json) is a ``--target-divergences`` run's: its records are in one sub-run folder
    per ε, reported instead."""
    return isinstance(meta, dict) and bool((meta.get("config") or {}).get("target_divergences"))


def find_run_dirs(paths: list[str | os.PathLike]) -> list[Path]:
    """Run folders in ``paths``: each path is a run folder (has config.json) or is searched for them."""
    found: list[Path] = []
    for p in map(Path, paths):
        if not p.exists():
            raise FidecError(f"{p} does not exist")
        if (p / "config.json").is_file() and not _is_group(read_json(p / "config.json")):
            found.append(p)
        else:
            found += sorted(c.parent for c in p.rglob("config.json"))
    out, seen = [], set()
    for d in found:
        key = d.resolve()
        cfg = read_json(d / "config.json")
        if key in seen or not isinstance(cfg, dict) or "config" not in cfg or _is_group(cfg):
            continue
        seen.add(key)
        out.append(d)
    return out


def _eval_schedule(r: Run) -> str:
    """'20 every 3000', or '20 every 3000 from 24000' where eval_from skipped the earlier evaluations."""
    c = r.config
    text = f"{c.get('eval_episodes')} every {c.get('eval_every')}"
    return text + (f" from {c['eval_from']}" if c.get("eval_from") else "")


def _config_total_steps(c: dict) -> int:
    """Config.total_steps of a saved config dict (fields missing from older run folders take their defaults)."""
    return total_updates(c.get("steps") or 0, c.get("online_steps") or 0, c.get("online_updates_per_step") or 1)


def load_runs(paths, include_incomplete: bool = False) -> tuple[list[Run], list[str]]:
    """(runs, notes): one Run per (run folder, seed) with at least one evaluation; notes say what was left out."""
    from fidec.runs import MetricsLog

    dirs = find_run_dirs(paths)
    if not dirs:
        raise FidecError(f"no run folders (with config.json) under {', '.join(map(str, paths))}")
    runs, notes = [], []
    seen: dict[tuple, Path] = {}
    for d in dirs:
        meta = read_json(d / "config.json")
        cfg = meta["config"]
        job = read_json(d / "sweep.json") or {}
        if not job and meta.get("group"):  # one ε of a --target-divergences run trained outside a sweep
            job = {"tag": f"target_divergence={cfg['target_divergence']:g}"}
        summary = read_json(d / "summary.json")
        # offline steps, then the online phase's updates (offline-to-online runs)
        total = _config_total_steps(cfg)
        complete = bool(summary) and summary.get("final_step") == total
        if not complete and not include_incomplete:
            notes.append(f"`{d}`: unfinished (no summary.json at its {total} steps; --include-incomplete)")
            continue
        log = MetricsLog(d)
        evals, train = log.records("eval"), log.records("train")
        if not evals:
            notes.append(f"`{d}`: no evaluations")
            continue
        for seed in sorted({r["seed"] for r in evals}):
            rows = sorted((r for r in evals if r["seed"] == seed), key=lambda r: r["step"])
            run = Run(
                run_dir=d,
                agent=cfg["agent"],
                variant=str(job.get("tag", "base")),
                env=cfg["env"],
                seed=int(seed),
                steps=[int(r["step"]) for r in rows],
                success=[float(r["success"]) for r in rows],
                complete=complete,
                config=cfg,
                meta={k: v for k, v in meta.items() if k != "config"},
                train=[r for r in train if r.get("seed") == seed],
            )
            key = (run.label, run.env, run.seed)
            if key in seen:
                notes.append(f"`{d}`: seed {seed} of {run.label} on {run.env} duplicates `{seen[key]}`; left out")
                continue
            seen[key] = d
            runs.append(run)
    if not runs:
        raise FidecError("no finished runs with evaluations to report" + (f" ({'; '.join(notes)})" if notes else ""))
    return runs, notes


# ---------------------------------------------------------------------------------------------- numbers
def method_order(labels) -> list[str]:
    def key(label: str):
        agent = label.split(" ")[0]
        return (AGENT_ORDER.index(agent) if agent in AGENT_ORDER else len(AGENT_ORDER), label)

    return sorted(set(labels), key=key)


def family_order(families) -> list[str]:
    return sorted(set(families))


def task_order(envs) -> list[str]:
    def key(env):
        m = re.search(r"task(\d+)", env)
        return (task_family(env), int(m.group(1)) if m else 0, env)

    return sorted(set(envs), key=key)


def _mean_std(xs: list[float]) -> dict:
    a = np.asarray(xs, float)
    return {
        "mean": float(a.mean()),
        "std": float(a.std(ddof=0)) if len(a) > 1 else None,
        "n": len(a),
        "scores": [float(x) for x in a],
    }


def per_task(runs: list[Run]) -> dict[str, dict[str, dict]]:
    """env -> method -> {mean, std, n, scores} of the runs' scores (fractions)."""
    out: dict[str, dict[str, dict]] = {}
    for env in task_order(r.env for r in runs):
        row = {}
        for m in method_order(r.label for r in runs):
            scores = [r.score for r in runs if r.env == env and r.label == m]
            if scores:
                row[m] = _mean_std(scores)
        out[env] = row
    return out


def per_family(runs: list[Run]) -> dict[str, dict[str, dict]]:
    """family -> method -> mean over tasks (of the task means), ± std over seeds of the per-seed family mean
    (seeds present on every task of the family; std None when fewer than two such seeds)."""
    out: dict[str, dict[str, dict]] = {}
    for fam in family_order(r.family for r in runs):
        row = {}
        for m in method_order(r.label for r in runs):
            mine = [r for r in runs if r.family == fam and r.label == m]
            if not mine:
                continue
            envs = task_order(r.env for r in mine)
            task_means = [np.mean([r.score for r in mine if r.env == e]) for e in envs]
            common = set.intersection(*({r.seed for r in mine if r.env == e} for e in envs))
            by_seed = [np.mean([r.score for r in mine if r.seed == s]) for s in sorted(common)]
            row[m] = {
                "mean": float(np.mean(task_means)),
                "std": float(np.std(by_seed)) if len(by_seed) > 1 else None,
                "tasks": len(envs),
                "seeds": len(common),
            }
        out[fam] = row
    return out


#: Training diagnostics shown in the report: (record key, column header). See RefinementAgent.diagnostics.
DIAGNOSTICS = (
    ("alpha", "α"),
    ("divergence", "E[D] (own metric)"),
    ("divergence_fisher", "D Fisher"),
    ("divergence_isotropic", "D isotropic"),
    ("sq_displacement", "E[δ²] (training)"),
    ("refine_norm", "‖δ‖"),
    ("q_gain", "Q(π) − Q(data)"),
    ("fisher_top_eig_share", "top-eigenvalue share of F̂"),
    ("policy_mse_to_data", "policy MSE to data"),
)
#: The share of training (by step) whose records are averaged: the last fifth.
DIAGNOSTICS_TAIL = 0.2


def run_diagnostics(run: Run) -> dict[str, float]:
    """Mean of each DIAGNOSTICS quantity over this run's training records in the last fifth of its steps."""
    if not run.train:
        return {}
    last = max(r["step"] for r in run.train)
    tail = [r for r in run.train if r["step"] >= (1 - DIAGNOSTICS_TAIL) * last]

    def num(r: dict, key: str) -> float:  # non-finite values are logged as strings ("NaN")
        v = r.get(key)
        return float(v) if isinstance(v, int | float) and math.isfinite(v) else math.nan

    out = {}
    for key, _ in DIAGNOSTICS:
        if key == "q_gain":
            vals = [num(r, "q_policy") - num(r, "q_data") for r in tail]
        else:
            vals = [num(r, key) for r in tail]
        vals = [v for v in vals if math.isfinite(v)]
        if vals:
            out[key] = float(np.mean(vals))
    return out


def diagnostics(runs: list[Run]) -> dict[str, dict[str, dict[str, float]]]:
    """env -> method -> mean over seeds of :func:`run_diagnostics` (plus the target divergence ε)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for env in task_order(r.env for r in runs):
        row = {}
        for m in method_order(r.label for r in runs):
            per_seed = [run_diagnostics(r) for r in runs if r.env == env and r.label == m]
            keys = [k for k, _ in DIAGNOSTICS if any(k in d for d in per_seed)]
            if not keys:
                continue
            row[m] = {k: float(np.mean([d[k] for d in per_seed if k in d])) for k in keys}
            cfg = next(r.config for r in runs if r.env == env and r.label == m)
            if "alpha" in row[m] and cfg.get("target_divergence") is not None:
                row[m]["target_divergence"] = float(cfg["target_divergence"])
        if row:
            out[env] = row
    return out


def online_gain(runs: list[Run]) -> dict[str, dict[str, dict]]:
    """Offline-to-online runs: env -> method -> per-seed scores at the end of the offline phase (the mean of the
    last three evaluations at steps <= the offline steps), after the online phase (the run's score), their
    difference, and the online training episodes' success over the last third of the online phase."""
    out: dict[str, dict[str, dict]] = {}
    for env in task_order(r.env for r in runs):
        row = {}
        for m in method_order(r.label for r in runs):
            mine = [r for r in runs if r.env == env and r.label == m and r.config.get("online_steps")]
            pairs, episodes = [], []
            for r in mine:
                offline = paper_score([v for st, v in zip(r.steps, r.success, strict=True) if st <= r.config["steps"]])
                if offline is None or r.score is None:
                    continue
                pairs.append((offline, r.score))
                start = r.config["steps"] + 2 * (_config_total_steps(r.config) - r.config["steps"]) // 3
                done = [t for t in r.train if t.get("phase") == "online" and t["step"] > start]
                n = sum(t.get("online_episodes", 0) for t in done)
                if n:
                    episodes.append(
                        sum(t["online_success"] * t["online_episodes"] for t in done if t.get("online_episodes")) / n
                    )
            if pairs:
                off, on = zip(*pairs, strict=True)
                row[m] = {
                    "offline": _mean_std(list(off)),
                    "online": _mean_std(list(on)),
                    "gain": _mean_std([b - a for a, b in pairs]),
                    "seeds_improved": sum(b > a for a, b in pairs),
                    "online_episode_success": _mean_std(episodes) if episodes else None,
                }
        if row:
            out[env] = row
    return out


def online_markdown(table: dict[str, dict[str, dict]]) -> list[str]:
    L = ["## Offline to online", ""]
    L.append(
        "Runs with an online phase: the score at the end of the offline phase (mean of the last three evaluations "
        "up to the offline steps), after the online phase (the run's score), the per-seed gain (percentage "
        "points, mean ± std over seeds, seeds that improved), and the success of the online training episodes "
        "over the last third of the online phase (acting policy, exploration noise included)."
    )
    L.append("")
    rows = []
    for env, row in table.items():
        for m, d in row.items():
            ep = d["online_episode_success"]
            rows.append(
                [
                    f"{task_family(env)} {task_label(env)}",
                    m,
                    _cell(d["offline"]),
                    _cell(d["online"]),
                    f"{100 * d['gain']['mean']:+.1f}"
                    + (f" ± {_pct(d['gain']['std'])}" if d["gain"]["std"] is not None else ""),
                    f"{d['seeds_improved']}/{d['gain']['n']}",
                    _cell(ep) if ep else "–",
                ]
            )
    L += _table(
        ["task", "method", "offline", "after online", "gain (points)", "seeds improved", "online episodes"], rows
    )
    return L


def score_matrices(runs: list[Run], methods: list[str]) -> tuple[dict[str, np.ndarray], list[str], list[str]]:
    """rliable's input: method -> (runs x tasks) scores on the tasks every method has, and notes on what was
    trimmed (a method's runs per task are cut to its smallest seed count, keeping the lowest seeds)."""
    notes = []
    tasks = set.intersection(*({r.env for r in runs if r.label == m} for m in methods)) if methods else set()
    tasks_l = task_order(tasks)
    all_tasks = {r.env for r in runs}
    if tasks and len(tasks) < len(all_tasks):
        notes.append(
            f"aggregates use the {len(tasks)} task(s) every method has; left out: "
            + ", ".join(sorted(all_tasks - tasks))
        )
    mats = {}
    for m in methods:
        cols = [sorted((r for r in runs if r.label == m and r.env == e), key=lambda r: r.seed) for e in tasks_l]
        n = min(len(c) for c in cols) if cols else 0
        if any(len(c) > n for c in cols):
            notes.append(f"{m}: {n} run(s) per task used (the smallest seed count over the tasks)")
        mats[m] = np.array([[c[i].score for c in cols] for i in range(n)], float).reshape(n, len(tasks_l))
    return mats, tasks_l, notes


@contextlib.contextmanager
def _quiet():
    """arch (under rliable) warns that ``random_state`` is deprecated; the bootstrap is unchanged."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        yield


def aggregates(mats: dict[str, np.ndarray], reps: int, seed: int = 0) -> dict[str, dict]:
    """IQM and mean over all runs and tasks with 95 % stratified-bootstrap CIs (rliable, percentile)."""
    from rliable import library as rly
    from rliable import metrics

    fn = lambda x: np.array([metrics.aggregate_iqm(x), metrics.aggregate_mean(x)])  # noqa: E731
    usable = {m: a for m, a in mats.items() if a.size}
    if not usable:
        return {}
    with _quiet():
        points, cis = rly.get_interval_estimates(
            usable, fn, reps=reps, random_state=np.random.RandomState(seed), confidence_interval_size=0.95
        )
    # With one run per task a stratified bootstrap resamples that one run every time: its "interval" is the
    # point itself. Such a method gets no CI (None), and the report says CIs need several runs.
    return {
        m: {
            "iqm": float(points[m][0]),
            "iqm_ci": [float(cis[m][0, 0]), float(cis[m][1, 0])] if usable[m].shape[0] >= MIN_RUNS_FOR_CI else None,
            "mean": float(points[m][1]),
            "mean_ci": [float(cis[m][0, 1]), float(cis[m][1, 1])] if usable[m].shape[0] >= MIN_RUNS_FOR_CI else None,
            "runs": int(usable[m].shape[0]),
            "tasks": int(usable[m].shape[1]),
        }
        for m in usable
    }


def probability_of_improvement(mats: dict[str, np.ndarray], reps: int, seed: int = 0) -> dict[str, dict]:
    """P(FD > baseline) for every FD method and baseline, and P(later FD variant > earlier one) between FD
    variants (e.g. per-action against per-state Fisher), with 95 % stratified-bootstrap CIs (rliable)."""
    from rliable import library as rly
    from rliable import metrics

    fds = [m for m in mats if m.split(" ")[0] == FD and mats[m].size]
    bases = [m for m in mats if m.split(" ")[0] != FD and mats[m].size]
    pairs = {f"{f} vs {b}": (mats[f], mats[b]) for f in fds for b in bases}
    pairs.update({f"{g} vs {f}": (mats[g], mats[f]) for i, f in enumerate(fds) for g in fds[i + 1 :]})
    if not pairs:
        return {}
    fn = lambda x, y: np.array([metrics.probability_of_improvement(x, y)])  # noqa: E731
    with _quiet():
        points, cis = rly.get_interval_estimates(
            {k: list(v) for k, v in pairs.items()}, fn, reps=reps, random_state=np.random.RandomState(seed)
        )
    enough = {k: min(len(x), len(y)) >= MIN_RUNS_FOR_CI for k, (x, y) in pairs.items()}
    return {
        k: {"poi": float(points[k][0]), "ci": [float(cis[k][0, 0]), float(cis[k][1, 0])] if enough[k] else None}
        for k in pairs
    }


# ---------------------------------------------------------------------------------------------- figures
def _colors(methods: list[str]) -> dict[str, str]:
    import matplotlib.pyplot as plt

    cyc = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {m: cyc[i % len(cyc)] for i, m in enumerate(methods)}


def plot_aggregates(aggs: dict[str, dict], path: Path, colors: dict) -> Path:
    import matplotlib.pyplot as plt

    from fidec.plots import save_figure

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
    import matplotlib.pyplot as plt

    from fidec.plots import save_figure

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
    import matplotlib.pyplot as plt

    from fidec.plots import save_figure

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


# ---------------------------------------------------------------------------------------------- markdown
def _pct(x: float | None) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}"


def _ci(ci: list | None, fmt) -> str:
    return f"[{fmt(ci[0])}, {fmt(ci[1])}]" if ci is not None else NO_CI


def _cell(d: dict | None, best: bool = False) -> str:
    if not d:
        return "–"
    s = _pct(d["mean"]) + (f" ± {_pct(d['std'])}" if d.get("std") is not None else "")
    n = d.get("n")
    s += f" ({n})" if n is not None else ""
    return f"**{s}**" if best else s


def _best(row: dict) -> float | None:
    """The best mean of a row, or None when there is nothing to single out (one method, or all equal)."""
    means = [v["mean"] for v in row.values()]
    return max(means) if len(set(means)) > 1 else None


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def _values(runs: list[Run], getter) -> list:
    vals = []
    for r in runs:
        v = getter(r)
        v = tuple(v) if isinstance(v, list) else v
        if v not in vals:
            vals.append(v)
    return vals


def _join(vals) -> str:
    return ", ".join("–" if v is None else (("×".join(map(str, v))) if isinstance(v, tuple) else str(v)) for v in vals)


def dataset_provenance(run: Run) -> str:
    """Where a run's training data came from, from the dataset's provenance sidecar when readable."""
    from fidec.data.catalog import CATALOG

    ds = run.meta.get("dataset") or {}
    name, d = ds.get("name"), ds.get("dir")
    spec = CATALOG.get(name or "")
    official = f"official {spec.episodes} episodes" if spec else "official size unknown"
    if not name or not d:
        return f"{name or 'dataset'}: provenance not recorded"
    side = read_json(Path(d) / f"{name}.npz.json")
    if side:
        eps = side.get("episodes")
        eps = eps.get("train") if isinstance(eps, dict) else eps
        return (
            f"{name}: generated locally by fidec with OGBench's oracles, {eps} episodes, "
            f"seed {side.get('seed')} ({official})"
        )
    if (Path(d) / f"{name}.npz").exists():
        return f"{name}: {ds.get('transitions')} transitions, no fidec provenance (downloaded or made elsewhere)"
    return f"{name}: {ds.get('transitions')} transitions from {d} (not readable here; {official})"


def what_differs(runs: list[Run]) -> list[str]:
    """Differences between these runs' setup and the published one (method.md)."""
    items = []
    prov = sorted({dataset_provenance(r) for r in runs})
    items.append("data: " + "; ".join(prov))
    steps = _values(runs, lambda r: r.config.get("steps"))
    if steps != [PAPER["steps"]]:
        items.append(f"budget: {_join(steps)} gradient steps (published: 1M)")
    dims = _values(runs, lambda r: r.config.get("hidden_dims"))
    if dims != [tuple(PAPER["hidden_dims"])]:
        items.append(f"networks: {_join(dims)} MLPs (published: 4×512)")
    ev = _values(runs, lambda r: (r.config.get("eval_episodes"), r.config.get("eval_every")))
    if ev != [(PAPER["eval_episodes"], PAPER["eval_every"])]:
        items.append(
            "evaluation: "
            + ", ".join(f"{e} episodes every {s} steps" for e, s in ev)
            + " (published: 50 episodes every 100k steps)"
        )
    batch = _values(runs, lambda r: r.config.get("batch_size"))
    if batch != [256]:
        items.append(f"batch size {_join(batch)} (published: 256)")
    og = _values(runs, lambda r: (r.meta.get("versions") or {}).get("ogbench"))
    timing = _values(runs, lambda r: r.meta.get("success_timing"))
    items.append(
        f"OGBench {_join(og)} with success_timing {_join(timing)} (FQL's published numbers: OGBench 1.1.0, 'post')"
    )
    seeds = sorted({len([x for x in runs if x.label == r.label and x.env == r.env]) for r in runs})
    items.append(f"{'/'.join(map(str, seeds))} seed(s) per method and task")
    return items


def render_markdown(runs, notes, tables, aggs, poi, agg_notes, figures, reps, poi_reps, title) -> str:
    methods = method_order(r.label for r in runs)
    envs = task_order(r.env for r in runs)
    fams = family_order(r.family for r in runs)
    n_folders = len({r.run_dir for r in runs})
    L = [f"# {title}", ""]
    L.append(
        f"Generated {time.strftime('%Y-%m-%d %H:%M')} from {len(runs)} runs ({n_folders} run folders; a run is one "
        f"seed of a run folder): {len(methods)} method(s) × {len(envs)} task(s) in {len(fams)} famil"
        f"{'y' if len(fams) == 1 else 'ies'}."
    )
    og = _join(_values(runs, lambda r: (r.meta.get("versions") or {}).get("ogbench")))
    timing = _join(_values(runs, lambda r: r.meta.get("success_timing")))
    fidec_v = _join(_values(runs, lambda r: (r.meta.get("versions") or {}).get("fidec")))
    L.append("")
    L.append(
        f"OGBench version: **{og}**; reward/success timing: **{timing}** ('pre': computed from the state before "
        f"the step, OGBench ≥ 1.2; 'post': OGBench 1.1); fidec {fidec_v}."
    )
    L.append("")
    L.append(
        "Score of a run: success rate (%) averaged over its last three evaluations (the paper's protocol). "
        "Tables give mean ± std over seeds (number of seeds in brackets); the best mean of a row is bold."
    )

    # --- setup
    L += ["", "## Setup", ""]
    rows = []
    for m in methods:
        rs = [r for r in runs if r.label == m]
        rows.append(
            [
                m,
                _join(_values(rs, lambda r: r.config.get("preset"))),
                _join(_values(rs, lambda r: r.config.get("steps"))),
                _join(_values(rs, lambda r: r.config.get("hidden_dims"))),
                _join(_values(rs, lambda r: r.config.get("batch_size"))),
                _join(_values(rs, _eval_schedule)),
                str(len({r.env for r in rs})),
                _join(sorted({r.seed for r in rs})),
            ]
        )
    L += _table(["method", "preset", "steps", "hidden dims", "batch", "eval episodes every", "tasks", "seeds"], rows)

    # --- per task
    L += ["", "## Per-task results", ""]
    rows = []
    for env in envs:
        row = tables["per_task"][env]
        best = _best(row)
        rows.append(
            [f"{task_family(env)} {task_label(env)}"]
            + [_cell(row.get(m), row.get(m, {}).get("mean") == best) for m in methods]
        )
    L += _table(["task"] + methods, rows)

    # --- per family
    L += ["", "## Per-family aggregates", ""]
    L.append(
        "Mean over the family's tasks of the per-task means; ± std over seeds of the per-seed family mean "
        "(seeds run on every task of the family)."
    )
    L.append("")
    L.append("Tasks per family: " + ", ".join(f"{f} {len({r.env for r in runs if r.family == f})}" for f in fams) + ".")
    L.append("")
    rows = []
    for fam in fams:
        row = tables["per_family"][fam]
        best = _best(row)
        cells = []
        for m in methods:
            d = row.get(m)
            cells.append("–" if not d else _cell({"mean": d["mean"], "std": d["std"]}, d["mean"] == best))
        rows.append([fam] + cells)
    L += _table(["family"] + methods, rows)

    # --- rliable aggregates
    L += ["", "## Aggregate metrics: IQM and mean with 95% confidence intervals", ""]
    L.append(
        f"Over all runs and tasks (rliable: interquartile mean and mean, 95% stratified-bootstrap confidence "
        f"intervals, percentile method, {reps} bootstrap replicates, runs resampled within each task)."
    )
    single = [m for m, a in aggs.items() if a["iqm_ci"] is None]
    if single:
        L.append(
            f"- {', '.join(single)}: one run per task, so no confidence interval ({NO_CI}); a CI needs several "
            "runs (seeds) per task: run more seeds (e.g. --num-seeds 3 or a sweep's seeds = [0, 1, 2])."
        )
    for n in agg_notes:
        L.append(f"- {n}")
    L.append("")
    if aggs:
        rows = [
            [
                m,
                f"{_pct(a['iqm'])} {_ci(a['iqm_ci'], _pct)}",
                f"{_pct(a['mean'])} {_ci(a['mean_ci'], _pct)}",
                str(a["runs"]),
                str(a["tasks"]),
            ]
            for m, a in aggs.items()
        ]
        L += _table(["method", "IQM % [95% CI]", "mean % [95% CI]", "runs per task", "tasks"], rows)
        if "aggregates" in figures:
            L += ["", f"![IQM and mean]({figures['aggregates']})"]
    else:
        L.append("No task is shared by every method, so there is nothing to aggregate.")

    # --- probability of improvement
    L += ["", "## Probability of improvement of FD over each baseline", ""]
    fds = [m for m in methods if m.split(" ")[0] == FD]
    bases = [m for m in methods if m.split(" ")[0] != FD]
    if not fds:
        L.append("Skipped: these runs include no FD (`fd`) agent, so there is nothing to compare with the baselines.")
    elif not bases:
        L.append("Skipped: these runs include only FD, no baseline (deflow, fql, bc) to compare it with.")
    elif not poi:
        L.append("Skipped: FD and the baselines share no task.")
    else:
        L.append(
            "P(X > Y): the probability that a run of X on a task scores higher than a run of Y on the same task "
            f"(Mann-Whitney U statistic, averaged over tasks; rliable), with 95% stratified-bootstrap CIs "
            f"({poi_reps} replicates). 0.5 means no difference; a CI above 0.5 means the first is better. "
            "With several FD variants, each is also compared with the others."
        )
        L.append("")
        rows = [
            [f"P({k.replace(' vs ', ' > ')})", f"{v['poi']:.2f}", _ci(v["ci"], lambda x: f"{x:.2f}")]
            for k, v in poi.items()
        ]
        L += _table(["comparison", "probability of improvement", "95% CI"], rows)
        if "poi" in figures:
            L += ["", f"![probability of improvement]({figures['poi']})"]

    # --- learning curves
    L += ["", "## Learning curves", ""]
    L.append("Success rate against gradient steps per task: mean over seeds, band ± one std over seeds.")
    for fam in fams:
        L += ["", f"### {fam}", "", f"![{fam} learning curves]({figures['curves'][fam]})"]

    # --- diagnostics
    diag = tables.get("diagnostics") or {}
    if diag:
        L += ["", "## Training diagnostics", ""]
        L.append(
            f"What the agents did, averaged over the training records of the last {DIAGNOSTICS_TAIL:.0%} of steps "
            "and over seeds. α: the Lagrange multiplier; E[D]: the refinement's mean divergence in its own metric "
            "(Fisher for fd, isotropic for deflow), against the target ε; D Fisher / D isotropic: the same "
            "refinement measured in both metrics (the Fisher one with the run's own estimator, per-state unless "
            "the variant says per-action); ‖δ‖: mean refinement length; Q(π) − Q(data): how much higher the "
            "critic rates the policy's actions than the dataset's; top-eigenvalue share of F̂: 1/d is isotropic, "
            "1 is a single direction."
        )
        L.append("")
        cols = [(k, h) for k, h in DIAGNOSTICS if any(k in d for row in diag.values() for d in row.values())]
        rows = []
        for env, row in diag.items():
            for m, d in row.items():
                cells = []
                for k, _ in cols:
                    v = d.get(k)
                    cell = "–" if v is None else f"{v:.3g}"
                    if k == "divergence" and v is not None and "target_divergence" in d:
                        cell += f" (ε {d['target_divergence']:g})"
                    cells.append(cell)
                rows.append([f"{task_family(env)} {task_label(env)}", m] + cells)
        L += _table(["task", "method"] + [h for _, h in cols], rows)

    # --- published
    L += ["", "## Published numbers beside ours", ""]
    L.append(
        f"Published per-family mean success (%) from {PUBLISHED_SOURCE}: 1M gradient steps on the official "
        "datasets. They are a direction, not a target: the comparison that counts is between agents on the "
        "same data and budget (the tables above)."
    )
    L.append("")
    ours = methods
    rows = []
    for fam in fams:
        pub = published_family(fam)
        row = [fam]
        row += [_pct(tables["per_family"][fam].get(m, {}).get("mean")) for m in ours]
        row += [
            "–" if pub is None or PUBLISHED[pub][p] is None else f"{PUBLISHED[pub][p]:g}" for p in PUBLISHED_METHODS
        ]
        rows.append(row)
    L += _table(["family"] + [f"ours: {m}" for m in ours] + [f"published: {p}" for p in PUBLISHED_METHODS], rows)
    if not any(published_family(f) for f in fams):
        L.append("")
        L.append("None of these families has published numbers (e.g. point mazes); the full table follows.")
    L.append("")
    L.append(
        "Columns: ours "
        + ", ".join(f"`{a}` ↔ published {p}" for a, p in PUBLISHED_COLUMN.items())
        + "; `bc` has no published counterpart."
    )
    L.append("")
    L.append("**What differs from the published setup:** " + "; ".join(what_differs(runs)) + ".")
    L += ["", "<details><summary>Full published table (method.md)</summary>", ""]
    L += _table(
        ["family"] + list(PUBLISHED_METHODS),
        [[f] + ["–" if v is None else f"{v:g}" for v in d.values()] for f, d in PUBLISHED.items()],
    )
    L += ["", "</details>"]

    # --- notes
    L += ["", "## Runs", ""]
    L.append(f"{len(runs)} runs from {n_folders} run folders.")
    unfinished: dict[Path, tuple[set, int]] = {}
    for r in runs:
        if not r.complete:
            unfinished.setdefault(r.run_dir, (set(), _config_total_steps(r.config)))[0].update(r.steps)
    if unfinished:
        L += ["", "Unfinished runs included (--include-incomplete); their scores average the evaluations they reached:"]
        L += [
            f"- `{d}`: evaluated at step(s) {', '.join(map(str, sorted(st)))} of {total}"
            for d, (st, total) in unfinished.items()
        ]
    if notes:
        L.append("")
        L.append("Left out:")
        L += [f"- {n}" for n in notes]
    return "\n".join(L) + "\n"


# ---------------------------------------------------------------------------------------------- main
def write_report(
    paths: list,
    out: str | os.PathLike,
    reps: int = 50_000,
    poi_reps: int = 2_000,
    include_incomplete: bool = False,
    title: str = "fidec benchmark report",
) -> Path:
    """Write ``out/report.md`` (+ ``report.json`` and PNG figures); returns the Markdown path."""
    runs, notes = load_runs(paths, include_incomplete)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    methods = method_order(r.label for r in runs)
    colors = _colors(methods)
    tables = {"per_task": per_task(runs), "per_family": per_family(runs), "diagnostics": diagnostics(runs)}
    mats, agg_tasks, agg_notes = score_matrices(runs, methods)
    aggs = aggregates(mats, reps) if agg_tasks else {}
    poi = probability_of_improvement(mats, poi_reps) if agg_tasks else {}
    figures: dict = {"curves": {}}
    if aggs:
        figures["aggregates"] = plot_aggregates(aggs, out / "aggregates.png", colors).name
    if poi:
        figures["poi"] = plot_poi(poi, out / "probability_of_improvement.png").name
    for fam in family_order(r.family for r in runs):
        figures["curves"][fam] = plot_curves(runs, fam, out / f"curves_{fam}.png", colors).name
    title_md = render_markdown(runs, notes, tables, aggs, poi, agg_notes, figures, reps, poi_reps, title)
    online = online_gain(runs)
    if online:
        title_md = title_md.rstrip("\n") + "\n\n" + "\n".join(online_markdown(online)) + "\n"
    front = _frontier(runs, out, poi_reps)
    if front:
        title_md = title_md.rstrip("\n") + "\n\n" + "\n".join(front.pop("markdown")) + "\n"
    md = out / "report.md"
    atomic_write_text(md, title_md)
    write_json(
        out / "report.json",
        {
            "methods": methods,
            "per_task": tables["per_task"],
            "per_family": tables["per_family"],
            "diagnostics": tables["diagnostics"],
            "aggregate_tasks": agg_tasks,
            "aggregates": aggs,
            "probability_of_improvement": poi,
            "what_differs": what_differs(runs),
            "frontier": front or None,
            "online": online or None,
            "notes": notes + agg_notes,
            "runs": [
                {"run_dir": str(r.run_dir), "method": r.label, "env": r.env, "seed": r.seed, "score": r.score}
                for r in runs
            ],
        },
    )
    return md


def _frontier(runs, out: Path, reps: int) -> dict | None:
    """The budget-frontier section (:mod:`fidec.frontier`) when a refinement variant ran at several ε."""
    from fidec import frontier

    points = frontier.frontier_points(runs)
    if not frontier.has_frontier(points):
        return None
    tab = frontier.table(points)
    comps = frontier.comparisons(points, reps)
    curve_colors = _colors(method_order({p.curve for p in points}))
    figs = {}
    for i, env in enumerate(sorted(tab)):
        figs[env] = frontier.plot(points, env, out / f"frontier_{i}_{task_family(env)}.png", curve_colors).name
    return {"table": tab, "comparisons": comps, "figures": figs, "markdown": frontier.markdown(tab, comps, figs)}


def cmd_report(args) -> int:
    paths = args.run_dirs
    out = args.out or (Path(paths[0]) / "report" if len(paths) == 1 else Path("report"))
    md = write_report(
        paths,
        out,
        reps=args.reps,
        poi_reps=args.poi_reps,
        include_incomplete=args.include_incomplete,
        title=args.title,
    )
    print(f"report: {md}")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "report",
        help="Markdown + PNG report of run folders or sweeps (per-task table, IQM/PoI with CIs, curves)",
        description=(
            "Report on run folders (or folders holding them, e.g. a sweep's OUT): per-task and per-family "
            "tables, IQM and mean with 95%% stratified-bootstrap CIs and probability of improvement of FD over "
            "each baseline (rliable), learning curves, and the published numbers of method.md."
        ),
    )
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run folders or folders holding run folders")
    p.add_argument("--out", default=None, help="output folder (default RUN_DIR/report for one RUN_DIR, else ./report)")
    p.add_argument("--reps", type=int, default=50_000, help="bootstrap replicates for IQM/mean CIs (default 50000)")
    p.add_argument("--poi-reps", type=int, default=2_000, help="bootstrap replicates for PoI CIs (default 2000)")
    p.add_argument("--include-incomplete", action="store_true", help="also report unfinished runs")
    p.add_argument("--title", default="fidec benchmark report")
    p.set_defaults(func=cmd_report)
