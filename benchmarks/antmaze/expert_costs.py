"""Measure what OGBench's locomotion experts would cost on this machine.

For each expert of OGBench's data_gen_scripts/commands.sh: environment steps/s (random actions, the online env
with its wrapper) and SAC updates/s with that recipe's networks (batch 256), then the projected wall time
train_steps / env rate + train_steps / train_interval / update rate. Usage:
    PYTHONPATH=. python benchmarks/antmaze/expert_costs.py
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from fidec.console import quiet_warnings
from fidec.experts import SAC, SACConfig

quiet_warnings()

RECIPES = {  # commands.sh
    "ant": dict(env="online-ant-v0", xy=True, steps=400_000, interval=1, cfg={}),
    "antball": dict(env="online-antball-v0", xy=False, steps=12_000_000, interval=4, cfg={"layer_norm": True}),
    "humanoid": dict(
        env="online-humanoid-v0",
        xy=True,
        steps=40_000_000,
        interval=4,
        cfg={"value_hidden_dims": (1024, 1024, 1024), "layer_norm": True, "min_q": False},
    ),
}


def env_rate(name: str, r: dict, n: int = 2000) -> tuple[float, int, int]:
    import gymnasium
    import ogbench.online_locomotion  # noqa: F401
    from ogbench.online_locomotion.wrappers import DMCHumanoidXYWrapper, GymXYWrapper

    kw = {"camera_id": 0} if name == "humanoid" else {}
    env = gymnasium.make(r["env"], render_mode="rgb_array", height=200, width=200, **kw)  # online_env_utils.py
    if r["xy"]:
        env = DMCHumanoidXYWrapper(env, 200) if name == "humanoid" else GymXYWrapper(env, 100)
    ob, _ = env.reset(seed=0)
    t = time.perf_counter()
    for _ in range(n):
        ob, _, term, trunc, _ = env.step(env.action_space.sample())
        if term or trunc:
            ob, _ = env.reset()
    return n / (time.perf_counter() - t), int(np.asarray(ob).shape[0]), int(env.action_space.shape[0])


def update_rate(r: dict, obs_dim: int, act_dim: int, n: int = 60) -> float:
    import jax

    agent = SAC(SACConfig(**r["cfg"]), obs_dim, act_dim)
    state = agent.init(0)
    rng = np.random.default_rng(0)
    batch = {
        "observations": rng.normal(size=(256, obs_dim)).astype(np.float32),
        "actions": rng.uniform(-1, 1, size=(256, act_dim)).astype(np.float32),
        "rewards": rng.normal(size=256).astype(np.float32),
        "masks": np.ones(256, np.float32),
        "next_observations": rng.normal(size=(256, obs_dim)).astype(np.float32),
    }
    ob = batch["observations"][:1]
    state, a, _ = agent.update_and_act(state, batch, ob)  # compile
    jax.block_until_ready(a)
    t = time.perf_counter()
    for _ in range(n):
        state, a, _ = agent.update_and_act(state, batch, ob)
    jax.block_until_ready(a)
    return n / (time.perf_counter() - t)


def main() -> None:
    out = {}
    for name in sys.argv[1:] or list(RECIPES):
        r = RECIPES[name]
        env_sps, obs_dim, act_dim = env_rate(name, r)
        ups = update_rate(r, obs_dim, act_dim)
        hours = (r["steps"] / env_sps + r["steps"] / r["interval"] / ups) / 3600
        out[name] = {
            "train_steps": r["steps"],
            "train_interval": r["interval"],
            "obs_dim": obs_dim,
            "env_steps_per_s": round(env_sps),
            "updates_per_s": round(ups, 1),
            "projected_hours": round(hours, 1),
            "projected_days": round(hours / 24, 1),
        }
        print(json.dumps({name: out[name]}), flush=True)


if __name__ == "__main__":
    main()
