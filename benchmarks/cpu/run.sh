#!/usr/bin/env bash
# The cpu benchmark of benchmarks/cpu/README.md (issue 5). Run from anywhere; needs scripts/setup.sh first.
# Usage: benchmarks/cpu/run.sh [throughput|data|sweep|report|control|paper-v0.2|all]
# Datasets go to ./data (full OGBench size), runs to ./sweeps/cpu (checkpoints included; ignored by git);
# the report and a copy of each run's metrics (no checkpoints) go to benchmarks/cpu/. `control` runs
# benchmarks/cpu/control.toml (DeFlow at eps = 0.018) and reports it beside the main sweep.
set -eu
cd "$(dirname "$0")/../.."
F=.venv/bin/fidec
O=benchmarks/cpu
stamp() { echo "== $(date -u +%FT%TZ) $*"; uptime; }
what=${1:-all}
. benchmarks/copy_metrics.sh
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
  copy_metrics sweeps/cpu $O/runs
  $F report sweeps/cpu --out $O/report
fi
if [[ $what == control || $what == all ]]; then
  stamp "control: DeFlow at eps = 0.018 on the point maze"
  /usr/bin/time -v $F sweep $O/control.toml --dataset-dir data --out sweeps/cpu-control 2>&1 | tee -a sweeps/cpu_control.log
  copy_metrics sweeps/cpu-control $O/runs-control
  $F report sweeps/cpu sweeps/cpu-control --out $O/report-with-control \
    --title "cpu benchmark with the DeFlow control (eps = 0.018)"
fi
if [[ $what == paper-v0.2 ]]; then
  # issue 15: the faithful paper preset (and fidec's recipe for FD) on the point-maze task; the metrics are
  # copied into the repository and the report is built from that copy, so it can be rebuilt from a clone
  stamp "paper-v0.2 sweep (resumes if interrupted)"
  /usr/bin/time -v $F sweep $O/paper-v0.2.toml --dataset-dir data --out sweeps/cpu-paper-v0.2 2>&1 | tee -a sweeps/cpu_paper_v0.2.log
  copy_metrics sweeps/cpu-paper-v0.2 $O/runs-paper-v0.2
  # the committed cube half ran on a lent H200 (runs-paper-v0.2-cube-h200); where both folders hold the same
  # seed of a run, the report keeps one and notes the other
  $F report $O/runs-paper-v0.2 $O/runs-paper-v0.2-cube-h200 --out $O/report-paper-v0.2 \
    --title "cpu benchmark v0.2: paper preset and fidec recipe (point maze on this CPU, cube-single on an H200)"
fi
stamp done
