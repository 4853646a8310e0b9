#!/usr/bin/env bash
# The offline-to-online benchmark (benchmarks/online/README.md). Run from anywhere; needs scripts/setup.sh first.
# Usage: benchmarks/online/run.sh [throughput|data|sweep|report|all]
# Datasets go to ./data (full OGBench size), runs to ./sweeps/online (checkpoints included; ignored by git); the
# report and a copy of each run's metrics (no checkpoints, no buffer segments) go to benchmarks/online/.
set -eu
cd "$(dirname "$0")/../.."
F=.venv/bin/fidec
O=benchmarks/online
. benchmarks/copy_metrics.sh
what=${1:-all}
if [[ $what == data || $what == all ]]; then
  stamp "dataset (skipped when present)"
  need_dataset pointmaze-medium-navigate-v0
fi
if [[ $what == throughput || $what == all ]]; then
  stamp "throughput: online loop vs offline updates, k = 1 and k = 10"
  PYTHON=.venv/bin/python $O/throughput.sh data
fi
if [[ $what == sweep || $what == all ]]; then
  stamp "sweep (resumes if interrupted)"
  study_sweep online $O/suite.toml
fi
if [[ $what == report || $what == all ]]; then
  stamp "report"
  copy_metrics sweeps/online $O/runs '*.png'
  $F report $O/runs --out $O/report  # built from the committed copy, so a clone rebuilds it
fi
