"""Does stepping many MuJoCo environments in rotation cost more per step than stepping one? (cache effects)

    .venv/bin/python benchmarks/eval/env_rotation.py > benchmarks/eval/env_rotation.txt

For each task: 10 environments; alternately (3 rounds) 600 steps of one environment, then 600 steps spread
round-robin over the 10 (60 each). Zero actions; an ended episode is reset. Prints microseconds per step.
"""

import time

import numpy as np
import ogbench


def steps(envs, n):
    a = np.zeros(envs[0].action_space.shape, np.float32)
    t0 = time.perf_counter()
    for i in range(n):
        env = envs[i % len(envs)]
        *_, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset(seed=i)
    return (time.perf_counter() - t0) / n * 1e6


for name in ("pointmaze-medium-navigate-singletask-task3-v0", "cube-single-play-singletask-task2-v0"):
    envs = [ogbench.make_env_and_datasets(name, env_only=True) for _ in range(10)]
    for i, e in enumerate(envs):
        e.reset(seed=i)
    one, rot = [], []
    for _ in range(3):
        one.append(steps(envs[:1], 600))
        rot.append(steps(envs, 600))
    print(
        f"{name}: one env {np.median(one):.0f} us/step, 10 in rotation {np.median(rot):.0f} us/step "
        f"(rounds: one {[round(x) for x in one]}, rotation {[round(x) for x in rot]})",
        flush=True,
    )
