"""A run folder's lifecycle: claiming it (one writer, never over another run), config.json, checkpoints with the
loss terms of the open log window, and the summaries written when a run ends.

The folder's layout is :mod:`fidec.runs`'s; a ``target_divergences`` run writes one sub-run folder per ε
(:func:`sub_run_name`), each a normal run folder for reports, under a group folder holding the checkpoint.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import math
from pathlib import Path

import numpy as np

from fidec import checkpoint
from fidec.config import Config
from fidec.errors import FidecError
from fidec.io import remove_stale_temporaries, write_json
from fidec.online import buffer as ob
from fidec.precision import device_kind
from fidec.runs import MetricsLog, RunLock, summarize

PACKAGES = ("fidec", "jax", "jaxlib", "flax", "optax", "ogbench", "mujoco", "numpy", "minari", "gymnasium-robotics")


def versions() -> dict:
    out = {}
    for pkg in PACKAGES:
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


def success_timing(env) -> str | None:
    """OGBench >= 1.2 computes singletask reward/success before the step ('pre'); 1.1 used 'post'."""
    return getattr(env.unwrapped, "_success_timing", None)


def sub_run_name(eps: float) -> str:
    """The sub-run folder of one target divergence of a ``target_divergences`` run."""
    return f"target_divergence={eps:g}"


# ---------------------------------------------------------------------------------------------- opening
def claim_new(run_dir: Path) -> tuple[RunLock, bool]:
    """Lock a folder for a new run: ``(lock, created)``. A folder that already holds a run is a one-line error
    (the lock released again); stale temporaries of a killed writer are removed."""
    created = not run_dir.exists()
    lock = RunLock(run_dir).acquire()  # one writer per run folder, before anything is read or written
    try:
        if checkpoint.exists(run_dir) or any(run_dir.glob("**/metrics.jsonl")):
            raise FidecError(
                f"run folder {run_dir} already holds a run; continue it with 'fidec train --resume {run_dir}' "
                "or choose another --run-dir"
            )
        remove_stale_temporaries(run_dir)
    except BaseException:
        release(lock, created)
        raise
    return lock, created


def release(lock: RunLock | None, created: bool = False) -> None:
    """Release ``lock``; a folder this process ``created`` is removed again when nothing was written into it."""
    if lock is None:
        return
    lock.release()
    if created:  # bad input (e.g. a dataset that fails validation) leaves no run folder behind
        lock.remove_if_alone()


def saved_config(run_dir: Path) -> dict:
    """config.json of an existing run folder (the config and what was recorded beside it)."""
    cfg_path = run_dir / "config.json"
    if not cfg_path.exists():
        raise FidecError(f"{run_dir} is not a fidec run folder (no config.json); start one with 'fidec train'")
    return json.loads(cfg_path.read_text())


def write_config(
    run_dir: Path, config: Config, task, env, placement: str | None, sub_logs: dict, inputs: dict | None = None
) -> None:
    """config.json: the resolved configuration (its ``matmul_precision`` with it), versions, the device it runs on,
    reward timing, the dataset and the run's ``inputs`` (observation shape, data fingerprint, accepted data changes:
    :mod:`fidec.train.inputs`); with a ε grid also each sub-run folder's own config.json (its member config, and the
    group folder it belongs to). A resumed run rewrites it: ``device`` is the latest process's."""
    meta = {
        "versions": versions(),
        "device": device_kind(),
        "success_timing": success_timing(env),
        "dataset": {
            "name": task.dataset_name,
            "dir": task.dataset_dir,
            "transitions": task.transitions("train"),
            **({"placement": placement} if placement is not None else {}),
            **task.info,  # Minari/npz: source, conventions applied, action rule, evaluation env
        },
        **(inputs or {}),
    }
    write_json(run_dir / "config.json", {"config": config.to_dict(), **meta})
    for eps, log in sub_logs.items():  # each ε's folder reads as a run of its own (fidec report)
        log.dir.mkdir(parents=True, exist_ok=True)
        sub = {"config": config.member_config(eps).to_dict(), "group": str(run_dir.resolve()), **meta}
        write_json(log.dir / "config.json", sub)


def save_checkpoint(run_dir: Path, states, step: int, wall: float, window: list[dict], extra: dict) -> None:
    """The checkpoint at ``step``. The loss terms since the last train record (``window``) travel with it, so a
    resumed run logs the same averages as an uninterrupted one; ``extra`` is a phase's own state."""
    meta = {"step": step, "wall_time": wall, **extra}
    if window:
        meta["log_window"] = {k: np.concatenate([w[k] for w in window]) for k in window[0]}
    checkpoint.save(run_dir, states, meta)


# ---------------------------------------------------------------------------------------------- a damaged checkpoint
def way_back(run_dir: Path) -> str:
    """How to continue a run from its previous checkpoint."""
    return f"continue from it with 'fidec train --resume {run_dir} --use-previous-checkpoint'"


def _segments_problem(run_dir: Path):
    return lambda meta: ob.segment_problem(run_dir, meta.get("online"))


def fallback_advice(run_dir: Path) -> str:
    """What remains when the newest checkpoint of ``run_dir`` (or an online buffer segment it lists) cannot be
    used: the previous checkpoint with its segments, verified, and how to continue from it; or that none is left."""
    return checkpoint.fallback_advice(run_dir, way_back(run_dir), check=_segments_problem(run_dir))


def newest_problem(run_dir: Path) -> str | None:
    """Why the newest checkpoint of ``run_dir`` cannot be used (missing, damaged, or an online buffer segment it
    lists missing or damaged), or None."""
    why = checkpoint.problem(run_dir / checkpoint.CHECKPOINT)
    if why is None:
        why = ob.segment_problem(run_dir, checkpoint.read_payload(run_dir).get("meta", {}).get("online"))
    return why


