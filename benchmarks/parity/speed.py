"""Update rate of fidec's paper preset against the authors' release (and FQL's), in one process, interleaved.

Both sides run the paper's sizes (4x512, batch 256, K = 10, N = 8) on the same synthetic data (cube-single's
dimensions). The release runs as its main.py does: one jitted ``agent.update(batch)`` per step on a batch drawn
on the host. fidec runs as ``fidec train`` does: compiled chunks of ``--chunk`` updates drawing batches on the
device (``fidec.train.make_chunk_fn``), one seed. Repeats alternate between the two so that background load
hits both alike; the ratio is the median of per-repeat ratios.

    python benchmarks/parity/speed.py --release PATH/Fisher-Decorator --fql PATH/fql --out benchmarks/parity/speed
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from parity import ACTION_DIM, ENV, OBS_DIM, release_agent, release_config  # noqa: E402

from fidec.agents import make_agent  # noqa: E402
from fidec.bench import synthetic_data  # noqa: E402
from fidec.config import resolve  # noqa: E402
from fidec.train import init_states, make_chunk_fn  # noqa: E402


def fidec_runner(agent_name: str, data: dict, chunk: int, overrides: dict, preset: str = "paper"):
    cfg = resolve({"agent": agent_name, "env": ENV, "preset": preset, "chunk_size": chunk, **overrides})
    agent = make_agent(cfg, OBS_DIM, ACTION_DIM)
    states = init_states(agent, [0])
    run_chunk = make_chunk_fn(agent, cfg.batch_size)
    dev = {k: jnp.asarray(v) for k, v in data.items()}
    box = {"s": states}

    def run(n_chunks: int):
        for _ in range(n_chunks):
            box["s"], infos = run_chunk(box["s"], dev, chunk)
        jax.block_until_ready(infos)

    return run, cfg


def release_runner(agent_name: str, data: dict, cfg, release: Path, fql: Path):
    mod, cls = release_agent(agent_name, release, fql)
    rc = release_config(agent_name, cfg, mod)
    n = len(data["observations"])
    box = {"a": cls.create(0, data["observations"][:1], data["actions"][:1], rc)}
    rng = np.random.default_rng(0)

    def run(n_updates: int):
        for _ in range(n_updates):
            idx = rng.integers(0, n, cfg.batch_size)  # the release's Dataset.sample: host-side numpy indices
            box["a"], info = box["a"].update({k: v[idx] for k, v in data.items()})
        jax.block_until_ready(info)

    return run


def timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--release", type=Path, required=True)
    ap.add_argument("--fql", type=Path, required=True)
    ap.add_argument("--agents", default="fd,deflow,fql")
    ap.add_argument("--chunk", type=int, default=20, help="fidec updates per compiled call (and per timing)")
    ap.add_argument("--chunks", type=int, default=1, help="compiled calls per timed repeat")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--preset", default="paper", help="both sides' sizes: fidec's preset, the release given its values")
    args = ap.parse_args(argv)
    data = {k: np.asarray(v) for k, v in synthetic_data(OBS_DIM, ACTION_DIM).items()}
    rows = []
    for name in args.agents.split(","):
        variants = [("paper", {})]
        if name == "fd":
            variants.append(("paper + fisher_reuse_base (fidec's N-1 option)", {"fisher_reuse_base": True}))
        for label, ov in variants:
            f_run, cfg = fidec_runner(name, data, args.chunk, ov, args.preset)
            r_run = release_runner(name, data, cfg, args.release, args.fql)
            n = args.chunk * args.chunks
            f_run(1), r_run(2)  # compile both
            f_t, r_t = [], []
            for _ in range(args.repeats):
                f_t.append(timed(f_run, args.chunks))
                r_t.append(timed(r_run, n))
            ratios = [r / f for f, r in zip(f_t, r_t, strict=True)]
            rows.append(
                {
                    "agent": name,
                    "fidec": label,
                    "updates_per_repeat": n,
                    "fidec_updates_per_s": n / statistics.median(f_t),
                    "release_updates_per_s": n / statistics.median(r_t),
                    "ratio_median": statistics.median(ratios),
                    "ratios": ratios,
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    lines = [
        "# fidec paper preset vs the release: updates/s in one process, interleaved",
        "",
        f"preset {args.preset} ({'x'.join(map(str, cfg.hidden_dims))}, batch {cfg.batch_size}, K = {cfg.flow_steps}, "
        f"N = 8), obs {OBS_DIM}, action {ACTION_DIM}; {args.repeats} repeats of "
        f"{args.chunk * args.chunks} updates each side; JAX {jax.__version__}, {jax.devices()[0].platform}.",
        "",
        "| agent | fidec | fidec updates/s | release updates/s | fidec / release (median of repeats) |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['agent']} | {r['fidec']} | {r['fidec_updates_per_s']:.2f} | {r['release_updates_per_s']:.2f} | "
            f"{r['ratio_median']:.2f}x |"
        )
    lines += ["", f"Command: `python benchmarks/parity/speed.py {' '.join(argv or sys.argv[1:])}`"]
    md = "\n".join(lines)
    print(md)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "speed.md").write_text(md + "\n")
        (args.out / "speed.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
