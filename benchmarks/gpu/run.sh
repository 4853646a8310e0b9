#!/usr/bin/env bash
# fidec on a fresh GPU machine, in one go: install, then within ~8 minutes
#   1. fidec bench-speed at the paper preset for every agent (fd, deflow, fql, bc) at 1, 16 and 4 vmapped seeds,
#   2. a short FD training with evaluation (paper preset, 4 seeds, pointmaze-medium task3), which also logs the
#      share of wall time spent inside compiled chunks (time_in_chunks_frac),
#   3. results.md + results.json (+ the raw files) in the output folder.
#
# Usage (from anywhere):
#   benchmarks/gpu/run.sh [--out DIR] [--budget-s 480] [--dry-run]
# Output folder: --out, else $OUT (set by the device runner), else benchmarks/gpu/results-local.
# --dry-run: tiny sizes (agents fd and bc only, 1 and 2 seeds) on whatever JAX finds (CPU here), the existing .venv,
# no install: checks the script end to end (2-6 minutes on a busy 2-core CPU).
#
# Installing without network: the GPU machine may have no PyPI access. Prepare a wheelhouse on a machine that has
# it (benchmarks/gpu/make_wheelhouse.sh -> benchmarks/gpu/wheels/, git-ignored, several GB of CUDA wheels) and
# bring it along; this script then installs with --no-index from it. Without a wheelhouse it uses a JAX that
# already sees a GPU (system Python), else tries PyPI, else stops with one line saying what is missing.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
OUTDIR=""
BUDGET=480
DRY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUTDIR="$2"; shift 2 ;;
    --budget-s) BUDGET="$2"; shift 2 ;;
    --dry-run) DRY=1; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
OUTDIR=${OUTDIR:-${OUT:-benchmarks/gpu/results-local}}
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
LOG="$OUTDIR/run.log"
START=$(date +%s)
left() { echo $(( BUDGET - ($(date +%s) - START) )); }
say() { echo "== [$(( $(date +%s) - START ))s] $*" | tee -a "$LOG" >&2; }
fail() { say "STOPPED: $*"; echo "{\"status\": \"stopped\", \"reason\": \"$*\"}" > "$OUTDIR/results.json"; exit 1; }
: > "$LOG"

# ------------------------------------------------------------------ 1. environment
if [ $DRY = 1 ]; then
  PY="$ROOT/.venv/bin/python"
  [ -x "$PY" ] || fail "no .venv; run scripts/setup.sh test first"
