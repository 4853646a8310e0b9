#!/usr/bin/env bash
# fidec 0.1's cpu benchmark (benchmarks/cpu-v0.1/README.md): the `cpu` suite (fidec/suites/cpu.toml). Run from
# anywhere; needs scripts/setup.sh first. Today's defaults differ from 0.1's: to repeat 0.1's configuration, see
# the README ("Reproducing").
# Usage: benchmarks/cpu-v0.1/run.sh [data|sweep|report|all]
# Datasets go to ./data (full OGBench size), runs to ./sweeps/cpu (checkpoints included; ignored by git); a copy of
# each run's metrics goes to benchmarks/cpu-v0.1/runs and the report is built from that copy.
set -eu
cd "$(dirname "$0")/../.."
F=.venv/bin/fidec
O=benchmarks/cpu-v0.1
. benchmarks/copy_metrics.sh
what=${1:-all}
if [[ $what == data || $what == all ]]; then
  stamp "datasets (skipped when present)"
  need_dataset pointmaze-medium-navigate-v0 cube-single-play-v0
fi
if [[ $what == sweep || $what == all ]]; then
  stamp "sweep (resumes if interrupted)"
  study_sweep cpu cpu
  copy_metrics sweeps/cpu $O/runs
fi
if [[ $what == report || $what == all ]]; then
  stamp "report"
  $F report $O/runs --out $O/report
fi
stamp done
