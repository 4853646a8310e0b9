"""results.md + results.json of benchmarks/gpu/run.sh from the files it left in its output folder.

python benchmarks/gpu/summarize.py OUTDIR [--seconds S] [--dry-run]
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
from pathlib import Path


def load(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def bench_rows(out: Path) -> list[dict]:
    rows = []
    for f in sorted(glob.glob(str(out / "bench-seeds*.json"))):
        for r in load(Path(f)) or []:
            rows.append(
                {
                    k: r.get(k)
                    for k in (
                        "variant",
                        "preset",
                        "seeds",
                        "updates_per_s",
                        "updates_per_s_per_seed",
                        "ms_per_update",
                        "compile_s",
                        "achieved_fraction",
                        "peak_mem_mb",
                        "device",
                    )
                }
            )
    return sorted(rows, key=lambda r: (r["variant"], r["seeds"]))


def training(out: Path) -> dict | None:
    run = out / "train"
    summary = load(run / "summary.json")
    records = []
    if (run / "metrics.jsonl").exists():
        records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    if not records:
        return None
    train = [r for r in records if r["kind"] == "train"]
    evals = [r for r in records if r["kind"] == "eval"]
    cfg = (load(run / "config.json") or {}).get("config", {})
    by_step = {}
    for r in train:
        by_step.setdefault(r["step"], r)  # one per step (seeds share the timing fields)
    eval_steps = {}
    for r in evals:
        eval_steps.setdefault(r["step"], r)
    return {
        "complete": summary is not None,
        "config": {
            k: cfg.get(k)
            for k in (
                "agent",
                "env",
                "preset",
                "steps",
                "num_seeds",
                "eval_episodes",
                "eval_envs",
                "eval_workers",
                "hidden_dims",
                "fisher_locality",
            )
        },
        "train": [
            {k: r.get(k) for k in ("step", "updates_per_s", "time_in_chunks_frac", "wall_time")}
            for r in by_step.values()
        ],
        "eval": [
            {
                "step": s,
                "eval_time_s": r.get("eval_time_s"),
                "success_mean": sum(e["success"] for e in evals if e["step"] == s)
                / max(1, sum(1 for e in evals if e["step"] == s)),
            }
            for s, r in eval_steps.items()
        ],
        "time_in_chunks_frac": (summary or {}).get("time_in_chunks_frac"),
        "wall_time_in_chunks_s": (summary or {}).get("wall_time_s"),
        "updates_per_s_median": (summary or {}).get("updates_per_s_median"),
    }


def fmt(x, spec=".1f"):
    return "-" if x is None else format(x, spec)


def markdown(res: dict) -> str:
    dev = res.get("device") or {}
    lines = [
        f"# fidec on {dev.get('device_kind', '?')} ({dev.get('backend', '?')})"
        + (" — DRY RUN" if res["dry_run"] else ""),
        "",
        f"`benchmarks/gpu/run.sh`, {res['seconds']} s in all. jax {dev.get('jax')}, "
        f"nvidia-smi: {dev.get('nvidia_smi')}.",
        "",
        "## bench-speed (updates/s of all seeds together; compile s)",
        "",
    ]
    seeds = sorted({r["seeds"] for r in res["bench"]})
    lines.append("| agent | " + " | ".join(f"{s} seed{'s' if s > 1 else ''}" for s in seeds) + " |")
    lines.append("|---|" + "---|" * len(seeds))
    for v in sorted({r["variant"] for r in res["bench"]}):
        cells = []
        for s in seeds:
            r = next((r for r in res["bench"] if r["variant"] == v and r["seeds"] == s), None)
            cells.append("-" if r is None else f"{fmt(r['updates_per_s'])} ({fmt(r['compile_s'])} s)")
        lines.append(f"| {v} | " + " | ".join(cells) + " |")
    t = res.get("training")
    lines += ["", "## short training with evaluation", ""]
    if not t:
        lines.append("did not run (see run.log)")
    else:
        lines.append(f"config: {json.dumps(t['config'])}; complete: {t['complete']}")
        lines.append("")
        lines.append(f"share of wall time inside compiled chunks (whole run): {fmt(t['time_in_chunks_frac'], '.2f')}")
        lines += ["", "| step | updates/s | time_in_chunks_frac |", "|---|---|---|"]
        lines += [
            f"| {r['step']} | {fmt(r['updates_per_s'])} | {fmt(r['time_in_chunks_frac'], '.2f')} |" for r in t["train"]
        ]
        lines += ["", "| eval step | eval_time_s | mean success |", "|---|---|---|"]
        lines += [f"| {r['step']} | {fmt(r['eval_time_s'])} | {fmt(r['success_mean'], '.2f')} |" for r in t["eval"]]
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--seconds", type=int, default=None)
    p.add_argument("--dry-run", action="store_true")
    args = p.parse_args()
    out = Path(args.out)
    res = {
        "status": "ok",
        "dry_run": args.dry_run,
        "seconds": args.seconds,
        "device": load(out / "device.json"),
        "bench": bench_rows(out),
        "training": training(out),
    }
    (out / "results.json").write_text(json.dumps(res, indent=2) + "\n")
    (out / "results.md").write_text(markdown(res))
    print(markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
