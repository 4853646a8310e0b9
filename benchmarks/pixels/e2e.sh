#!/usr/bin/env bash
# End to end at small size: render a visual dataset, verify it, train and evaluate each agent (tiny
# preset), once with host streaming, and make a video. Writes benchmarks/pixels/e2e.log.
# Usage: benchmarks/pixels/e2e.sh [DATA_DIR] [RUN_ROOT]   (defaults under /tmp)
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA="${1:-/tmp/fidec-pixels-data}"
RUNS="${2:-/tmp/fidec-pixels-runs}"
FIDEC="${FIDEC:-fidec}"
ENV=visual-cube-single-play-singletask-task1-v0
LOG=benchmarks/pixels/e2e.log
rm -rf "$RUNS"; mkdir -p "$RUNS"
{
  echo "# $(date -u +%FT%TZ) $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
  set -x
  $FIDEC data generate visual-cube-single-play-v0 --episodes 2 --episode-length 51 --image-size 16 --workers 2 \
    --dataset-dir "$DATA" --no-progress --force
  $FIDEC data verify visual-cube-single-play-v0 --dataset-dir "$DATA"
  for agent in fd deflow fql bc; do
    /usr/bin/time -f "%e s wall, %M KB max RSS" $FIDEC train --env $ENV --agent $agent --preset tiny --steps 20 \
      --eval-episodes 1 --dataset-dir "$DATA" --run-dir "$RUNS/$agent" --no-progress
  done
  $FIDEC train --env $ENV --agent fd --preset tiny --steps 20 --eval-episodes 0 --data-placement host \
    --stream-updates 5 --dataset-dir "$DATA" --run-dir "$RUNS/fd-host" --no-progress
  $FIDEC evaluate "$RUNS/fd" --episodes 1 --video
} 2>&1 | grep -v -i "warn" | tee "$LOG"
