"""The measuring steps of benchmarks/gpu/paper_scale.sh (one subcommand each; every result is a JSON file in OUT).

    plan OUT --agents fd,deflow --seeds 1,4,8,16 --precision-seeds 1,16 --preset paper
        OUT/plan.json: every case (agent, seeds, precision), default precision at each seed count, the three
        precisions at the --precision-seeds
    compile OUT CASE          compile one case into the persistent compilation cache (OUT/cases/CASE.compile.json)
    measure OUT CASE...       per case, from the cache: updates/s, the training loop's share in compiled chunks,
                              memory (OUT/cases/CASE.json; an error is recorded as such)
    peak OUT                  the matmul peak at each precision (OUT/peak.json)
    evaltime OUT TASK         seconds of one evaluation (--episodes per seed, --seeds vmapped, --workers) of an
                              untrained paper-preset agent: every episode runs to the time limit (OUT/eval-TASK.json)
    steps OUT AGENT           the updates an antmaze run can make in --seconds, from the measured rate

The compile and measure steps run in separate processes so that compilation (CPU-bound, run several at a time)
overlaps nothing that is timed; measure reads the executables from the cache that compile filled, so the compile
time reported is compile's own (measured while other compiles ran: see ``concurrent_compiles``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import traceback
from functools import partial
from pathlib import Path

import jax
import numpy as np

from fidec import bench
from fidec.config import MATMUL_PRECISIONS
from fidec.precision import device_kind, matmul_precision

# every agent token of fidec.bench (fd, deflow, fql, bc, and what else it lists)
AGENTS = tuple(bench.AGENT_VARIANTS)


def case_id(agent: str, seeds: int, precision: str | None) -> str:
    return f"{agent}-s{seeds}-{precision or 'default'}"


def enable_cache(out: Path) -> None:
    """The persistent compilation cache ($PAPER_SCALE_CACHE, else OUT/xla-cache), every executable stored whatever
    its compile time."""
    jax.config.update("jax_compilation_cache_dir", os.environ.get("PAPER_SCALE_CACHE") or str(out / "xla-cache"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    jax.config.update("jax_enable_compilation_cache", True)


def load_plan(out: Path) -> dict:
    return json.loads((out / "plan.json").read_text())


def the_case(plan: dict, cid: str) -> tuple[dict, bench.Case]:
    c = next(c for c in plan["cases"] if c["id"] == cid)
    overrides = {"matmul_precision": c["precision"]} if c["precision"] else {}
    return c, bench.Case(c["agent"], preset=plan["preset"], overrides=overrides, seeds=c["seeds"])


def write(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=str) + "\n")
    os.replace(tmp, path)


# ----------------------------------------------------------------------------------------------- subcommands
def cmd_plan(a) -> int:
    asked = [x for x in a.agents.split(",") if x]
    agents = [x for x in asked if x in AGENTS]
    skipped = {
        x: f"fidec bench-speed does not know it (it knows {', '.join(AGENTS)})" for x in asked if x not in AGENTS
    }
    seeds = [int(s) for s in a.seeds.split(",")]
    pseeds = [int(s) for s in a.precision_seeds.split(",") if s]
    cases = []
    for agent in agents:  # agent-major: an agent's cases compile together, so its measurement can start early
        for s in seeds:
            cases.append({"id": case_id(agent, s, None), "agent": agent, "seeds": s, "precision": None})
        for s in pseeds:
            for p in MATMUL_PRECISIONS:
                cases.append({"id": case_id(agent, s, p), "agent": agent, "seeds": s, "precision": p})
    plan = {
        "preset": a.preset,
        "chunk": a.chunk,
        "repeats": a.repeats,
        "loop_chunks": a.loop_chunks,
        "agents": agents,
        "skipped_agents": skipped,
        "cases": cases,
        "device": device_kind(),
        "jax": jax.__version__,
    }
    write(a.out / "plan.json", plan)
    print(" ".join(c["id"] for c in cases))
    return 0


def cmd_compile(a) -> int:
    enable_cache(a.out)
    plan = load_plan(a.out)
    c, case = the_case(plan, a.case)
    rec = {"id": c["id"], "concurrent_compiles": a.concurrent, "load_avg_1m": os.getloadavg()[0]}
    try:
        p = bench.prepare(case, plan["chunk"])
        rec.update(ok=True, compile_s=p.compile_s, flops_per_update=p.flops, **p.mem)
    except Exception as e:  # noqa: BLE001 - recorded, never dropped
        rec.update(ok=False, error=f"{type(e).__name__}: {str(e)[:500]}")
    write(a.out / "cases" / f"{c['id']}.compile.json", rec)
    print(json.dumps(rec))
    return 0 if rec["ok"] else 1


def _trainer_loop_share(p: bench.Prepared, chunks: int) -> float:
    """The training loop's share of wall time inside compiled chunks: per chunk what fidec's loop does (the chunk,
    its loss terms to the host, the finite checks of the loss terms and of the new state), as fidec.train.loop."""
    from fidec.train.chunks import first_nonfinite, nonfinite_state

    members = list(range(p.case.seeds))
    nonfinite_state(p.states, 0, p.chunk, members)  # its first call compiles (as the trainer's first chunk's): untimed
    in_chunk, t_loop = 0.0, time.perf_counter()
    for i in range(chunks):
        t0 = time.perf_counter()
        states, infos = p.fn(p.states, p.data)
        infos = jax.device_get(infos)
        in_chunk += time.perf_counter() - t0
        bad = first_nonfinite(infos, i * p.chunk, members) or nonfinite_state(states, i * p.chunk, p.chunk, members)
        if bad:
            raise FloatingPointError(bad)
        p.states = states
    return in_chunk / (time.perf_counter() - t_loop)


def measure_one(plan: dict, cid: str, peak: dict) -> dict:
    c, case = the_case(plan, cid)
    rec = {"id": cid, "agent": c["agent"], "seeds": c["seeds"], "precision": c["precision"] or "default"}
    t0 = time.perf_counter()
    p = bench.prepare(case, plan["chunk"])
    rec["load_s"] = time.perf_counter() - t0  # from the cache (compile_s is in CASE.compile.json)
    p.run()  # warm-up
    for _ in range(plan["repeats"]):
        p.loads.append(os.getloadavg()[0])
        wall, cpu = p.run()
        p.times.append(wall)
        p.cpu_times.append(cpu)
    peaks = [peak[c["precision"] or "default"]] if peak else []
    r = bench._record(p, peaks)
    rec.update(
        {
            k: r[k]
            for k in (
                "updates_per_s",
                "updates_per_s_per_seed",
                "ms_per_update",
                "times_s",
                "flops_per_update",
                "achieved_gflops",
                "achieved_fraction",
                "matmul_peak_gflops",
                "peak_mem_mb",
                "peak_mem_source",
                "temp_mem_mb",
                "load_avg_1m",
                "chunk",
            )
        }
    )
    if rec["matmul_peak_gflops"] != rec["matmul_peak_gflops"]:  # NaN: no peak measured (strict JSON has no NaN)
        rec["matmul_peak_gflops"] = None
    rec["time_in_chunks_frac"] = _trainer_loop_share(p, plan["loop_chunks"])
    stats = jax.devices()[0].memory_stats() or {}
    rec["device_peak_bytes_in_use"] = stats.get("peak_bytes_in_use")  # process-wide so far (GPU)
    rec["ok"] = True
    return rec


def cmd_measure(a) -> int:
    enable_cache(a.out)
    plan = load_plan(a.out)
    peak_file = a.out / "peak.json"
    peak = {}
    if peak_file.exists():
        peak = {
            k: v["gflops"]
            for k, v in json.loads(peak_file.read_text()).get("precisions", {}).items()
            if v.get("gflops")
        }
    deadline = time.time() + a.limit_s if a.limit_s else None
    failed = 0
    for cid in a.cases:
        path = a.out / "cases" / f"{cid}.json"
        if deadline and time.time() > deadline:
            write(path, {"id": cid, "ok": False, "error": "not measured: the stage's time limit was reached"})
            failed += 1
            continue
        try:
            rec = measure_one(plan, cid, peak)
        except Exception as e:  # noqa: BLE001 - one case's failure (e.g. out of memory) is recorded, the rest run
            rec = {
                "id": cid,
                "ok": False,
                "error": f"{type(e).__name__}: {str(e)[:500]}",
                "trace": traceback.format_exc()[-2000:],
            }
            failed += 1
        write(path, rec)
        print(
            json.dumps({k: rec.get(k) for k in ("id", "ok", "updates_per_s", "time_in_chunks_frac", "error")}),
            flush=True,
        )
    return 1 if failed else 0


def cmd_peak(a) -> int:
    res = {"size": a.size, "device": device_kind(), "precisions": {}}
    for p in (None, *MATMUL_PRECISIONS):
        try:
            with matmul_precision(p):
                g = statistics.median(bench.matmul_peak(a.size, repeats=3) for _ in range(3))
            res["precisions"][p or "default"] = {"gflops": g}
        except Exception as e:  # noqa: BLE001
            res["precisions"][p or "default"] = {"error": f"{type(e).__name__}: {str(e)[:300]}"}
    write(a.out / "peak.json", res)
    print(json.dumps(res))
    return 0


def cmd_evaltime(a) -> int:
    from fidec.agents import make_agent
    from fidec.api import make_env
    from fidec.config import resolve
    from fidec.evaluate import EnvPool, evaluate_seeds, make_batch_policy_fn
    from fidec.train import init_states

    cfg = resolve({"agent": a.agent, "env": a.task, "preset": a.preset})
    env = make_env(a.task)
    obs_dim, action_dim = env.observation_space.shape[0], env.action_space.shape[0]
    agent = make_agent(cfg, obs_dim, action_dim)
    params = init_states(agent, list(range(a.seeds))).params  # untrained: every episode runs to its time limit
    policy = make_batch_policy_fn(agent)
    rec = {
        "task": a.task,
        "agent": a.agent,
        "preset": a.preset,
        "seeds": a.seeds,
        "episodes_per_seed": a.episodes,
        "eval_envs": a.envs,
        "eval_workers": a.workers,
        "load_avg_1m_before": os.getloadavg()[0],
    }
    t0 = time.perf_counter()
    pool = EnvPool(partial(make_env, a.task), workers=a.workers)  # picklable for the worker processes
    try:
        t1 = time.perf_counter()
        res = evaluate_seeds(agent, params, pool, a.episodes, list(range(a.seeds)), policy_fn=policy, max_envs=a.envs)
        t2 = time.perf_counter()
    finally:
        pool.close()
    rec.update(
        pool_start_s=t1 - t0,
        eval_s=t2 - t1,  # environments made on first use inside: as fidec train's first evaluation
        env_steps=int(sum(r["episode_length"] * a.episodes for r in res)),
        success_mean=float(np.mean([r["success"] for r in res])),
        device=device_kind(),
    )
    write(a.out / f"eval-{a.task}.json", rec)
    print(json.dumps(rec))
    return 0


def cmd_steps(a) -> int:
    """Updates that fit in --seconds for an antmaze run: the measured per-seed rate at --seeds, shared by --share
    runs on one device, times --safety; a multiple of --chunk, at least one chunk."""
    rate = None
    for s in range(a.seeds, 0, -1):  # the measured rate at --seeds, else at the nearest smaller seed count
        path = a.out / "cases" / f"{case_id(a.agent, s, None)}.json"
        rec = json.loads(path.read_text()) if path.exists() else {}
        if rec.get("ok"):
            rate = rec["updates_per_s_per_seed"]
            break
    rate = rate or a.fallback_rate
    n = int(rate / a.share * a.seconds * a.safety) // a.chunk * a.chunk
    print(max(a.chunk, n))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("plan")
    p.add_argument("out", type=Path)
    p.add_argument("--agents", default="fd,deflow,fql,bc")
    p.add_argument("--seeds", default="1,4,8,16")
    p.add_argument("--precision-seeds", default="1,16")
    p.add_argument("--preset", default="paper")
    p.add_argument("--chunk", type=int, default=100)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--loop-chunks", type=int, default=3)
    p = sub.add_parser("compile")
    p.add_argument("out", type=Path)
    p.add_argument("case")
    p.add_argument("--concurrent", type=int, default=1, help="compiles running at the same time (recorded)")
    p = sub.add_parser("measure")
    p.add_argument("out", type=Path)
    p.add_argument("cases", nargs="+")
    p.add_argument("--limit-s", type=float, default=None, help="cases not started by then are recorded as such")
    p = sub.add_parser("peak")
    p.add_argument("out", type=Path)
    p.add_argument("--size", type=int, default=4096)
    p = sub.add_parser("evaltime")
    p.add_argument("out", type=Path)
    p.add_argument("task")
    p.add_argument("--agent", default="fd")
    p.add_argument("--preset", default="paper")
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--envs", type=int, default=50)
    p.add_argument("--workers", type=int, default=8)
    p = sub.add_parser("steps")
    p.add_argument("out", type=Path)
    p.add_argument("agent")
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--share", type=float, default=3.0)
    p.add_argument("--safety", type=float, default=0.7)
    p.add_argument("--chunk", type=int, default=1000)
    p.add_argument("--fallback-rate", type=float, default=100.0)
    a = ap.parse_args(argv)
    return {
        "plan": cmd_plan,
        "compile": cmd_compile,
        "measure": cmd_measure,
        "peak": cmd_peak,
        "evaltime": cmd_evaltime,
        "steps": cmd_steps,
    }[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