def use_previous_checkpoint(run_dir: Path) -> str:
    """Make the previous checkpoint the newest again, when the newest cannot be used and the previous one (with its
    online buffer segments) verifies; returns the line saying what was done. Anything else is a one-line error."""
    why = newest_problem(run_dir)
    if why is None:
        raise FidecError(
            f"the newest checkpoint in {run_dir} verifies; --use-previous-checkpoint is only for a damaged one: "
            f"drop it and continue with 'fidec train --resume {run_dir}'"
        )
    meta, why_not = checkpoint.previous_meta(run_dir, _segments_problem(run_dir))
    if meta is None:
        raise FidecError(f"{why}; {why_not}: restore the file from a backup or start a new run (another --run-dir)")
    meta, kept = checkpoint.promote_previous(run_dir)
    where = f"; the damaged one is kept as {kept}" if kept is not None else ""
    return f"continuing {run_dir} from its previous checkpoint (step {meta.get('step')}){where}"


# ---------------------------------------------------------------------------------------------- summaries
def write_summary(log: MetricsLog, config: Config, task, env, wall: float, time_in_chunks_frac) -> dict:
    """summary.json (and learning_curve.png) of one run folder, from its records."""
    # fidec.plots selects matplotlib's Agg backend when imported: loaded here, where a figure is drawn, so that
    # importing fidec.train leaves a notebook's backend alone
    from fidec.plots import learning_curve

    summary = summarize(log.dir)
    summary.update(
        agent=config.agent,
        env=config.env,
        wall_time_s=wall,
        time_in_chunks_frac=time_in_chunks_frac,
        success_timing=success_timing(env),
        ogbench=versions()["ogbench"],
    )
    if config.online_steps:
        summary["online"] = online_summary(log.records("train"), config)
    for seed, rows in _final_evals(log.records("eval")).items():  # Minari/npz tasks: return-based scores
        for k in ("return", "normalized_score") if task.source != "ogbench" else ():
            if k in rows and str(seed) in summary["per_seed"]:
                summary["per_seed"][str(seed)][f"final_{k}"] = rows[k]
    write_json(log.dir / "summary.json", summary)
    if log.records("eval"):
        learning_curve(log.dir, log.dir / "learning_curve.png")
    return summary


def write_group_summary(run_dir: Path, subs: dict[float, dict], sub_logs: dict[float, MetricsLog]) -> dict:
    """The group folder's summary of a ``target_divergences`` run: every (ε, seed), and the final step the sweep
    checks."""
    per_seed = {
        f"{seed} (target_divergence {eps:g})": v for eps, sub in subs.items() for seed, v in sub["per_seed"].items()
    }
    first = next(iter(subs.values()))
    summary = {
        **{k: first[k] for k in ("agent", "env", "wall_time_s", "time_in_chunks_frac", "final_step")},
        "per_seed": per_seed,
        "score_mean": None,
        "score_mean_by_target_divergence": {f"{eps:g}": sub["score_mean"] for eps, sub in subs.items()},
        "sub_runs": [str(log.dir.name) for log in sub_logs.values()],
        "updates_per_s_median": first.get("updates_per_s_median"),
    }
    write_json(run_dir / "summary.json", summary)
    return summary


def online_summary(train: list[dict], config: Config) -> dict:
    """The online phase's throughput against the offline phase's (medians over train records, all seeds)."""

    def median(rows, key):
        xs = sorted(r[key] for r in rows if isinstance(r.get(key), (int, float)) and not math.isnan(r[key]))
        return xs[len(xs) // 2] if xs else None

    off = [r for r in train if r.get("phase") != "online"]
    on = [r for r in train if r.get("phase") == "online"]
    offline_ups, loop_ups = median(off, "updates_per_s"), median(on, "loop_updates_per_s")
    return {
        "offline_steps": config.steps,
        "online_steps": max((r.get("env_steps") or 0 for r in on), default=0),
        "offline_updates_per_s": offline_ups,
        "online_updates_per_s_in_chunks": median(on, "updates_per_s"),
        "online_loop_updates_per_s": loop_ups,
        "online_env_steps_per_s": median(on, "env_steps_per_s"),
        # cost of one online update (act + env step + push + update) relative to one offline update
        "online_cost_per_update": offline_ups / loop_ups if offline_ups and loop_ups else None,
        "time_fracs": {k: median(on, f"time_{k}_frac") for k in ("act", "env", "push", "update")},
        "final_online_success": {str(r["seed"]): r.get("online_success") for r in on},
    }


def _final_evals(evals: list[dict]) -> dict:
    """Each seed's last eval record."""
    out = {}
    for r in sorted(evals, key=lambda r: r["step"]):
        out[r["seed"]] = r
    return out


def format_summary(summary: dict) -> str:
    lines = [
        f"{summary['agent']} on {summary['env']}: {summary['final_step']} steps in "
        f"{summary['wall_time_s']:.0f} s of training"
    ]
    for seed, s in summary["per_seed"].items():
        lines.append(
            f"  seed {seed}: final success {s['final_success']:.2f}, best {s['best_success']:.2f}, "
            f"score (mean of last 3 evals) {s['score']:.2f}"
            + (f", final return {s['final_return']:.1f}" if "final_return" in s else "")
            + (f", normalised score {s['final_normalized_score']:.1f}" if "final_normalized_score" in s else "")
        )
    if summary.get("score_mean") is not None and len(summary["per_seed"]) > 1:
        lines.append(f"  mean score over seeds: {summary['score_mean']:.3f}")
    ups = summary.get("updates_per_s_median")
    if ups is not None and not math.isnan(ups):
        lines.append(f"  updates/s (median, all seeds): {ups:.1f}")
    return "\n".join(lines)
