#!/usr/bin/env bash
# The budget frontier (benchmarks/frontier/README.md). Run from anywhere; needs scripts/setup.sh first.
# The committed runs were made on one H200 by benchmarks/gpu/sweeps.sh; this script runs the suite locally, every
# epsilon of a configuration vmapped in one process (--vmap-target-divergence).
# Usage: benchmarks/frontier/run.sh [data|sweep|report|all]; extra arguments after the step go to `fidec sweep`
# (for example: benchmarks/frontier/run.sh sweep --tasks 'pointmaze-*').
set -eu
cd "$(dirname "$0")/../.."
F=.venv/bin/fidec
O=benchmarks/frontier
. benchmarks/copy_metrics.sh
what=${1:-all}; shift || true
if [[ $what == data || $what == all ]]; then
  stamp "datasets (skipped when present)"
  need_dataset pointmaze-medium-navigate-v0 cube-single-play-v0
fi
if [[ $what == sweep || $what == all ]]; then
  stamp "sweep (resumes if interrupted)"
  study_sweep frontier $O/suite.toml --vmap-target-divergence "$@"
  copy_metrics sweeps/frontier $O/runs/local
fi
if [[ $what == report || $what == all ]]; then
  stamp "report (~9 min on 2 cores)"
  $F report $O/runs --out $O/report --include-incomplete --reps 20000 \
    --title "Budget frontier: FD vs DeFlow over target divergence, on an H200"
fi
stamp done
