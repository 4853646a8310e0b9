#!/usr/bin/env bash
# The six-agent comparison (benchmarks/comparison/README.md). Run from anywhere; needs scripts/setup.sh first.
# Usage: benchmarks/comparison/run.sh [data|sweep|report|all]
#   sweep: every run of suite.toml not yet finished in ./sweeps/comparison-$RUNS (checkpoints there; ignored by git),
#          then a copy of the metrics (no checkpoints) into benchmarks/comparison/runs/$RUNS.
#          TASKS (default '*'), AGENTS (default: all) and VARIANTS (default: all) pick the runs, SET (default: none)
#          adds config overrides (space-separated KEY=VALUE, each passed as --set), RUNS (default local) names the copy;
#          benchmarks/comparison/README.md ("Files") gives the committed copies' selections.
#          A folder that repeats a committed run's seeds is reported once (the report notes it).
#   report: benchmarks/comparison/report from the committed copies in runs/ only, so a clone rebuilds it.
set -eu
cd "$(dirname "$0")/../.."
F=.venv/bin/fidec
O=benchmarks/comparison
. benchmarks/copy_metrics.sh
what=${1:-all}
if [[ $what == data || $what == all ]]; then
  stamp "datasets (skipped when present)"
  need_dataset pointmaze-medium-navigate-v0 cube-single-play-v0 scene-play-v0
fi
if [[ $what == sweep || $what == all ]]; then
  stamp "sweep (resumes if interrupted)"
  read -ra tasks <<< "${TASKS:-*}"  # space-separated lists, globs kept as they are
  pick=(--tasks "${tasks[@]}")
  if [[ -n ${AGENTS:-} ]]; then read -ra agents <<< "$AGENTS"; pick+=(--agents "${agents[@]}"); fi
  if [[ -n ${VARIANTS:-} ]]; then read -ra variants <<< "$VARIANTS"; pick+=(--variants "${variants[@]}"); fi
  if [[ -n ${SET:-} ]]; then read -ra sets <<< "$SET"; for s in "${sets[@]}"; do pick+=(--set "$s"); done; fi
  study_sweep "comparison-${RUNS:-local}" $O/suite.toml "${pick[@]}"
  copy_metrics "sweeps/comparison-${RUNS:-local}" "$O/runs/${RUNS:-local}"
fi
if [[ $what == report || $what == all ]]; then
  stamp "report"
  $F report $O/runs --out $O/report \
    --title "Comparison: six agents under the paper preset and fidec's recipe (cpu suite budget)"
fi
stamp done
