#!/usr/bin/env bash
# The quickstart measurement (benchmarks/quickstart/README.md): a fresh clone, then scripts/quickstart.sh under
# /usr/bin/time -v. Usage: benchmarks/quickstart/run.sh [CLONE_DIR]   (default /tmp/fidec-fresh; removed first)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
dir=${1:-/tmp/fidec-fresh}
rm -rf "$dir" && git clone -q "$root" "$dir" && cd "$dir"
uptime
/usr/bin/time -v scripts/quickstart.sh 2>&1 | tee quickstart.log
uptime
echo "run folder: $dir/runs/quickstart/fd_seed0 (summary.json, eval.csv, learning_curve.png)"
