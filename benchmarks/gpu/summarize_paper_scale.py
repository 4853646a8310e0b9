"""results.md + results.json of benchmarks/gpu/paper_scale.sh from the files it left in its output folder.

    python benchmarks/gpu/summarize_paper_scale.py OUT [--seconds S] [--dry-run]

Every planned case appears, measured or with the reason it was not (a compile error or timeout, an error while
timing, the budget); nothing planned is left out.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def load(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def jsonl(path: Path) -> list[dict]:
    try:
        return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    except (OSError, ValueError):
        return []


def fmt(x, spec=".1f"):
    return "-" if x is None else format(x, spec)


def cases(out: Path, plan: dict) -> list[dict]:
    rows = []
    for c in plan.get("cases", []):
        comp = load(out / "cases" / f"{c['id']}.compile.json") or {"ok": False, "error": "never compiled (budget)"}
        meas = load(out / "cases" / f"{c['id']}.json") or {"ok": False, "error": "never timed (budget)"}
        row = {"id": c["id"], "agent": c["agent"], "seeds": c["seeds"], "precision": c["precision"] or "default"}
        row["compile_s"] = comp.get("compile_s")
        row["concurrent_compiles"] = comp.get("concurrent_compiles")
        row["peak_mem_mb"] = comp.get("peak_mem_mb")
        if meas.get("ok"):
            for k in (
                "updates_per_s",
                "updates_per_s_per_seed",
                "ms_per_update",
                "time_in_chunks_frac",
                "achieved_fraction",
                "matmul_peak_gflops",
                "flops_per_update",
                "device_peak_bytes_in_use",
                "load_avg_1m",
                "load_s",
            ):
                row[k] = meas.get(k)
            row["status"] = "ok"
        else:
            row["status"] = "failed"
            row["error"] = comp.get("error") if not comp.get("ok") else meas.get("error")
        rows.append(row)
    return rows


def antmaze(out: Path) -> dict:
    res = {}
    for a in ("fd", "deflow", "fql"):
        d = out / f"antmaze-{a}"
        recs = jsonl(d / "metrics.jsonl")
        if not recs and not d.exists():
            continue
        summary = load(d / "summary.json")
        train = [r for r in recs if r.get("kind") == "train"]
        evals = [r for r in recs if r.get("kind") == "eval"]
        cfg = (load(d / "config.json") or {}).get("config", {})
        res[a] = {
            "complete": summary is not None,
            "steps": cfg.get("steps"),
            "num_seeds": cfg.get("num_seeds"),
            "last_step": max((r["step"] for r in train), default=None),
            "updates_per_s": [r.get("updates_per_s") for r in train if r.get("seed") == cfg.get("seed", 0)],
            "time_in_chunks_frac": (summary or {}).get("time_in_chunks_frac"),
            "eval_time_s": evals[0].get("eval_time_s") if evals else None,
            "success_per_seed": [r.get("success") for r in evals],
            "eval_episodes": cfg.get("eval_episodes"),
        }
    return res


def markdown(res: dict) -> str:
    dev = res.get("device") or {}
    out = [
        f"# fidec at the paper preset on {dev.get('device_kind', '?')} ({dev.get('backend', '?')})",
        "",
    ]
    if res["dry_run"]:
        out += [
            "**CPU DRY RUN of `benchmarks/gpu/paper_scale.sh --dry-run`: tiny sizes, to check the script end to end. "
            "No number here is a measurement of fidec's speed.**",
            "",
        ]
    out += [
        f"`benchmarks/gpu/paper_scale.sh`, {res['seconds']} s in all; commit {res.get('commit', '?')}; "
        f"jax {dev.get('jax')}; nvidia-smi: {dev.get('nvidia_smi')}; {dev.get('cpus')} CPUs.",
        "",
        "## Stages",
        "",
        "| stage | status | at s | note |",
        "|---|---|---|---|",
    ]
    out += [f"| {s['stage']} | {s['status']} | {s['at_s']} | {s.get('note', '')} |" for s in res["stages"]]
    plan = res.get("plan") or {}
    out += [
        "",
        f"## Training cases (preset {plan.get('preset')}, chunks of {plan.get('chunk')} updates, median of "
        f"{plan.get('repeats')})",
        "",
        "Seed-updates/s of all vmapped seeds together; compile s measured with other compiles running "
        "(`concurrent`); memory: XLA's analysis of the chunk executable; share in chunks: the training loop "
        "(chunk, loss terms to the host, finite checks) over "
        f"{plan.get('loop_chunks')} chunks; % of peak: XLA's FLOPs x rate / the matmul peak at the case's precision.",
        "",
        "| agent | seeds | precision | seed-updates/s | per seed | compile s (concurrent) | MB | share in chunks | "
        "% of peak | status |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in res["cases"]:
        frac = r.get("achieved_fraction")
        out.append(
            f"| {r['agent']} | {r['seeds']} | {r['precision']} | {fmt(r.get('updates_per_s'))} | "
            f"{fmt(r.get('updates_per_s_per_seed'))} | {fmt(r.get('compile_s'))} ({r.get('concurrent_compiles')}) | "
            f"{fmt(r.get('peak_mem_mb'), '.0f')} | {fmt(r.get('time_in_chunks_frac'), '.3f')} | "
            f"{fmt(100 * frac if frac is not None else None, '.1f')} | "
            f"{r['status'] if r['status'] == 'ok' else 'FAILED: ' + str(r.get('error'))[:160].replace('|', '/')} |"
        )
    if plan.get("skipped_agents"):
        out += ["", "Agents not run: " + "; ".join(f"{k}: {v}" for k, v in plan["skipped_agents"].items())]
    peak = res.get("peak") or {}
    out += ["", f"## Matmul peak ({peak.get('size')}^2 float32 operands)", ""]
    out += ["| precision | GFLOP/s |", "|---|---|"] if peak else ["not measured (see stages)"]
    for p, v in (peak.get("precisions") or {}).items():
        out.append(f"| {p} | {fmt(v.get('gflops'), '.0f') if 'gflops' in v else 'FAILED: ' + v.get('error', '')} |")
    out += ["", "## The release on the same card (benchmarks/parity/speed.py)", ""]
    rel = res.get("release")
    if rel:
        out += ["| agent | fidec | fidec updates/s | release updates/s | fidec / release |", "|---|---|---|---|---|"]
        out += [
            f"| {r['agent']} | {r['fidec']} | {fmt(r['fidec_updates_per_s'])} | {fmt(r['release_updates_per_s'])} | "
            f"{fmt(r['ratio_median'], '.2f')}x |"
            for r in rel
        ]
    else:
        out.append("not measured (see stages and release.log)")
    out += ["", "## Evaluation seconds (untrained agent: every episode runs to its time limit)", ""]
    if res["eval"]:
        out += ["| task | seeds x episodes | envs | workers | env steps | seconds |", "|---|---|---|---|---|---|"]
        out += [
            f"| {e['task']} | {e['seeds']} x {e['episodes_per_seed']} | {e['eval_envs']} | {e['eval_workers']} | "
            f"{e.get('env_steps')} | {fmt(e.get('eval_s'))} |"
            for e in res["eval"]
        ]
    else:
        out.append("not measured (see stages)")
    out += ["", "## antmaze-large-navigate-singletask-task1, paper preset, 4 seeds each, three runs at once", ""]
    if res["antmaze"]:
        out += [
            "| agent | steps reached / planned | updates/s (per train record) | share in chunks | eval s | "
            "success per seed |",
            "|---|---|---|---|---|---|",
        ]
        for a, r in res["antmaze"].items():
            ups = ", ".join(fmt(u) for u in r["updates_per_s"] if u is not None)
            succ = ", ".join(fmt(s, ".2f") for s in r["success_per_seed"])
            out.append(
                f"| {a} | {r['last_step']} / {r['steps']} | {ups} | {fmt(r['time_in_chunks_frac'], '.3f')} | "
                f"{fmt(r['eval_time_s'])} | {succ or '-'} |"
            )
    else:
        out.append("not run (see stages)")
    return "\n".join(out) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--seconds", type=int, default=None)
    ap.add_argument("--dry-run", action="store_true")
    a = ap.parse_args()
    out = a.out
    plan = load(out / "plan.json") or {}
    commit = (out / "commit.txt").read_text().strip() if (out / "commit.txt").exists() else None
    res = {
        "dry_run": a.dry_run,
        "seconds": a.seconds,
        "commit": commit,
        "device": load(out / "device.json"),
        "stages": jsonl(out / "stages.jsonl"),
        "plan": {k: v for k, v in plan.items() if k != "cases"},
        "cases": cases(out, plan),
        "peak": load(out / "peak.json"),
        "release": load(out / "release" / "speed.json"),
        "eval": [e for e in (load(p) for p in sorted(out.glob("eval-*.json"))) if e],
        "antmaze": antmaze(out),
    }
    (out / "results.json").write_text(json.dumps(res, indent=1) + "\n")
    (out / "results.md").write_text(markdown(res))
    print(markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
