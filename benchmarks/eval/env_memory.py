"""Resident memory and time to make one more OGBench environment (why ``eval_envs`` caps the pool).

.venv/bin/python benchmarks/eval/env_memory.py > benchmarks/eval/env_memory.txt
"""

import time

import ogbench


def rss_mb() -> float:
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 1e6


for name in ("pointmaze-medium-navigate-singletask-task3-v0", "cube-single-play-singletask-task2-v0"):
    envs = [ogbench.make_env_and_datasets(name, env_only=True)]  # the first one also pays for imports
    envs[0].reset(seed=0)
    before, t0 = rss_mb(), time.perf_counter()
    for _ in range(5):
        envs.append(ogbench.make_env_and_datasets(name, env_only=True))
        envs[-1].reset(seed=0)
    dt = (time.perf_counter() - t0) / 5
    print(f"{name}: +{(rss_mb() - before) / 5:.0f} MB resident and {dt:.2f} s per extra environment", flush=True)
