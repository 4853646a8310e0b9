"""Evaluation wall time: sequential vs vectorised (in-process, and with worker processes), same episodes.

    .venv/bin/python benchmarks/eval/bench_eval.py --out benchmarks/eval/result   # ~3 min on 2 cores

At the cpu benchmark's configuration (fidec/suites/cpu.toml: FD, 3x128 networks, 20 episodes per evaluation)
on pointmaze-medium-navigate task3 and cube-single-play task2. The agent is untrained (initialised from its
seed): evaluation cost does not depend on training, and an untrained agent steps every episode to its time
limit (the slowest case; a trained policy that reaches the goal ends pointmaze episodes early). No dataset is
needed: dimensions come from the environment. Environments are made before timing (the trainer keeps them
between evaluations); compilation is done before timing. Every mode's per-episode success, return and length
are compared with the sequential evaluator's in the same run (``identical`` in the result).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import ogbench

from fidec.agents import make_agent
from fidec.config import resolve
from fidec.evaluate import EnvPool, make_batch_policy_fn, make_policy_fn, run_sequential, run_vectorised
from fidec.train import seed_slice, versions

TASKS = ("pointmaze-medium-navigate-singletask-task3-v0", "cube-single-play-singletask-task2-v0")


def make_env(name):
    return ogbench.make_env_and_datasets(name, env_only=True)


class EnvFactory:  # picklable for worker processes
    def __init__(self, name):
        self.name = name

    def __call__(self):
        return make_env(self.name)


def time_env_steps(env, n=300):
    env.reset(seed=0)
    a = np.zeros(env.action_space.shape, np.float32)
    t0 = time.perf_counter()
    for _ in range(n):
        *_, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset(seed=1)
    return (time.perf_counter() - t0) / n


def bench_task(name, agent_name, episodes, seeds, workers, hidden):
    env = make_env(name)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    cfg = resolve({"agent": agent_name, "env": name, "preset": "cpu", "hidden_dims": hidden})
    agent = make_agent(cfg, obs_dim, act_dim)
    params = jax.jit(jax.vmap(agent.init))(jnp.stack([jax.random.PRNGKey(s) for s in seeds])).params
    eval_seeds = [s * 1_000_003 + 3000 for s in seeds]
    single, batch = make_policy_fn(agent), make_batch_policy_fn(agent)
    # compile outside the timings
    single(seed_slice(params, 0), np.zeros(obs_dim, np.float32), jax.random.PRNGKey(0), 0).block_until_ready()
    zeros = np.zeros((len(seeds), episodes, obs_dim), np.float32)
    batch(params, zeros, np.zeros((len(seeds), episodes, 2), np.uint32), 0).block_until_ready()
    obs0, p0, k0 = np.asarray(env.reset(seed=0)[0], np.float32), seed_slice(params, 0), jax.random.PRNGKey(0)
    zero_keys = np.zeros((len(seeds), episodes, 2), np.uint32)
    t0 = time.perf_counter()
    for t in range(200):
        np.asarray(single(p0, obs0, k0, t))
    policy_single_us = (time.perf_counter() - t0) / 200 * 1e6
    t0 = time.perf_counter()
    for t in range(50):
        np.asarray(batch(params, zeros, zero_keys, t))
    policy_batch_us = (time.perf_counter() - t0) / 50 * 1e6
    env_step_us = time_env_steps(env) * 1e6

    out = {"task": name, "agent": agent_name, "episodes": episodes, "seeds": len(seeds), "hidden_dims": list(hidden)}
    out.update(policy_single_us=policy_single_us, policy_batch_us=policy_batch_us, env_step_us=env_step_us)
    t0 = time.perf_counter()
    seq = [
        run_sequential(agent, seed_slice(params, i), env, episodes, s, policy_fn=single)
        for i, s in enumerate(eval_seeds)
    ]
    out["sequential_s"] = time.perf_counter() - t0
    out["env_steps"] = int(sum(sum(r["length"]) for r in seq))
    # the evaluator without batching: one 1-row policy call per step (XLA:CPU rounds a 1-row product differently,
    # so its actions may differ from the batched ones in the last bit; see fidec/evaluate.py)
    legacy = jax.jit(lambda p, o, k, t: agent.act(p, o, jax.random.fold_in(k, t)))
    legacy(p0, obs0, k0, 0).block_until_ready()
    t0 = time.perf_counter()
    old = [
        run_sequential(agent, seed_slice(params, i), env, episodes, s, policy_fn=legacy)
        for i, s in enumerate(eval_seeds)
    ]
    out["sequential_1row_s"] = time.perf_counter() - t0
    out["sequential_1row_same_success"] = [r["success"] for r in old] == [r["success"] for r in seq]
    modes = {"vectorised": 0}
    if workers:
        modes[f"vectorised_{workers}_workers"] = workers
    for mode, w in modes.items():
        pool = EnvPool(EnvFactory(name), workers=w)
        t0 = time.perf_counter()
        pool.ensure(len(seeds) * episodes)
        out[f"{mode}_env_creation_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        vec = run_vectorised(agent, params, pool, episodes, eval_seeds, policy_fn=batch)
        out[f"{mode}_s"] = time.perf_counter() - t0
        pool.close()
        out[f"{mode}_speedup"] = out["sequential_s"] / out[f"{mode}_s"]
        out[f"{mode}_speedup_vs_1row"] = out["sequential_1row_s"] / out[f"{mode}_s"]
        keys = ("success", "return", "length")
        out[f"{mode}_identical"] = all(
            {k: v[k] for k in keys} == {k: s[k] for k in keys} for v, s in zip(vec, seq, strict=True)
        )
    out["success_mean"] = float(np.mean([x for r in seq for x in r["success"]]))
    # share of the sequential evaluation spent stepping environments (the bound on any policy-side speedup)
    out["sequential_env_share"] = out["env_steps"] * env_step_us * 1e-6 / out["sequential_s"]
    print(json.dumps(out), file=sys.stderr, flush=True)
    return out


def markdown(res: dict) -> str:
    w = f"vectorised_{res['workers']}_workers" if res["workers"] else None
    lines = [
        f"# Evaluation wall time, sequential vs vectorised ({res['machine']})",
        "",
        f"Command: `{res['command']}`. Untrained FD agent ({'x'.join(map(str, res['rows'][0]['hidden_dims']))} "
        "MLPs), every episode to its time limit; environments made and policies compiled before timing. "
        "*before*: the evaluator without batching (one 1-row policy call per step); *sequential*: `--eval-mode "
        "sequential` (the same, with the 2-row call that keeps actions bit-identical to the batched call); "
        "*vectorised*: the default. identical: per-episode success, return and length of every mode equal to "
        "the sequential mode's.",
        "",
        "| task | seeds x episodes | env steps | before s | sequential s | vectorised s | speed-up vs before "
        "(vs sequential) | "
        + (f"vectorised + {res['workers']} worker processes s (vs before) | " if w else "")
        + "env step us | policy call us: one observation / batch | env share of *before* | identical |",
        "|---|---|---|---|---|---|---|" + ("---|" if w else "") + "---|---|---|---|",
    ]
    for r in res["rows"]:
        ident = all(v for k, v in r.items() if k.endswith("_identical"))
        before = r["sequential_1row_s"]
        share = r["env_steps"] * r["env_step_us"] * 1e-6 / before
        lines.append(
            f"| {r['task']} | {r['seeds']} x {r['episodes']} | {r['env_steps']} | {before:.1f} | "
            f"{r['sequential_s']:.1f} | {r['vectorised_s']:.1f} | {before / r['vectorised_s']:.2f}x "
            f"({r['vectorised_speedup']:.2f}x) | "
            + (f"{r[w + '_s']:.1f} ({before / r[w + '_s']:.2f}x) | " if w else "")
            + f"{r['env_step_us']:.0f} | {r['policy_single_us']:.0f} / {r['policy_batch_us']:.0f} | "
            f"{share:.0%} | {'yes' if ident else 'NO'} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="benchmarks/eval/result", help="writes OUT.json and OUT.md")
    p.add_argument("--tasks", default=",".join(TASKS))
    p.add_argument("--agent", default="fd")
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--workers", type=int, default=2, help="also time vectorised with this many worker processes")
    p.add_argument("--hidden-dims", default="128,128,128")
    p.add_argument("--render", default=None, metavar="JSON", help="only re-print the table of a saved result")
    args = p.parse_args()
    if args.render:
        print(markdown(json.loads(Path(args.render).read_text())))
        return 0
    hidden = tuple(int(x) for x in args.hidden_dims.split(","))
    rows = [
        bench_task(t, args.agent, args.episodes, list(range(args.seeds)), args.workers, hidden)
        for t in args.tasks.split(",")
    ]
    res = {
        "command": "python " + " ".join(sys.argv),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {jax.devices()[0].platform}",
        "workers": args.workers,
        "versions": versions(),
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(res, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(res))
    print(markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
