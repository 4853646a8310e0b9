#!/usr/bin/env bash
# The geometry demo: Fisher vs isotropic refinement on 2-D behaviour distributions with known densities
# (docs page "The geometry demo"). About 50-80 s on a 2-core CPU (half of it XLA compilation); add --critic to also
# fit a critic (about twice the time). Prints a short table; writes behaviour.png, fisher_ellipses.png, refined.png,
# frontier.png, geometry.png and metrics.json to ${1:-runs/demo-geometry}. Deterministic for a given seed.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-runs/demo-geometry}"
shift || true
.venv/bin/fidec demo geometry --out "$OUT" --seed 0 "$@"
ls "$OUT"
