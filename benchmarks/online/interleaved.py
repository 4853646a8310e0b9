"""The online loop's cost per update against the offline update rate, measured in one process, interleaved.

On a shared machine the load changes from minute to minute, so two phases timed one after the other (as in a
run's own records) can differ by 2x for nothing. Here the same Trainer alternates, ``--rounds`` times: ``U``
offline updates (the production chunk function, one compiled call of ``U``), then ``U`` online steps with each
``k`` of ``--ks`` (the production pieces of :mod:`fidec.train.online`: batched act, environment steps, buffer
push, one compiled call per ``k`` steps). The cost per online update is the median over rounds of
(online time per update) / (offline time per update) of the same round; the shares say where the online time
went. Compilations happen in a warm-up before the rounds.

    python benchmarks/online/interleaved.py --agents fql,fd --data-dir data --out benchmarks/online/interleaved.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np


def measure(agent: str, args) -> dict:
    from fidec.config import resolve
    from fidec.online import buffer as ob
    from fidec.online.collect import OnlineCollector, act_base_keys
    from fidec.train import Trainer, make_act_fn, make_online_chunk_fn

    cfg = resolve(
        {
            "agent": agent,
            "env": args.env,
            "preset": "cpu",
            "hidden_dims": tuple(int(x) for x in args.hidden_dims.split(",")),
            "num_seeds": args.seeds,
            "dataset_dir": args.data_dir,
            "online_steps": 1_000_000,
            "eval_episodes": 0,
        }
    )
    t = Trainer(cfg, tempfile.mkdtemp(prefix="fidec-interleaved-"), progress=False)
    n_data = len(t.task.train["observations"])
    ring = ob.ring_size(cfg, n_data)
    rings = ob.empty_ring(len(t.seeds), ring, t.task.train)
    run = make_online_chunk_fn(t.agent, cfg, n_data, ring)
    act = make_act_fn(t.agent)
    keys = act_base_keys(t.seeds)
    col = OnlineCollector(t.task, t.seeds)
    col.reset_all()
    state = {"m": 0, "rings": rings}
    U = args.updates

    def offline():
        t0 = time.perf_counter()
        t.states, infos = t.run_chunk(t.states, t.data, U)
        jax.block_until_ready(infos)
        return time.perf_counter() - t0

    def online(k):
        parts = dict.fromkeys(("act", "env", "push", "update"), 0.0)
        for _ in range(U // k):
            m, rows = state["m"], []
            for j in range(k):
                t0 = time.perf_counter()
                a = np.asarray(act(t.states.params, jnp.asarray(col.obs), keys, m + j))
                t1 = time.perf_counter()
                rows.append(col.step(a)[0])
                parts["act"] += t1 - t0
                parts["env"] += time.perf_counter() - t1
            new = {key: np.stack([r[key] for r in rows], axis=1) for key in rows[0]}
            t0 = time.perf_counter()
            state["rings"] = ob.push(state["rings"], new, m, ring)
            t1 = time.perf_counter()
            t.states, infos = run(t.states, t.data, state["rings"], jnp.int32(m), k)
            jax.device_get(infos)
            parts["push"] += t1 - t0
            parts["update"] += time.perf_counter() - t1
            state["m"] = m + k
        return parts

    offline()  # compile
    for k in args.ks:
        online(k)
    rounds = []
    for r in range(args.rounds):
        row = {"offline_s_per_update": offline() / U}
        for k in args.ks:
            parts = online(k)
            total = sum(parts.values())
            row[f"k{k}"] = {
                "s_per_update": total / U,
                "cost_per_update": total / U / row["offline_s_per_update"],
                "shares": {p: v / total for p, v in parts.items()},
            }
        rounds.append(row)
        print(agent, f"round {r + 1}/{args.rounds}", json.dumps(row), flush=True)
    col.close()
    med = lambda xs: float(np.median(xs))  # noqa: E731
    out = {
        "agent": agent,
        "offline_updates_per_s": med([len(t.seeds) / r["offline_s_per_update"] for r in rounds]),
        "rounds": rounds,
    }
    for k in args.ks:
        out[f"k{k}"] = {
            "cost_per_update": med([r[f"k{k}"]["cost_per_update"] for r in rounds]),
            "loop_updates_per_s": med([len(t.seeds) / r[f"k{k}"]["s_per_update"] for r in rounds]),
            "shares": {p: med([r[f"k{k}"]["shares"][p] for r in rounds]) for p in ("act", "env", "push", "update")},
        }
    return out


def to_markdown(results: dict) -> str:
    """The table of benchmarks/online/interleaved.md from interleaved.json."""
    ks = sorted(int(k[1:]) for a in results["agents"] for k in a if k.startswith("k") and k[1:].isdigit())
    ks = sorted(set(ks))
    lines = [
        f"`{results['command']}`",
        "",
        f"Machine: {results['machine']['cpus']} CPUs, load average at start "
        f"{results['machine']['load_average_start']}, at end {results['machine'].get('load_average_end')} "
        "(shared with other work). Medians over rounds.",
        "",
        "| agent | offline upd/s | k | online loop upd/s | cost per online update (x offline) "
        "| act | env | push | update |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for a in results["agents"]:
        for k in ks:
            r = a[f"k{k}"]
            sh = r["shares"]
            lines.append(
                f"| {a['agent']} | {a['offline_updates_per_s']:.1f} | {k} | {r['loop_updates_per_s']:.1f} | "
                f"{r['cost_per_update']:.2f} | "
                + " | ".join(f"{100 * sh[p]:.1f} %" for p in ("act", "env", "push", "update"))
                + " |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--agents", default="fql,deflow,fd")
    p.add_argument("--env", default="pointmaze-medium-navigate-singletask-task3-v0")
    p.add_argument("--data-dir", default="data")
    p.add_argument("--hidden-dims", default="128,128,128")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--updates", type=int, default=200, help="U: updates per measurement (a multiple of every k)")
    p.add_argument("--ks", type=lambda s: [int(x) for x in s.split(",")], default=[1, 10])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", required=True, help="the JSON results; a .md table is written beside it")
    p.add_argument("--markdown-only", action="store_true", help="only (re)write the .md from an existing --out")
    args = p.parse_args()
    md = os.path.splitext(args.out)[0] + ".md"
    if args.markdown_only:
        with open(args.out) as f:
            text = to_markdown(json.load(f))
        with open(md, "w") as f:
            f.write(text)
        print(text)
        return
    from fidec.console import enable_compilation_cache, quiet_warnings

    quiet_warnings()
    enable_compilation_cache()
    results = {
        "command": "python benchmarks/online/interleaved.py "
        + " ".join(
            f"--{k.replace('_', '-')} {v if not isinstance(v, list) else ','.join(map(str, v))}"
            for k, v in vars(args).items()
        ),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_average_start": os.getloadavg()},
        "agents": [],
    }
    for agent in args.agents.split(","):
        results["agents"].append(measure(agent, args))
        results["machine"]["load_average_end"] = os.getloadavg()
        tmp = args.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(results, f, indent=2)
        os.replace(tmp, args.out)
    with open(md, "w") as f:
        f.write(to_markdown(results))


if __name__ == "__main__":
    main()
