#!/usr/bin/env bash
# The ant-maze measurements of benchmarks/antmaze/README.md. Run from anywhere; needs scripts/setup.sh first.
# Usage: benchmarks/antmaze/run.sh [expert|pipeline|costs|all] [EXPERT.npz]
#   expert:   train the ant expert (SAC, 400k steps, resumable) -> DATASET_DIR/experts/ant/expert.npz
#   pipeline: expert quality, antmaze-large-navigate-v0 generation (1000 + 100 episodes), verify, statistics, fd tiny
#             (EXPERT.npz defaults to the committed benchmarks/antmaze/expert-ant-400k.npz)
#   costs:    what OGBench's other locomotion experts (antsoccer's, humanoid's) would cost on this machine
set -eu
cd "$(dirname "$0")/../.."
what=${1:-pipeline}; expert=${2:-benchmarks/antmaze/expert-ant-400k.npz}
if [[ $what == expert || $what == all ]]; then .venv/bin/fidec data expert ant 2>&1 | tee -a benchmarks/antmaze/logs/expert_train.log; fi
if [[ $what == pipeline || $what == all ]]; then
  PY=.venv/bin/python bash benchmarks/antmaze/pipeline.sh "$expert" 1000 2>&1 | tee benchmarks/antmaze/logs/pipeline.log
fi
if [[ $what == costs || $what == all ]]; then
  PYTHONPATH=. MUJOCO_GL=egl .venv/bin/python benchmarks/antmaze/expert_costs.py 2>&1 | tee benchmarks/antmaze/expert_costs.log
fi
