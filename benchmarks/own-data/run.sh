#!/usr/bin/env bash
# The README's "Your own data and D4RL" commands end to end on data made locally (no network): a Minari dataset
# from gymnasium-robotics' PointMaze and a Pendulum .npz (examples/own_data.py), then short FD and flow-BC runs on
# each. Output: benchmarks/own-data/demo.log. Usage: bash benchmarks/own-data/run.sh (4.5 min wall, 2.3 min CPU on
# a shared 2-core CPU, load 6.5-7). Needs the minari extra: scripts/setup.sh minari.
set -euo pipefail
cd "$(dirname "$0")/../.."
W=$(mktemp -d)
export MINARI_DATASETS_PATH="$W/minari"
FIDEC=.venv/bin/fidec
SMALL=(--preset cpu --hidden-dims 64,64 --steps 2000 --chunk-size 500 --log-every 500 --eval-every 1000
       --checkpoint-every 1000 --eval-episodes 10 --no-progress)
{
  echo "# $(date -u +%FT%TZ) $(git rev-parse --short HEAD) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
  .venv/bin/python examples/own_data.py --episodes 50 --npz "$W/pendulum.npz" --npz-episodes 20
  $FIDEC data list fidec/ 2>&1 | grep -v -i adroit
  $FIDEC data verify minari:fidec/pointmaze-open/pd-random-v0 2>&1 | grep -v -i adroit
  $FIDEC data verify "$W/pendulum.npz" 2>&1 | grep -v -i adroit
  for agent in fd bc; do
    $FIDEC train --agent "$agent" --env minari:fidec/pointmaze-open/pd-random-v0 "${SMALL[@]}" \
      --run-dir "$W/runs/${agent}_pointmaze" 2>&1 | grep -v -i adroit
    $FIDEC train --agent "$agent" --dataset "$W/pendulum.npz" "${SMALL[@]}" \
      --run-dir "$W/runs/${agent}_pendulum" 2>&1 | grep -v -i adroit
  done
  $FIDEC data download minari:D4RL/antmaze/large-diverse-v1 2>&1 || true
} 2>&1 | sed "s#$W#\$TMP#g" | tee benchmarks/own-data/demo.log
rm -rf "$W"
