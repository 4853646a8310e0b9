#!/usr/bin/env bash
# The parity harness (benchmarks/parity/README.md): fidec's --preset paper against the authors' release and FQL's.
# Usage: benchmarks/parity/run.sh [parity|speed|all] RELEASE_CHECKOUT FQL_CHECKOUT
#   RELEASE_CHECKOUT: git clone https://github.com/ARC0127/Fisher-Decorator && git -C Fisher-Decorator checkout 8c90736
#   FQL_CHECKOUT:     git clone https://github.com/seohongpark/fql   (HEAD 719d044 was used)
# parity: 10 updates per agent at the paper's sizes (4x512, batch 256, N = 8, K = 10) -> result/parity.{md,json}, result.log
# speed:  update rates of fidec and the release in one process, interleaved -> speed/speed.{md,json}
set -euo pipefail
cd "$(dirname "$0")/../.."
what=parity
case "${1:-}" in parity|speed|all) what=$1; shift ;; esac
[ $# -eq 2 ] || { sed -n '2,7p' "$0"; exit 2; }
.venv/bin/python -m pip install -q -r benchmarks/parity/requirements.txt
if [[ $what == parity || $what == all ]]; then
  /usr/bin/time -v .venv/bin/python benchmarks/parity/parity.py --release "$1" --fql "$2" --updates 10 \
    --out benchmarks/parity/result 2>&1 | tee benchmarks/parity/result.log
fi
if [[ $what == speed || $what == all ]]; then
  .venv/bin/python benchmarks/parity/speed.py --release "$1" --fql "$2" --out benchmarks/parity/speed
fi
