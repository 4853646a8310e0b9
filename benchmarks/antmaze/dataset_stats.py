"""Statistics of a locomaze dataset to set against what OGBench publishes about its own.

OGBench publishes (README.md, data_gen_scripts/commands.sh): antmaze-large-navigate-v0 has 1000 episodes of
1001 stored steps (1M transitions; ``sum(terminals) == 1000``), 100 validation episodes, and is collected by an
expert steered to random goals, so its trajectories cover the whole maze. This prints, for a file:
episodes and lengths, the share of the maze's free cells visited, how evenly (normalised entropy of the cell
visit counts), how far episodes travel, and the success transitions per singletask goal (OGBench's relabelling,
which 'fidec data verify' also prints). Usage:
    PYTHONPATH=. python benchmarks/antmaze/dataset_stats.py ~/.ogbench/data/antmaze-large-navigate-v0.npz
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def stats(path: str) -> dict:
    import gymnasium
    import ogbench.locomaze  # noqa: F401

    from fidec.console import quiet_warnings

    quiet_warnings()
    name = Path(path).name.removesuffix(".npz").removesuffix("-val")
    maze = name.split("-")[0] + "-" + name.split("-")[1] + "-v0"  # antmaze-large-navigate-v0 -> antmaze-large-v0
    env = gymnasium.make(maze)
    u = env.unwrapped
    with np.load(path) as z:
        xy = z["qpos"][:, :2].astype(np.float64)
        terminals = z["terminals"]
        actions = z["actions"]
    ends = np.flatnonzero(terminals)
    lengths = np.diff(np.concatenate([[-1], ends]))
    free = {(i, j) for i in range(u.maze_map.shape[0]) for j in range(u.maze_map.shape[1]) if u.maze_map[i, j] == 0}
    cells = [tuple(int(v) for v in u.xy_to_ij(p)) for p in xy]
    counts: dict = {}
    for c in cells:
        counts[c] = counts.get(c, 0) + 1
    visited = [c for c in counts if c in free]
    p = np.array([counts[c] for c in visited], dtype=np.float64)
    p /= p.sum()
    entropy = float(-(p * np.log(p)).sum() / np.log(len(free)))
    starts = np.concatenate([[0], ends[:-1] + 1])
    travel = np.linalg.norm(xy[ends] - xy[starts], axis=1)
    per_ep_cells = [len({cells[k] for k in range(s, e + 1)}) for s, e in zip(starts, ends, strict=True)]
    return {
        "file": str(path),
        "episodes": int(len(lengths)),
        "episode_lengths": sorted({int(x) for x in lengths}),
        "transitions": int(len(terminals) - len(lengths)),
        "sum_terminals": int(terminals.sum()),
        "free_cells": len(free),
        "visited_free_cells": len(visited),
        "visited_share": round(len(visited) / len(free), 3),
        "visit_entropy_normalised": round(entropy, 3),
        "cells_per_episode_mean": round(float(np.mean(per_ep_cells)), 2),
        "start_to_end_distance_mean": round(float(travel.mean()), 2),
        "action_abs_mean": round(float(np.abs(actions).mean()), 3),
        "action_saturated_share": round(float((np.abs(actions) >= 0.999).mean()), 3),
    }


if __name__ == "__main__":
    for f in sys.argv[1:]:
        print(json.dumps(stats(f)))
