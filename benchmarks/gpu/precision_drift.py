"""What each --matmul-precision changes in an update: N updates from one identical state at every precision, each
quantity's relative difference from ``highest`` (float32 products).

For each agent: one seed, the preset's sizes, synthetic cube-single-sized data (``fidec.bench.synthetic_data``: an
update's cost and numerics depend on shapes, not values), the same initial state and the same minibatch keys at
every precision. Reported, relative to ``highest``:

- every loss term of the first update (per-update drift) and of the N-th (accumulated drift),
- each network's parameters after N updates: ``||theta_p - theta_highest|| / ||theta_highest - theta_0||``, i.e.
  the drift as a share of how far the N updates moved the parameters,
- the policy's actions on 256 fixed observations after N updates (each precision's own policy and precision):
  ``mean |a_p - a_highest| / mean |a_highest|``.

    python benchmarks/gpu/precision_drift.py --preset paper --agents fd,deflow,fql --updates 100 --out DIR
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jax
import numpy as np

from fidec.agents import make_agent
from fidec.bench import DEFAULT_ACTION_DIM, DEFAULT_OBS_DIM, synthetic_data
from fidec.config import MATMUL_PRECISIONS, resolve
from fidec.precision import device_kind
from fidec.train import init_states, make_chunk_fn

PRECISIONS = (*MATMUL_PRECISIONS, None)  # None: JAX's default (no setting)
TINY = 1e-12


def label(p) -> str:
    return p or "default"


def run_one(agent_name: str, preset: str, precision, updates: int, data: dict, obs: jax.Array) -> dict:
    cfg = resolve({"agent": agent_name, "preset": preset, "matmul_precision": precision})
    agent = make_agent(cfg, DEFAULT_OBS_DIM, DEFAULT_ACTION_DIM)
    state0 = init_states(agent, [0])
    params0 = jax.device_get(jax.tree_util.tree_map(lambda x: x[0], state0.params))  # before the chunk donates it
    run_chunk = make_chunk_fn(agent, cfg.batch_size)
    t0 = time.perf_counter()
    states, infos = run_chunk(state0, data, updates)  # infos: (updates, 1), the first update's terms first
    jax.block_until_ready(states)
    seconds = time.perf_counter() - t0
    params = jax.tree_util.tree_map(lambda x: x[0], states.params)
    act = jax.jit(agent.act)(params, obs, jax.random.PRNGKey(7))
    return {
        "params0": params0,
        "params": jax.device_get(params),
        "first": {k: float(np.asarray(v)[0, 0]) for k, v in infos.items()},
        "last": {k: float(np.asarray(v)[-1, 0]) for k, v in infos.items()},
        "actions": np.asarray(act),
        "seconds_incl_compile": seconds,
    }


def flat(tree) -> np.ndarray:
    return np.concatenate([np.ravel(np.asarray(x, np.float64)) for x in jax.tree_util.tree_leaves(tree)])


def compare(ref: dict, other: dict) -> dict:
    out = {}
    for when in ("first", "last"):
        for k, v in ref[when].items():
            out[f"{when}_update/{k}"] = abs(other[when][k] - v) / max(abs(v), TINY)
    for net in ref["params"]:
        moved = np.linalg.norm(flat(ref["params"][net]) - flat(ref["params0"][net]))
        out[f"params/{net}"] = float(
            np.linalg.norm(flat(other["params"][net]) - flat(ref["params"][net])) / max(moved, TINY)
        )
    a, b = ref["actions"], other["actions"]
    out["policy/actions"] = float(np.mean(np.abs(b - a)) / max(np.mean(np.abs(a)), TINY))
    return out


def markdown(res: dict) -> str:
    dev = res["device"]
    others = [label(p) for p in PRECISIONS if p != "highest"]
    lines = [
        f"# Matmul precision: drift of one update and of {res['updates']} (relative to `highest`)",
        "",
        f"{dev['platform']} ({dev['device_kind']}), JAX {res['jax']}, preset `{res['preset']}`, one seed, synthetic "
        f"data (obs {DEFAULT_OBS_DIM}, action {DEFAULT_ACTION_DIM}). Command: `{res['command']}`.",
        "",
        "Loss terms: |x_p - x_highest| / |x_highest| at the first and the last update. Parameters: "
        "||theta_p - theta_highest|| / ||theta_highest - theta_0|| after the updates (a share of how far they moved). "
        "Actions: mean |a_p - a_highest| / mean |a_highest| on 256 fixed observations.",
    ]
    if dev["platform"] == "cpu":
        lines += [
            "",
            "**CPU**: XLA:CPU multiplies in float32 whatever the setting, so this checks the script and measures no "
            "GPU precision. `highest`, `tf32` and the default give identical results; `bf16` differs only at float32 "
            "rounding level (XLA:CPU compiles the bf16-annotated products into differently ordered float32 code; "
            "bfloat16 operands would differ by about 1e-3).",
        ]
    for agent, rows in res["agents"].items():
        lines += ["", f"## {agent}", "", "| quantity | " + " | ".join(others) + " |", "|---|" + "---|" * len(others)]
        for q in rows[others[0]]:
            lines.append(f"| {q} | " + " | ".join(f"{rows[o][q]:.2e}" for o in others) + " |")
        secs = res["seconds"][agent]
        lines += ["", "seconds (compile included): " + ", ".join(f"{k} {v:.1f}" for k, v in secs.items())]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--agents", default="fd,deflow,fql")
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--updates", type=int, default=100, help="updates from the common initial state (>= 1)")
    ap.add_argument("--out", type=Path, default=None, help="folder for drift.json and drift.md")
    args = ap.parse_args(argv)
    if args.updates < 1:
        ap.error("--updates must be >= 1")
    data = synthetic_data(DEFAULT_OBS_DIM, DEFAULT_ACTION_DIM)
    obs = jax.random.normal(jax.random.PRNGKey(3), (256, DEFAULT_OBS_DIM))
    res = {
        "device": device_kind(),
        "jax": jax.__version__,
        "preset": args.preset,
        "updates": args.updates,
        "command": "python benchmarks/gpu/precision_drift.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "agents": {},
        "seconds": {},
    }
    for name in [a for a in args.agents.split(",") if a]:
        runs = {label(p): run_one(name, args.preset, p, args.updates, data, obs) for p in PRECISIONS}
        res["agents"][name] = {k: compare(runs["highest"], v) for k, v in runs.items() if k != "highest"}
        res["seconds"][name] = {k: v["seconds_incl_compile"] for k, v in runs.items()}
        print(f"{name}: done", file=sys.stderr, flush=True)
    md = markdown(res)
    print(md)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "drift.json").write_text(json.dumps(res, indent=1) + "\n")
        (args.out / "drift.md").write_text(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
