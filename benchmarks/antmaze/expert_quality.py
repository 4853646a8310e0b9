"""The ant expert's quality: directional return and goal-reaching success in a maze.

- directional return: the deterministic actor on OGBench's online-ant-xy task (sum over a 1000-step episode of
  the displacement along the commanded direction, resampled every 100 steps), the number main_sac.py evaluates;
- goal-reaching success: the actor steered by the maze's BFS waypoint oracle, as generate_locomaze.py steers it,
  on the maze's five evaluation tasks (no action noise; success = the env's own goal test within 1000 steps).
Usage:
    PYTHONPATH=. python benchmarks/antmaze/expert_quality.py [EXPERT.npz] [MAZE] [EPISODES_PER_TASK]
"""

from __future__ import annotations

import json
import sys
import time

from fidec.console import quiet_warnings
from fidec.experts import EXPERT_FILE, Expert, SACConfig, default_expert_dir, evaluate_directional, maze_success

quiet_warnings()


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else str(default_expert_dir() / EXPERT_FILE)
    maze = sys.argv[2] if len(sys.argv) > 2 else "antmaze-large-v0"
    per_task = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    expert = Expert.load(path)
    t = time.perf_counter()
    directional = evaluate_directional(expert, SACConfig(), episodes=10, seed=123)
    success = maze_success(expert, maze, per_task, seed=0)
    out = {
        "expert": path,
        "step": expert.meta.get("step"),
        "directional": directional,
        "maze": success,
        "seconds": round(time.perf_counter() - t, 1),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
