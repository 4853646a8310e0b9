#!/usr/bin/env bash
# From an ant expert to an fd run on antmaze-large-navigate-v0, timing each stage.
#   benchmarks/antmaze/pipeline.sh EXPERT.npz EPISODES DATASET_DIR RUN_DIR
set -euo pipefail
EXPERT=${1:-$HOME/.ogbench/data/experts/ant/expert.npz}
EPISODES=${2:-1000}
DIR=${3:-/tmp/antdata}
RUN=${4:-/tmp/antrun}
PY=${PY:-python}
NAME=antmaze-large-navigate-v0
t() { local s=$(date +%s); "$@"; echo "[stage took $(( $(date +%s) - s )) s: $*]"; }
echo "== expert quality"; t $PY benchmarks/antmaze/expert_quality.py "$EXPERT" antmaze-large-v0 2
echo "== generate"; t $PY -m fidec.cli data generate $NAME --episodes "$EPISODES" --workers 2 --dataset-dir "$DIR" \
  --expert "$EXPERT" --no-progress --force
echo "== verify"; t $PY -m fidec.cli data verify $NAME --dataset-dir "$DIR"
echo "== statistics"; t $PY benchmarks/antmaze/dataset_stats.py "$DIR/$NAME.npz" "$DIR/$NAME-val.npz"
echo "== fd, --preset tiny"; t $PY -m fidec.cli train --agent fd --env antmaze-large-navigate-singletask-v0 \
  --preset tiny --dataset-dir "$DIR" --run-dir "$RUN" --no-progress