else
  VENV="${FIDEC_GPU_VENV:-$ROOT/.venv-gpu}"
  WHEELS="${FIDEC_WHEELS:-$ROOT/benchmarks/gpu/wheels}"
  SYSPY=$(command -v python3)
  if [ ! -d "$WHEELS" ] && "$SYSPY" -c "import jax, sys; sys.exit(0 if jax.default_backend() == 'gpu' else 1)" >/dev/null 2>&1; then
    # the image's own Python already holds a GPU JAX (and flax/optax): use it as is, fidec from the source tree
    # (a venv made from it would not see its packages when it is itself a venv)
    say "using the system Python's GPU JAX ($SYSPY), fidec from $ROOT (no install)"
    VENV="" ; PY="$SYSPY"; export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
  elif [ ! -x "$VENV/bin/python" ]; then
    # --system-site-packages: a JAX/CUDA preinstalled on the image is used as is
    python3 -m venv --system-site-packages "$VENV" || fail "python3 -m venv failed (need Python >= 3.11 with venv)"
  fi
  [ -n "$VENV" ] && PY="$VENV/bin/python"
  if [ -z "$VENV" ]; then
    :
  elif [ -d "$WHEELS" ] && ls "$WHEELS"/*.whl >/dev/null 2>&1; then
    say "installing from the wheelhouse $WHEELS (no network)"
    "$PY" -m pip install -q --no-index --find-links "$WHEELS" "jax[cuda12]" >>"$LOG" 2>&1 \
      && "$PY" -m pip install -q --no-index --find-links "$WHEELS" -e ".[tensorboard]" >>"$LOG" 2>&1 \
      || fail "install from $WHEELS failed (see $LOG); rebuild it with benchmarks/gpu/make_wheelhouse.sh"
  elif "$PY" -c "import jax, sys; sys.exit(0 if jax.default_backend() == 'gpu' else 1)" >/dev/null 2>&1; then
    say "using the preinstalled JAX with a GPU; installing fidec without dependencies"
    "$PY" -m pip install -q --no-deps --no-build-isolation -e . >>"$LOG" 2>&1 || fail "pip install -e . failed (see $LOG)"
  else
    say "no wheelhouse at $WHEELS and no GPU JAX installed: trying PyPI"
    timeout 300 "$PY" -m pip install -q "jax[cuda12]" -e ".[tensorboard]" >>"$LOG" 2>&1 \
      || fail "no network for pip and no wheelhouse: prepare one with benchmarks/gpu/make_wheelhouse.sh and bring benchmarks/gpu/wheels"
  fi
  "$PY" -c "import fidec" 2>>"$LOG" || fail "fidec does not import after the install (see $LOG)"
fi
FIDEC=("$PY" -m fidec.cli)
export FIDEC_JAX_CACHE=off  # compile times are part of what is measured
"$PY" - >"$OUTDIR/device.json" 2>>"$LOG" <<'PYEOF' || fail "JAX does not start (see run.log)"
import json, platform, subprocess
import jax
devs = jax.devices()
try:
    smi = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                         capture_output=True, text=True, timeout=30).stdout.strip()
except (OSError, subprocess.SubprocessError):
    smi = None
print(json.dumps({"backend": jax.default_backend(), "devices": [str(d) for d in devs],
                  "device_kind": devs[0].device_kind, "jax": jax.__version__, "nvidia_smi": smi,
                  "python": platform.python_version()}, indent=2))
PYEOF
say "device: $(tr -d '\n' < "$OUTDIR/device.json" | head -c 300)"
if [ $DRY = 0 ] && ! grep -q '"backend": "gpu"' "$OUTDIR/device.json"; then
  fail "JAX sees no GPU (backend $(grep -o '"backend": "[a-z]*"' "$OUTDIR/device.json")); check the CUDA 12 driver and jax[cuda12]"
fi

# ------------------------------------------------------------------ sizes
if [ $DRY = 1 ]; then
  PRESET=tiny; CHUNK=5; REPEATS=2; SEED_COUNTS="1 2"; AGENTS=fd,bc; PEAK=256; CASE_LIMIT=120
  TRAIN=(--preset tiny --steps 40 --chunk-size 10 --log-every 10 --eval-every 20 --checkpoint-every 20 --eval-episodes 2 --num-seeds 2)
  DATA_EPISODES=3; GEN_WORKERS=1
else
  PRESET=paper; CHUNK=200; REPEATS=3; SEED_COUNTS="1 16 4"; AGENTS=fd,deflow,fql,bc; PEAK=4096
  CASE_LIMIT=90
  TRAIN=(--preset paper --steps 20000 --chunk-size 1000 --log-every 5000 --eval-every 10000 --checkpoint-every 10000
         --eval-episodes 50 --num-seeds 4 --eval-envs 200 --eval-workers 8 --fisher-locality per-action --logger tensorboard)
  DATA_EPISODES=100; GEN_WORKERS=8
fi
TASK=pointmaze-medium-navigate-singletask-task3-v0
DATASET=pointmaze-medium-navigate-v0
DATA="$OUTDIR/data"

# the dataset is generated in the background while the benchmarks run
"${FIDEC[@]}" data generate $DATASET --episodes $DATA_EPISODES --workers $GEN_WORKERS --dataset-dir "$DATA" \
  --no-progress >"$OUTDIR/generate.log" 2>&1 &
GEN_PID=$!

# ------------------------------------------------------------------ 2. bench-speed
# one process per (seeds, agent), each under its own timeout, so that a slow compile loses one case, not all;
# 150 s of the budget is kept back for the training below
for S in $SEED_COUNTS; do
  for A in ${AGENTS//,/ }; do
    T=$(( $(left) - 150 ))
    [ $T -gt $CASE_LIMIT ] && T=$CASE_LIMIT
    if [ $T -lt 20 ]; then say "bench-speed $A seeds=$S skipped: budget spent"; continue; fi
    say "bench-speed --preset $PRESET --agents $A --seeds $S (limit ${T}s)"
    timeout $T "${FIDEC[@]}" bench-speed --preset $PRESET --agents $A --seeds $S --peak-size $PEAK \
      --chunk $CHUNK --repeats $REPEATS --out "$OUTDIR/bench-seeds$S-$A.json" --quiet \
      >>"$LOG" 2>&1 || say "bench-speed $A seeds=$S did not finish (exit $?; see run.log)"
  done
done

# ------------------------------------------------------------------ 3. short training with evaluation
wait $GEN_PID || fail "dataset generation failed (see $OUTDIR/generate.log)"
T=$(( $(left) - 15 ))
if [ $T -lt 30 ]; then
  say "training skipped: budget spent"
else
  say "training fd ${TRAIN[*]} on $TASK (limit ${T}s)"
  rm -rf "$OUTDIR/train"
  timeout $T "${FIDEC[@]}" train --agent fd --env $TASK "${TRAIN[@]}" --dataset-dir "$DATA" \
    --run-dir "$OUTDIR/train" --no-progress >>"$LOG" 2>&1 || say "training did not finish (exit $?; see run.log)"
fi

# ------------------------------------------------------------------ 4. results
"$PY" "$ROOT/benchmarks/gpu/summarize.py" "$OUTDIR" --seconds $(( $(date +%s) - START )) $([ $DRY = 1 ] && echo --dry-run) \
  2>>"$LOG" || fail "summarize.py failed (see run.log)"
rm -rf "$DATA"  # regenerable; keeps the output small
say "done: $OUTDIR/results.md"
