"""Memory of the two pixel data placements, measured on this machine's JAX backend.

For a synthetic visual dataset of FRAMES 64x64x3 uint8 frames (episodes of 1001 frames) and the paper preset's
visual configuration (impala_small per network, frame stack 3, batch 256) of one agent (default flow BC: the data's
memory does not depend on the agent, and its compile is the cheapest on a busy CPU), it measures:

- ``device``: the bytes of the device-resident dataset (``jax.live_arrays`` after placing it), and XLA's memory
  analysis of the compiled chunk (arguments + outputs + temporaries - aliased);
- ``host``: the bytes of one prefetched chunk on the device (``stream_updates`` x batch x (K + 1) frames), the
  queue depth, and XLA's memory analysis of the streamed chunk; the host keeps the frames;
- the prefetcher's wait (a stall of the compiled updates) over ``--chunks`` streamed chunks.

Usage: python benchmarks/pixels/memory.py --frames 20020 --agent bc --out benchmarks/pixels/memory_cpu.json
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from functools import partial

import jax
import numpy as np


def live_bytes() -> int:
    return int(sum(x.nbytes for x in jax.live_arrays()))


def xla_mb(compiled) -> float:
    m = compiled.memory_analysis()
    return (m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes - m.alias_size_in_bytes) / 2**20


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=20020)
    ap.add_argument("--agent", default="bc")
    ap.add_argument("--stream-updates", type=int, default=4)
    ap.add_argument("--chunks", type=int, default=3)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()

    from fidec.agents import make_agent
    from fidec.bench import VISUAL_BENCH_ENV, synthetic_frames
    from fidec.config import resolve
    from fidec.data.frames import sample_frames
    from fidec.data.placement import Prefetcher, device_memory_bytes
    from fidec.train import init_states, make_chunk_fn, make_stream_chunk_fn

    cfg = resolve({"env": VISUAL_BENCH_ENV, "agent": a.agent, "stream_updates": a.stream_updates})
    k, b = cfg.frame_stack, cfg.batch_size
    out = {
        "backend": jax.default_backend(),
        "device": str(jax.devices()[0]),
        "agent": a.agent,
        "frames": a.frames,
        "batch_size": b,
        "frame_stack": k,
        "encoder": cfg.encoder,
        "device_memory_bytes": device_memory_bytes(),
    }

    base = live_bytes()
    dev, data = synthetic_frames((64, 64, 3), 5, a.frames)
    jax.block_until_ready(dev)
    on_device = live_bytes() - base
    out["dataset_bytes"] = data.nbytes
    out["full_dataset_bytes_1000x1001"] = int(1000 * 1001 * 64 * 64 * 3 + 1000 * 1000 * (4 + 4 + 20 + 4 + 4))
    agent = make_agent(cfg, data.obs_shape(k), 5)
    states = init_states(agent, [0])
    jax.block_until_ready(states)
    out["device"] = {"dataset_on_device_bytes": on_device, "agent_state_bytes": live_bytes() - base - on_device}
    run = make_chunk_fn(agent, b, sampler=partial(sample_frames, frame_stack=k, p_aug=cfg.p_aug))
    out["device"]["chunk_xla_mb"] = xla_mb(run.lower(states, dev, a.stream_updates).compile())
    del dev

    # host placement: the frames stay in host memory; chunks of stream_updates pre-gathered minibatches
    stream = make_stream_chunk_fn(agent, k, cfg.p_aug)
    before = live_bytes()
    pre = Prefetcher(data, updates=a.stream_updates, members=1, batch_size=b, frame_stack=k, seed=0, start_step=0)
    try:
        first = pre.get()
        chunk_bytes = int(sum(x.nbytes for x in jax.tree_util.tree_leaves(first)))
        out["host"] = {
            "chunk_bytes": chunk_bytes,
            "chunk_bytes_formula": a.stream_updates * b * ((k + 1) * 64 * 64 * 3 + 5 * 4 + 4 + 4),
            "queued_chunks": 2,
            "device_bytes_for_data_upper_bound": 3 * chunk_bytes,  # one in use, two queued
            "live_device_bytes_after_first_chunk": live_bytes() - before,
        }
        compiled = stream.lower(states, first).compile()
        out["host"]["chunk_xla_mb"] = xla_mb(compiled)
        states, _ = compiled(states, first)
        jax.block_until_ready(states)
        pre.wait_s = 0.0
        t0 = time.perf_counter()
        for _ in range(a.chunks):
            states, _ = compiled(states, pre.get())
            jax.block_until_ready(states)
        total = time.perf_counter() - t0
        out["host"].update(
            stream_seconds=total,
            prefetch_wait_seconds=pre.wait_s,
            updates=a.chunks * a.stream_updates,
            stall_fraction=pre.wait_s / total,
        )
    finally:
        pre.close()
    out["process_maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    text = json.dumps(out, indent=2)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
