#!/usr/bin/env bash
# The ablation (benchmarks/ablation/README.md): fidec 0.1's FD with one release setting at a time, pointmaze-medium
# task3. Run from anywhere; needs scripts/setup.sh first. The committed runs were made on one H200 by
# benchmarks/gpu/sweeps.sh (which passes --set eval_from=24000); this script runs the same suite locally.
# Usage: benchmarks/ablation/run.sh [data|sweep|report|all]
set -eu
cd "$(dirname "$0")/../.."
F=.venv/bin/fidec
O=benchmarks/ablation
. benchmarks/copy_metrics.sh
what=${1:-all}
if [[ $what == data || $what == all ]]; then
  stamp "dataset (skipped when present)"
  need_dataset pointmaze-medium-navigate-v0
fi
if [[ $what == sweep || $what == all ]]; then
  stamp "sweep (resumes if interrupted)"
  study_sweep ablation $O/suite.toml
  copy_metrics sweeps/ablation $O/runs
fi
if [[ $what == report || $what == all ]]; then
  stamp "report"
  $F report $O/runs --out $O/report \
    --title "Ablation on an H200: one release setting at a time (pointmaze-medium task3)"
fi
stamp done
