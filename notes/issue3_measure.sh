#!/usr/bin/env bash
# The measurements in notes/issue3.md, as run (from the repo root; logs in notes/issue3_*.log).
# The full puzzle-3x3-play-v0 run was left out (time budget under contention); its sample is at the end.
set -u
cd "$(dirname "$0")/.."
F=.venv/bin/fidec
log() { echo "== $(date -u +%H:%M:%S) $*"; uptime; }
{
  log "bench: 1 worker";  $F data generate cube-single-play-v0 --episodes 30 --workers 1 --dataset-dir /tmp/fidec-bench1
  log "bench: 2 workers"; $F data generate cube-single-play-v0 --episodes 60 --workers 2 --dataset-dir /tmp/fidec-bench2
  rm -rf /tmp/fidec-bench1 /tmp/fidec-bench2; log "done"
} > notes/issue3_bench.log 2>&1
{
  log "full cube-single-play-v0, 2 workers"
  /usr/bin/time -v $F data generate cube-single-play-v0 --workers 2 --dataset-dir data
} > notes/issue3_cube_full.log 2>&1
{
  uptime; /usr/bin/time -f "wall %e s, user %U s, max RSS %M kB" $F data verify cube-single-play-v0 --dataset-dir data
} > notes/issue3_cube_verify.log 2>&1
{
  uptime
  /usr/bin/time -f "wall %e s, user %U s" $F data generate puzzle-3x3-play-v0 --episodes 20 --workers 2 \
    --no-progress --dataset-dir /tmp/fidec-puzzle-sample
  uptime; rm -rf /tmp/fidec-puzzle-sample
} > notes/issue3_puzzle_sample.log 2>&1
# Full puzzle (not run here): $F data generate puzzle-3x3-play-v0 --workers 2 --dataset-dir data
