#!/usr/bin/env bash
# The geometry demo (benchmarks/geometry/README.md): fidec demo geometry, seed 0, full size, then its metrics and
# figures copied here. Deterministic for a given seed. Usage: benchmarks/geometry/run.sh [--critic]
set -eu
cd "$(dirname "$0")/../.."
out=runs/demo-geometry${1:+-critic}
/usr/bin/time -v .venv/bin/fidec demo geometry --out "$out" --seed 0 "$@"
mkdir -p benchmarks/geometry/result
cp "$out"/metrics.json benchmarks/geometry/result/  # the figures stay in the run folder
