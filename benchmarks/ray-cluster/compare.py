"""Compare the runs of two sweep folders: every metric record field by field (timings excepted) and every leaf
of the final checkpoint bit for bit. Writes a JSON and a Markdown table; exits 1 if any run differs.

    python compare.py SWEEP_A SWEEP_B OUT_PREFIX
"""

import json
import sys
from pathlib import Path

import numpy as np
from flax import serialization

#: Fields that measure time, not training: they differ between any two runs.
TIMINGS = {"wall_time", "updates_per_s", "eval_time_s", "time_in_chunks_frac"}


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


def leaves(tree, prefix=""):
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from leaves(v, f"{prefix}/{k}")
    else:
        yield prefix, np.asarray(tree)


def compare(a: Path, b: Path) -> dict:
    ra, rb = records(a), records(b)
    fields = set()
    for x, y in zip(ra, rb, strict=False):
        fields |= {k for k in set(x) | set(y) if k not in TIMINGS and x.get(k) != y.get(k)}
    ca = dict(leaves(serialization.msgpack_restore((a / "checkpoint.msgpack").read_bytes())["state"]))
    cb = dict(leaves(serialization.msgpack_restore((b / "checkpoint.msgpack").read_bytes())["state"]))
    differ = [k for k in ca if k not in cb or ca[k].tobytes() != cb[k].tobytes() or ca[k].dtype != cb[k].dtype]
    return {
        "records": [len(ra), len(rb)],
        "record_fields_differing": sorted(fields) + (["(record count)"] if len(ra) != len(rb) else []),
        "checkpoint_leaves": len(ca),
        "checkpoint_leaves_differing": differ + [k for k in cb if k not in ca],
        "final_step": [json.loads((r / "summary.json").read_text())["final_step"] for r in (a, b)],
        "score_mean": [json.loads((r / "summary.json").read_text())["score_mean"] for r in (a, b)],
    }


def main(sweep_a: str, sweep_b: str, out: str) -> int:
    a, b = Path(sweep_a), Path(sweep_b)
    runs = sorted(str(p.parent.relative_to(a)) for p in a.glob("**/summary.json"))
    result = {name: compare(a / name, b / name) for name in runs}
    same = all(not r["record_fields_differing"] and not r["checkpoint_leaves_differing"] for r in result.values())
    Path(out + ".json").write_text(json.dumps({"identical": same, "runs": result}, indent=1) + "\n")
    lines = [
        f"| run | records ({a.name} / {b.name}) | fields differing (timings excepted) | checkpoint leaves | "
        "leaves differing | final step | score |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in result.items():
        lines.append(
            f"| `{name}` | {r['records'][0]} / {r['records'][1]} | {len(r['record_fields_differing'])} | "
            f"{r['checkpoint_leaves']} | {len(r['checkpoint_leaves_differing'])} | {r['final_step'][0]} / "
            f"{r['final_step'][1]} | {r['score_mean'][0]:.2f} / {r['score_mean'][1]:.2f} |"
        )
    lines.append("")
    lines.append(f"identical: {'yes' if same else 'NO'} ({len(result)} runs)")
    Path(out + ".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
