"""Experts that collect datasets: the ant locomotion expert, trained with OGBench's SAC recipe
(:mod:`.sac` the agent and its replay buffer, :mod:`.trainer` the online loop and evaluations).

Data generation does not import this package: it reads the trained actor with :mod:`fidec.data.expert`.
"""

from fidec.data.expert import EXPERT_FILE, EXPERTS, Expert, default_expert_dir
from fidec.experts.sac import SAC, ReplayBuffer, SACConfig, actor_arrays, make_env, write_expert
from fidec.experts.trainer import LOG_FILE, ExpertTrainer, evaluate_directional, maze_success

__all__ = [
    "EXPERTS",
    "EXPERT_FILE",
    "LOG_FILE",
    "SAC",
    "Expert",
    "ExpertTrainer",
    "ReplayBuffer",
    "SACConfig",
    "actor_arrays",
    "default_expert_dir",
    "evaluate_directional",
    "make_env",
    "maze_success",
    "write_expert",
]
