"""Collect the online/offline throughput of benchmarks/online/throughput.sh's runs into throughput.{json,md}.

Per run (summary.json's ``online`` block, medians over the train records of all seeds, compilations left out):
offline updates/s (inside compiled chunks), the online loop's updates/s (acting + environment steps + pushing
transitions + the compiled updates), their ratio (the cost of one online update in offline updates) and the
shares of the online loop's time.
"""

import json
import os
import platform
import sys
from pathlib import Path

runs, out = Path(sys.argv[1]), Path(sys.argv[2])
rows = []
for d in sorted(p for p in runs.iterdir() if (p / "summary.json").exists()):
    s = json.loads((d / "summary.json").read_text())
    cfg = json.loads((d / "config.json").read_text())["config"]
    on = s["online"]
    rows.append(
        {
            "run": d.name,
            "agent": cfg["agent"],
            "online_collect": cfg["online_collect"],
            "seeds": cfg["num_seeds"],
            "hidden_dims": cfg["hidden_dims"],
            **{
                k: on[k]
                for k in (
                    "offline_updates_per_s",
                    "online_loop_updates_per_s",
                    "online_updates_per_s_in_chunks",
                    "online_env_steps_per_s",
                    "online_cost_per_update",
                    "time_fracs",
                )
            },
        }
    )
meta = {"machine": platform.machine(), "cpus": os.cpu_count(), "load_average_at_summary": os.getloadavg()}
out.with_suffix(".json").write_text(json.dumps({"meta": meta, "runs": rows}, indent=2) + "\n")
lines = [
    "| agent | k (online_collect) | offline upd/s | online loop upd/s | online in-chunk upd/s | env steps/s | "
    "cost per online update (x offline) | act | env | push | update |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
]
f = lambda x: "–" if x is None else f"{x:.0f}" if x >= 10 else f"{x:.2f}"  # noqa: E731
for r in rows:
    t = r["time_fracs"]
    lines.append(
        f"| {r['agent']} | {r['online_collect']} | {f(r['offline_updates_per_s'])} | "
        f"{f(r['online_loop_updates_per_s'])} | {f(r['online_updates_per_s_in_chunks'])} | "
        f"{f(r['online_env_steps_per_s'])} | {r['online_cost_per_update']:.2f} | "
        + " | ".join(f"{100 * (t[k] or 0):.0f} %" for k in ("act", "env", "push", "update"))
        + " |"
    )
out.with_suffix(".md").write_text(
    f"Rates are summed over {rows[0]['seeds'] if rows else '?'} vmapped seeds (updates x seeds / s). "
    f"Load average when summarised: {meta['load_average_at_summary']}.\n\n" + "\n".join(lines) + "\n"
)
print("\n".join(lines))
