#!/usr/bin/env bash
# The online loop's throughput against the offline update rate, in the same run.
# Usage: benchmarks/online/throughput.sh [DATA_DIR] [AGENTS] [KS]
#   DATA_DIR holds pointmaze-medium-navigate-v0 (fidec data generate pointmaze-medium-navigate-v0 --dataset-dir DIR;
#   the throughput does not depend on its size: --episodes 50 is enough), AGENTS default "fql deflow fd",
#   KS (online_collect values) default "1 10".
# Each run: the benchmark suite's sizes (cpu preset, 3x128 networks, 3 seeds vmapped), 2000 offline updates then
# 2000 online steps (one update each), no evaluation, so that the two phases' rates compare like with like.
# Runs go to sweeps/online-throughput (ignored by git); benchmarks/online/throughput.{json,md} get the summary.
set -eu
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
DATA=${1:-data}
AGENTS=${2:-fql deflow fd}
KS=${3:-1 10}
OUT=sweeps/online-throughput
mkdir -p $OUT
for agent in $AGENTS; do
  for k in $KS; do
    run=$OUT/$agent-k$k
    rm -rf "$run"
    echo "== $(date -u +%FT%TZ) $agent online_collect=$k; $(uptime)"
    $PY -m fidec.cli train --agent $agent --env pointmaze-medium-navigate-singletask-task3-v0 --preset cpu \
      --hidden-dims 128,128,128 --num-seeds 3 --dataset-dir "$DATA" --steps 2000 --online-steps 2000 \
      --online-collect $k --chunk-size 500 --log-every 500 --eval-episodes 0 --checkpoint-every 2000 \
      --run-dir "$run" --no-progress
  done
done
$PY benchmarks/online/summarize_throughput.py $OUT benchmarks/online/throughput
