#!/usr/bin/env bash
# The pixel-observation measurements of benchmarks/pixels/README.md. Run from anywhere; needs scripts/setup.sh first
# (it installs Mesa's EGL for MuJoCo's offscreen renderer).
# Usage: benchmarks/pixels/run.sh [e2e|speed|memory|encoder|all]
set -eu
cd "$(dirname "$0")/../.."
F=.venv/bin/fidec
PY=.venv/bin/python
O=benchmarks/pixels
what=${1:-all}
if [[ $what == e2e || $what == all ]]; then
  bash $O/e2e.sh                                   # render, verify, train and evaluate each agent at 16x16 -> e2e.log
fi
if [[ $what == speed || $what == all ]]; then      # minutes per update at batch 256 on a CPU: batch 32 for all four
  $F bench-speed --agents fd,deflow,fql,bc --preset paper --image-shape 64,64,3 --batch-size 32 --chunk 1 --repeats 1 \
    --out $O/bench_speed_cpu_64x64_b32.json --markdown $O/bench_speed_cpu_64x64_b32.md
  $F bench-speed --agents bc --preset paper --image-shape 64,64,3 --chunk 1 --repeats 1 \
    --out $O/bench_speed_cpu_64x64_bc_b256.json --markdown $O/bench_speed_cpu_64x64_bc_b256.md
fi
if [[ $what == memory || $what == all ]]; then
  PYTHONPATH=. $PY $O/memory.py --frames 20020 --agent bc --stream-updates 1 --chunks 1 --out $O/memory_cpu.json
fi
if [[ $what == encoder || $what == all ]]; then
  PYTHONPATH=. $PY $O/encoder_time.py | tee $O/encoder_time.txt
fi
