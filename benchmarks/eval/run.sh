#!/usr/bin/env bash
# The evaluation-speed measurements of benchmarks/eval/README.md. Run from anywhere; needs scripts/setup.sh first.
# Usage: benchmarks/eval/run.sh [bench|memory|rotation|kernel|all] [OUT_PREFIX]
#   bench: sequential vs vectorised evaluation -> OUT_PREFIX.{md,json} (default benchmarks/eval/result)
set -eu
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
what=${1:-all}; out=${2:-benchmarks/eval/result}
[[ $what == bench || $what == all ]] && $PY benchmarks/eval/bench_eval.py --out "$out" 2>&1 | tee "$out.log"
[[ $what == memory || $what == all ]] && $PY benchmarks/eval/env_memory.py | tee benchmarks/eval/env_memory.txt
[[ $what == rotation || $what == all ]] && { uptime; $PY benchmarks/eval/env_rotation.py; uptime; } | tee benchmarks/eval/env_rotation.txt
[[ $what == kernel || $what == all ]] && $PY benchmarks/eval/kernel_rows.py | tee benchmarks/eval/kernel_rows.txt
true
