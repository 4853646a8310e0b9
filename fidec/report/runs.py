"""Run folders read for a report: one :class:`Run` per (run folder, seed), and the orders they are shown in.

Also the training diagnostics of one run (:func:`run_diagnostics`), which the budget frontier
(:mod:`fidec.frontier`) reads as well.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fidec.config import total_updates
from fidec.errors import FidecError
from fidec.io import read_json
from fidec.runs import MetricsLog, paper_score

AGENT_ORDER = ("fd", "deflow", "fql", "bc", "iql", "rebrac")
FD = "fd"


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


def task_family(env: str) -> str:
    """'cube-single-play-singletask-task2-v0' -> 'cube-single-play' (any OGBench singletask name)."""
    return re.sub(r"-singletask(-task\d+)?-v\d+$", "", env)


def task_label(env: str) -> str:
    m = re.search(r"-singletask-(task\d+)-v\d+$", env)
    return m.group(1) if m else env


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


def eval_schedule(r: Run) -> str:
    """'20 every 3000', or '20 every 3000 from 24000' where eval_from skipped the earlier evaluations."""
    c = r.config
    text = f"{c.get('eval_episodes')} every {c.get('eval_every')}"
    return text + (f" from {c['eval_from']}" if c.get("eval_from") else "")


def config_total_steps(c: dict) -> int:
    """Config.total_steps of a saved config dict (fields missing from older run folders take their defaults)."""
    return total_updates(c.get("steps") or 0, c.get("online_steps") or 0, c.get("online_updates_per_step") or 1)


def load_runs(paths, include_incomplete: bool = False) -> tuple[list[Run], list[str]]:
    """(runs, notes): one Run per (run folder, seed) with at least one evaluation; notes say what was left out
    or renamed."""
    dirs = find_run_dirs(paths)
    if not dirs:
        raise FidecError(f"no run folders (with config.json) under {', '.join(map(str, paths))}")
    found, notes = [], []
    for d in dirs:
        meta = read_json(d / "config.json")
        cfg = meta["config"]
        job = read_json(d / "sweep.json") or {}
        if not job and meta.get("group"):  # one ε of a --target-divergences run trained outside a sweep
            job = {"tag": f"target_divergence={cfg['target_divergence']:g}"}
        summary = read_json(d / "summary.json")
        # offline steps, then the online phase's updates (offline-to-online runs)
        total = config_total_steps(cfg)
        complete = bool(summary) and summary.get("final_step") == total
        if not complete and not include_incomplete:
            notes.append(f"`{d}`: unfinished (no summary.json at its {total} steps; --include-incomplete)")
            continue
        log = MetricsLog(d)
        evals, train = log.records("eval"), log.records("train")
        if not evals:
            notes.append(f"`{d}`: no evaluations; left out")
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
            found.append(run)
    notes += _name_untagged_presets(found)
    runs, seen = [], {}
    for run in found:
        key = (run.label, run.env, run.seed)
        if key in seen:
            where = f"seed {run.seed} of {run.label} on {run.env}"
            notes.append(f"`{run.run_dir}`: {where} duplicates `{seen[key]}`; left out")
            continue
        seen[key] = run.run_dir
        runs.append(run)
    if not runs:
        raise FidecError("no finished runs with evaluations to report" + (f" ({'; '.join(notes)})" if notes else ""))
    return runs, notes


def _name_untagged_presets(runs: list[Run]) -> list[str]:
    """An agent that ran both untagged and under ``preset=…`` grid variants (sweeps of one suite before and after
    it gained a preset grid for that agent): its untagged runs take the tag ``preset=<the preset they ran under>``,
    so that runs of one configuration are one method. Returns a note per agent so renamed."""
    tagged = {r.agent for r in runs if r.variant.startswith("preset=") and "," not in r.variant}
    renamed: dict[str, set[str]] = {}
    for r in runs:
        if r.agent in tagged and r.variant in ("", "base") and r.config.get("preset"):
            r.variant = f"preset={r.config['preset']}"
            renamed.setdefault(r.agent, set()).add(r.label)
    return [
        f"{agent}: runs without a grid variant are shown as {', '.join(sorted(labels))}, the preset they ran under"
        for agent, labels in sorted(renamed.items())
    ]


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


def distinct_values(runs: list[Run], getter) -> list:
    """The distinct values of ``getter(run)`` over ``runs``, in order of appearance (lists as tuples)."""
    vals = []
    for r in runs:
        v = getter(r)
        v = tuple(v) if isinstance(v, list) else v
        if v not in vals:
            vals.append(v)
    return vals


def join_values(vals) -> str:
    """Values for a table cell: comma-separated, tuples as ``256×256``, None as ``–``."""
    return ", ".join("–" if v is None else (("×".join(map(str, v))) if isinstance(v, tuple) else str(v)) for v in vals)
