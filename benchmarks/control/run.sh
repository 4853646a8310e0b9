#!/usr/bin/env bash
# The DeFlow control (benchmarks/control/README.md): DeFlow at eps = 0.018 on pointmaze-medium task3, reported beside
# fidec 0.1's cpu suite sweep. Run from anywhere; needs scripts/setup.sh first.
# Usage: benchmarks/control/run.sh [data|sweep|report|all]
#   report needs sweeps/cpu (benchmarks/cpu-v0.1/run.sh sweep) beside the control's runs: the committed report was
#   built from both, and fidec 0.1's main sweep metrics are not in the repository (report/INPUTS_MISSING.md).
set -eu
cd "$(dirname "$0")/../.."
F=.venv/bin/fidec
O=benchmarks/control
. benchmarks/copy_metrics.sh
what=${1:-all}
if [[ $what == data || $what == all ]]; then
  stamp "dataset (skipped when present)"
  need_dataset pointmaze-medium-navigate-v0
fi
if [[ $what == sweep || $what == all ]]; then
  stamp "control: DeFlow at eps = 0.018 on the point maze (resumes if interrupted)"
  study_sweep cpu-control $O/suite.toml
  copy_metrics sweeps/cpu-control $O/runs
fi
if [[ $what == report || $what == all ]]; then
  stamp "report"
  $F report sweeps/cpu $O/runs --out $O/report --title "cpu benchmark with the DeFlow control (eps = 0.018)"
fi
stamp done
