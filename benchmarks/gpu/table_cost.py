"""GPU-hours of one OGBench table family: 5 tasks x 8 seeds x 1M updates, plus the paper's evaluations (at step 1
and every 100k: 11 per run, 50 episodes each; the release's and FQL's main.py), from measured rates.

    python benchmarks/gpu/table_cost.py RATES.json [RATES.json ...] [--eval-seconds S] [--out FILE.md]

RATES: any of
- ``fidec bench-speed --out`` records (``results-h200-partial/bench-seeds1-fd.json``): variant, seeds, updates_per_s,
- paper_scale.sh's ``results.json``: its cases (agent, seeds, precision, updates_per_s) and its release rates,
- ``benchmarks/parity/speed.py``'s ``speed.json``: release_updates_per_s (the release: one seed per process).

Per agent and setting the table gives: fidec one seed per process (40 runs one after another), fidec with S seeds
vmapped per process at each measured S (5 x ceil(8 / S) processes one after another; S = 8 trains a task's seeds in
one process), and the release one seed per process when its rate on the card is given. Runs are counted one after
another on one device (a card running several processes at once may do better; not modelled). Evaluation:
``--eval-seconds`` is the measured time of one evaluation of 50 episodes for all seeds of a process, taken as the
same whatever the process's seeds (lockstep episodes: one batched policy call per step); without it the hours
are training only and say so.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

TASKS, SEEDS, UPDATES = 5, 8, 1_000_000
EVALS_PER_RUN = 1 + UPDATES // 100_000  # step 1 and every 100k (main.py: i == 1 or i % eval_interval == 0)


def read_rates(paths: list[Path]) -> tuple[dict, dict, list[str]]:
    """({(agent, precision): {seeds: aggregate seed-updates/s}}, {agent: release updates/s}, sources)."""
    fidec, release, sources = {}, {}, []
    for path in paths:
        data = json.loads(path.read_text())
        sources.append(str(path))
        if isinstance(data, list) and data and "release_updates_per_s" in data[0]:
            data = {"release": data}
        if isinstance(data, list):  # bench-speed records
            for r in data:
                if r.get("mode", "chunked") == "chunked" and r.get("sweep") is None:
                    fidec.setdefault((r["variant"], "default"), {})[r["seeds"]] = r["updates_per_s"]
            continue
        for c in data.get("cases", []):
            if c.get("status") == "ok":
                fidec.setdefault((c["agent"], c["precision"]), {})[c["seeds"]] = c["updates_per_s"]
        for r in data.get("release") or []:
            if r.get("fidec") == "paper" or "fisher_reuse_base" not in str(r.get("fidec")):
                release[r["agent"]] = r["release_updates_per_s"]
    return fidec, release, sources


def hours(rate_aggregate: float, seeds_per_process: int, eval_s: float | None) -> tuple[float, float | None]:
    """(training hours, evaluation hours or None) of the family with ``seeds_per_process`` seeds per process."""
    train = TASKS * SEEDS * UPDATES / rate_aggregate / 3600
    processes = TASKS * math.ceil(SEEDS / seeds_per_process)
    ev = None if eval_s is None else processes * EVALS_PER_RUN * eval_s / 3600
    return train, ev


def table(fidec: dict, release: dict, eval_s: float | None) -> list[dict]:
    rows = []
    for (agent, precision), by_seeds in sorted(fidec.items()):
        for s, rate in sorted(by_seeds.items()):
            s_used = min(s, SEEDS)
            t, e = hours(rate * s_used / s, s_used, eval_s)  # more seeds than 8: the rate per seed times 8
            rows.append(
                {
                    "who": "fidec",
                    "agent": agent,
                    "precision": precision,
                    "seeds_per_process": s,
                    "seed_updates_per_s": rate,
                    "train_h": t,
                    "eval_h": e,
                }
            )
    for agent, rate in sorted(release.items()):
        t, e = hours(rate, 1, eval_s)
        rows.append(
            {
                "who": "release",
                "agent": agent,
                "precision": "default",
                "seeds_per_process": 1,
                "seed_updates_per_s": rate,
                "train_h": t,
                "eval_h": e,
            }
        )
    return rows


def markdown(rows: list[dict], sources: list[str], eval_s: float | None) -> str:
    lines = [
        f"GPU-hours of one OGBench family: {TASKS} tasks x {SEEDS} seeds x {UPDATES:,} updates, runs one after "
        f"another on one device; {EVALS_PER_RUN} evaluations of 50 episodes per run. Rates from: "
        + ", ".join(f"`{s}`" for s in sources)
        + ".",
        "",
        "Evaluation: "
        + (
            f"{eval_s:g} s per evaluation (all seeds of a process)."
            if eval_s is not None
            else "no measured evaluation time given: **training hours only**."
        ),
        "",
        "| implementation | agent | precision | seeds per process | seed-updates/s | training GPU-h | "
        "evaluation GPU-h | total GPU-h |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        e = r["eval_h"]
        total = r["train_h"] + (e or 0.0)
        lines.append(
            f"| {r['who']} | {r['agent']} | {r['precision']} | {r['seeds_per_process']} | "
            f"{r['seed_updates_per_s']:.0f} | {r['train_h']:.1f} | {'-' if e is None else f'{e:.1f}'} | "
            f"{total:.1f}{'' if e is not None else ' (training only)'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("rates", type=Path, nargs="+")
    ap.add_argument("--eval-seconds", type=float, default=None, help="measured seconds of one evaluation")
    ap.add_argument("--out", type=Path, default=None, help="also write the Markdown (and FILE.json) here")
    a = ap.parse_args(argv)
    fidec, release, sources = read_rates(a.rates)
    rows = table(fidec, release, a.eval_seconds)
    md = markdown(rows, sources, a.eval_seconds)
    print(md)
    if a.out:
        a.out.write_text(md)
        a.out.with_suffix(".json").write_text(
            json.dumps({"sources": sources, "eval_seconds": a.eval_seconds, "rows": rows}, indent=1) + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
