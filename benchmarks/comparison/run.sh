#!/usr/bin/env bash
# The five-way comparison (benchmarks/comparison/README.md). Run from anywhere; needs scripts/setup.sh first.
# Usage: benchmarks/comparison/run.sh [data|sweep|report|all]
#   sweep: every run of suite.toml not yet finished in ./sweeps/comparison (checkpoints there; ignored by git), then
#          a copy of the metrics (no checkpoints) into benchmarks/comparison/runs/$RUNS.
#          TASKS (default '*') picks tasks, RUNS (default local) names the copy; the committed copies are
#          RUNS=pointmaze-cpu TASKS='pointmaze-*' (2-core CPU) and RUNS=cube-h200 TASKS='cube-*' (one H200, through
#          benchmarks/gpu/sweeps.sh). A folder that repeats a committed run's seeds is reported once (the report notes it).
#   report: benchmarks/comparison/report from the committed copies in runs/ only, so a clone rebuilds it.
set -eu
cd "$(dirname "$0")/../.."
F=.venv/bin/fidec
O=benchmarks/comparison
. benchmarks/copy_metrics.sh
what=${1:-all}
if [[ $what == data || $what == all ]]; then
  stamp "datasets (skipped when present)"
  need_dataset pointmaze-medium-navigate-v0 cube-single-play-v0
fi
if [[ $what == sweep || $what == all ]]; then
  stamp "sweep (resumes if interrupted)"
  study_sweep comparison $O/suite.toml --tasks "${TASKS:-*}"
  copy_metrics sweeps/comparison "$O/runs/${RUNS:-local}"
fi
if [[ $what == report || $what == all ]]; then
  stamp "report"
  $F report $O/runs --out $O/report \
    --title "Comparison: paper preset and fidec recipe (point maze on a 2-core CPU, cube-single on an H200)"
fi
stamp done
