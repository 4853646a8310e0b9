"""Usage: .venv/bin/python benchmarks/speed/ab/ab_single_seed_vmap.py fql,deflow,fd CHUNK ROUNDS [preset]

A/B: run_chunk vmapped over a seed axis of size 1 (current) vs the same update without vmap."""

import os
import statistics
import sys
import time
from functools import partial

import jax

from fidec.agents import make_agent
from fidec.bench import synthetic_data
from fidec.config import resolve
from fidec.data.loading import sample_batch
from fidec.train import init_states, make_chunk_fn

jax.config.update("jax_enable_compilation_cache", False)  # compile times are real compilations


def novmap_chunk(agent, bs):
    def one(state, data):
        rng, k = jax.random.split(state.rng)
        return agent.update(state.replace(rng=rng), sample_batch(data, k, bs))

    @partial(jax.jit, static_argnums=2, donate_argnums=0)
    def run(states, data, n):
        s = jax.tree_util.tree_map(lambda x: x[0], states)
        s, infos = jax.lax.scan(lambda c, _: one(c, data), s, None, length=n)
        return jax.tree_util.tree_map(lambda x: x[None], s), jax.tree_util.tree_map(lambda x: x[:, None], infos)

    return run


chunk, reps = int(sys.argv[2]), int(sys.argv[3])
preset = sys.argv[4] if len(sys.argv) > 4 else "paper"
data = synthetic_data(28, 5)
cases = {}
for ag in sys.argv[1].split(","):
    cfg = resolve({"agent": ag, "preset": preset})
    a = make_agent(cfg, 28, 5)
    for name, mk in (("vmap1", make_chunk_fn), ("plain", novmap_chunk)):
        st = init_states(a, [0])
        t0 = time.perf_counter()
        f = mk(a, cfg.batch_size).lower(st, data, chunk).compile()
        print(
            ag,
            name,
            "compile",
            round(time.perf_counter() - t0, 1),
            "flops",
            f.cost_analysis()["flops"] / 1e9,
            file=sys.stderr,
            flush=True,
        )
        st, _ = f(st, data)
        jax.block_until_ready(st)
        cases[(ag, name)] = [f, st, [], []]
for r in range(reps):
    for _k, c in cases.items():
        c0 = time.process_time()
        t0 = time.perf_counter()
        c[1], _ = c[0](c[1], data)
        jax.block_until_ready(c[1])
        c[2].append(time.perf_counter() - t0)
        c[3].append(time.process_time() - c0)
    print(
        "round",
        r,
        os.getloadavg()[0],
        {k: round(chunk / c[2][-1], 2) for k, c in cases.items()},
        file=sys.stderr,
        flush=True,
    )
for ag in sys.argv[1].split(","):
    v, p = cases[(ag, "vmap1")], cases[(ag, "plain")]
    wall_v, wall_p = statistics.median(v[2]), statistics.median(p[2])
    cpu_v, cpu_p = statistics.median(v[3]), statistics.median(p[3])
    print(
        f"{ag}: wall updates/s vmap1 {chunk / wall_v:.3f} plain {chunk / wall_p:.3f} (speed-up {wall_v / wall_p:.3f})"
    )
    print(f"{ag}: CPU s/update vmap1 {cpu_v / chunk:.4f} plain {cpu_p / chunk:.4f} (vmap1/plain {cpu_v / cpu_p:.3f})")
    print(f"{ag}: paired CPU ratios vmap1/plain", [round(x / y, 3) for x, y in zip(v[3], p[3], strict=True)])
