#!/usr/bin/env bash
# The parity harness at the paper's sizes (4x512, batch 256, N = 8, K = 10), 10 updates per agent.
# Usage: benchmarks/parity/run.sh RELEASE_CHECKOUT FQL_CHECKOUT
#   RELEASE_CHECKOUT: git clone https://github.com/ARC0127/Fisher-Decorator && git -C Fisher-Decorator checkout 8c90736
#   FQL_CHECKOUT:     git clone https://github.com/seohongpark/fql   (HEAD 719d044 was used)
set -euo pipefail
cd "$(dirname "$0")/../.."
.venv/bin/python -m pip install -q -r benchmarks/parity/requirements.txt
/usr/bin/time -v .venv/bin/python benchmarks/parity/parity.py --release "$1" --fql "$2" --updates 10 \
  --out benchmarks/parity/result 2>&1 | tee benchmarks/parity/result.log
