#!/usr/bin/env bash
# The cpu benchmark of benchmarks/cpu/README.md (issue 5). Run from anywhere; needs scripts/setup.sh first.
# Usage: benchmarks/cpu/run.sh [throughput|data|sweep|report|all]
# Datasets go to ./data (full OGBench size), runs to ./sweeps/cpu (checkpoints included; ignored by git);
# the report and a copy of each run's metrics (no checkpoints) go to benchmarks/cpu/.
set -eu
cd "$(dirname "$0")/../.."
F=.venv/bin/fidec
O=benchmarks/cpu
stamp() { echo "== $(date -u +%FT%TZ) $*"; uptime; }
what=${1:-all}
if [[ $what == throughput || $what == all ]]; then
  stamp "throughput of each agent at the suite's sizes (3x128, batch 256, 3 seeds vmapped, point-maze dims)"
  $F bench-speed --agents fd,fd-per-action,deflow,fql,bc --preset cpu --hidden-dims 128,128,128 --seeds 3 \
    --obs-dim 2 --action-dim 2 --repeats 3 --out $O/throughput-3x128.json --markdown $O/throughput-3x128.md
fi
if [[ $what == data || $what == all ]]; then
  stamp "datasets (skipped when present)"
  for d in pointmaze-medium-navigate-v0 cube-single-play-v0; do
    [[ -f data/$d.npz ]] || $F data generate $d --dataset-dir data --workers 2
  done
fi
if [[ $what == sweep || $what == all ]]; then
  stamp "sweep (resumes if interrupted)"
  mkdir -p sweeps
  /usr/bin/time -v $F sweep cpu --dataset-dir data --out sweeps/cpu 2>&1 | tee -a sweeps/cpu_sweep.log
fi
if [[ $what == report || $what == all ]]; then
  stamp "report"
  rm -rf $O/runs
  (cd sweeps/cpu && find . -name '*.csv' -o -name '*.json' -o -name '*.jsonl' -o -name '*.log' | grep -v checkpoint \
    | while read -r f; do mkdir -p "../../$O/runs/$(dirname "$f")"; cp "$f" "../../$O/runs/$f"; done)
  $F report sweeps/cpu --out $O/report
fi
stamp done
