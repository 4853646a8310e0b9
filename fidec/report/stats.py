"""The numbers of a report: per-task and per-family tables, training diagnostics, the offline-to-online gain, and
rliable's aggregates (IQM, mean) and probabilities of improvement with stratified-bootstrap CIs."""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
from rliable import library as rly
from rliable import metrics

from fidec.report.runs import (
    DIAGNOSTICS,
    FD,
    Run,
    config_total_steps,
    family_order,
    method_order,
    run_diagnostics,
    task_order,
)
from fidec.runs import paper_score

#: A bootstrap CI over fewer runs per task than this is degenerate (one run: the interval is the point).
MIN_RUNS_FOR_CI = 2
NO_CI = "(CI needs >= 2 runs per task)"


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
    difference, and the online training episodes' success over the last third of the online phase; beside them the
    release's protocol (scripts/summarize_fql_scope.py, summarize_online): the one evaluation at the end of the
    offline phase and the one at the end of the run."""
    out: dict[str, dict[str, dict]] = {}
    for env in task_order(r.env for r in runs):
        row = {}
        for m in method_order(r.label for r in runs):
            mine = [r for r in runs if r.env == env and r.label == m and r.config.get("online_steps")]
            pairs, episodes, single = [], [], []
            for r in mine:
                before = [v for st, v in zip(r.steps, r.success, strict=True) if st <= r.config["steps"]]
                offline = paper_score(before)
                if offline is None or r.score is None:
                    continue
                pairs.append((offline, r.score))
                single.append((before[-1], r.success[-1]))
                start = r.config["steps"] + 2 * (config_total_steps(r.config) - r.config["steps"]) // 3
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
                    "offline_end": _mean_std([a for a, _ in single]),
                    "final": _mean_std([b for _, b in single]),
                }
        if row:
            out[env] = row
    return out


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
