#!/usr/bin/env bash
# Your own data, end to end and without a network: a small Minari dataset from gymnasium-robotics' PointMaze and a
# Pendulum .npz (examples/own_data.py), checked with `fidec data verify`, then short FD and flow-BC runs on each
# (2000 updates of 2x64 networks, 10 evaluation episodes at 1k and 2k). Needs the minari extra
# (scripts/setup.sh minari). Writes the log to ${1:-own_data_demo.log}. The docs page "Your own data, Minari, D4RL"
# shows a run of it (4 min 34 s on a shared 2-core CPU). The final `data download` needs a network; offline it
# fails in one line, which the log shows.
set -euo pipefail
cd "$(dirname "$0")/.."
LOG="${1:-own_data_demo.log}"
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
export MINARI_DATASETS_PATH="$W/minari"
FIDEC=.venv/bin/fidec
SMALL=(--preset cpu --hidden-dims 64,64 --steps 2000 --chunk-size 500 --log-every 500 --eval-every 1000
       --checkpoint-every 1000 --eval-episodes 10 --no-progress)
{
  echo "# $(date -u +%FT%TZ) $(git rev-parse --short HEAD 2>/dev/null || echo -) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
  .venv/bin/python examples/own_data.py --episodes 50 --npz "$W/pendulum.npz" --npz-episodes 20
  $FIDEC data list fidec/
  $FIDEC data verify minari:fidec/pointmaze-open/pd-random-v0
  $FIDEC data verify "$W/pendulum.npz"
  for agent in fd bc; do
    $FIDEC train --agent "$agent" --env minari:fidec/pointmaze-open/pd-random-v0 "${SMALL[@]}" \
      --run-dir "$W/runs/${agent}_pointmaze"
    $FIDEC train --agent "$agent" --dataset "$W/pendulum.npz" "${SMALL[@]}" --run-dir "$W/runs/${agent}_pendulum"
  done
  $FIDEC data download minari:D4RL/antmaze/large-diverse-v1 || true
} 2>&1 | sed "s#$W#\$TMP#g" | tee "$LOG"
