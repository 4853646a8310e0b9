#!/usr/bin/env bash
# The parity harness (benchmarks/parity/README.md): fidec's --preset paper against the authors' release and FQL's.
# Usage: benchmarks/parity/run.sh [parity|speed|all] RELEASE_CHECKOUT FQL_CHECKOUT [extra parity.py flags]
#   RELEASE_CHECKOUT: git clone https://github.com/ARC0127/Fisher-Decorator && git -C Fisher-Decorator checkout 8c90736
#   FQL_CHECKOUT:     git clone https://github.com/seohongpark/fql && git -C fql checkout 719d044
#   (plain extracted trees: add --release-commit SHA --fql-commit SHA, or put a COMMIT file in each)
# parity: 10 updates per state agent at 2x64, batch 32 (the size that fits a loaded 2-core CPU; drop --hidden
#         and --batch-size for the paper's 4x512, batch 256), the mutations, the visual agents at 16x16 frames and
#         the online loop -> result/parity.{md,json}, result/worst.json, result.log
# speed:  update rates of fidec and the release in one process, interleaved -> speed/speed.{md,json}
set -euo pipefail
cd "$(dirname "$0")/../.."
what=parity
case "${1:-}" in parity|speed|all) what=$1; shift ;; esac
[ $# -ge 2 ] || { sed -n '2,11p' "$0"; exit 2; }
rel=$1 fql=$2
shift 2
.venv/bin/python -m pip install -q -r benchmarks/parity/requirements.txt
if [[ $what == parity || $what == all ]]; then
  /usr/bin/time -v .venv/bin/python benchmarks/parity/parity.py --release "$rel" --fql "$fql" --updates 10 \
    --hidden 64,64 --batch-size 32 --mutations --pixels --online --out benchmarks/parity/result "$@" 2>&1 \
    | tee benchmarks/parity/result.log
fi
if [[ $what == speed || $what == all ]]; then
  .venv/bin/python benchmarks/parity/speed.py --release "$rel" --fql "$fql" --out benchmarks/parity/speed
fi
