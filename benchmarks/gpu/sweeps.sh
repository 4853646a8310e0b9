#!/usr/bin/env bash
# The budget frontier, the cube half of the comparison and the ablation on one GPU machine, in one call of under 10 min:
#   1. install the packages the image lacks (gymnasium, ogbench, mujoco, a pruned dm_control) from .whl/,
#   2. generate the cube dataset (cube-single-play-v0, 1000 + 100 episodes) with the machine's cores; the point-maze
#      dataset is carried from here when present (carry data/: 21 MiB beside the 33 MiB of wheels), else generated,
#   3. run, concurrently on the one GPU, with evaluations only at the last three evaluation steps (eval_from; the
#      score reads those three): the maze frontier (benchmarks/frontier/suite.toml, every epsilon of a
#      configuration vmapped in one process) and benchmarks/ablation/suite.toml while the cube data is made,
#      then the cube frontier and the cube half of benchmarks/comparison/suite.toml,
#   4. pack every run's metrics (no checkpoints) into $OUT/runs.tgz, with logs and a GPU utilisation trace.
# Whatever is unfinished at --budget-s is stopped; finished runs come back (sweeps resume elsewhere).
#
# Usage: benchmarks/gpu/sweeps.sh [--out DIR] [--budget-s 520] [--dry-run]
#   --dry-run: tiny sizes on this machine's .venv (checks the orchestration end to end, ~5 min on 2 cores)
# The wheels: benchmarks/gpu/make_wheels_cp312.sh (run where PyPI is reachable) fills .whl/ (git-ignored).
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
OUTDIR=${OUT:-benchmarks/gpu/sweeps-local}
BUDGET=520
DRY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUTDIR="$2"; shift 2 ;;
    --budget-s) BUDGET="$2"; shift 2 ;;
    --dry-run) DRY=1; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "sweeps.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
mkdir -p "$OUTDIR"; OUTDIR=$(cd "$OUTDIR" && pwd)
W=${FIDEC_GPU_WORK:-/tmp/fidec-gpu}; rm -rf "$W"; mkdir -p "$W/logs"
L="$W/logs"  # every log goes into the one archive: the device runner returns at most 8 files
LOG="$OUTDIR/sweeps.log"; : > "$LOG"
START=$(date +%s)
el() { echo $(( $(date +%s) - START )); }
say() { echo "== [$(el)s] $*" | tee -a "$LOG" >&2; }

if [ $DRY = 1 ]; then
  PY="$ROOT/.venv/bin/python"
  EPISODES=4; GEN_CUBE=1; GEN_MAZE=1
  SET=(--set steps=60 --set hidden_dims=16,16 --set batch_size=16 --set chunk_size=10 --set log_every=10
       --set eval_every=20 --set eval_from=40 --set checkpoint_every=20 --set eval_episodes=2 --set flow_steps=2
       --set fisher_samples=2)
  EVAL_MAZE=(--set eval_envs=10 --set eval_workers=0); EVAL_CUBE=("${EVAL_MAZE[@]}"); EVAL_CUBE3=("${EVAL_MAZE[@]}")
  EVAL_ABL=("${EVAL_MAZE[@]}")
else
  PY=python3
  say "installing the carried wheels"
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    >>"$LOG" 2>&1 || { say "STOPPED: wheel install failed"; exit 1; }
  export PYTHONPATH="/tmp/site:$ROOT"
  EPISODES=1000; GEN_CUBE=12; GEN_MAZE=4
  SET=(--set eval_from=24000)  # evaluations at 24k, 27k and 30k only: the score is their mean
  # maze envs are cheap (2 MB, 0.01 s to make); a cube env takes ~150 MB and seconds to make
  # (benchmarks/eval/env_memory.txt), so cube episodes run in waves of 30 (frontier) or 20 (3 seeds)
  EVAL_MAZE=(--set eval_envs=300 --set eval_workers=3); EVAL_CUBE=(--set eval_envs=30 --set eval_workers=3)
  EVAL_CUBE3=(--set eval_envs=20 --set eval_workers=2); EVAL_ABL=(--set eval_envs=60 --set eval_workers=1)
fi
export XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
F=("$PY" -m fidec.cli)
"$PY" -c "import jax, ogbench, mujoco; print('jax', jax.__version__, jax.default_backend(), jax.devices()[0].device_kind)" \
  2>&1 | tee -a "$LOG" | tail -1 > "$L/device.txt"
say "device: $(cat "$L/device.txt")"
(command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 5 \
  > "$L/gpu_util.csv" 2>/dev/null) &
SMI=$!

DATA="$W/data"; mkdir -p "$DATA"
# one thread per generation worker: 12 workers with multi-threaded BLAS would oversubscribe the cores
GEN_ENV=(env OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1)
say "generating the cube dataset ($EPISODES episodes, $GEN_CUBE workers)"
"${GEN_ENV[@]}" "${F[@]}" data generate cube-single-play-v0 --episodes $EPISODES --workers $GEN_CUBE \
  --dataset-dir "$DATA" --no-progress > "$L/generate_cube.log" 2>&1 &
GC=$!
if [ $DRY = 0 ] && [ -f data/pointmaze-medium-navigate-v0.npz ]; then
  say "point-maze dataset carried (data/): verifying it"
  cp data/pointmaze-medium-navigate-v0*.npz* "$DATA/"
  "${F[@]}" data verify pointmaze-medium-navigate-v0 --dataset-dir "$DATA" > "$L/generate_maze.log" 2>&1 &
else
  "${GEN_ENV[@]}" "${F[@]}" data generate pointmaze-medium-navigate-v0 --episodes $EPISODES --workers $GEN_MAZE \
    --dataset-dir "$DATA" --no-progress > "$L/generate_maze.log" 2>&1 &
fi
GM=$!

sweep() {  # sweep NAME SUITE ARGS...: one sweep in the background (niced: the cube data is the critical path)
  local name=$1; shift
  say "sweep $name: $*"
  ( nice -n 5 "${F[@]}" sweep "$@" --dataset-dir "$DATA" --out "$W/$name" --no-generate "${SET[@]}" \
      > "$L/sweep_$name.log" 2>&1; say "sweep $name ended (exit $?)" ) &
}
await() {  # await PID: its exit status, or 1 once the budget is spent with it still running
  while [ "$(el)" -lt "$BUDGET" ] && kill -0 "$1" 2>/dev/null; do sleep 3; done
  kill -0 "$1" 2>/dev/null && return 1
  wait "$1"
}
await $GM || say "pointmaze data failed or unfinished (generate_maze.log)"
say "pointmaze data ready"
sweep frontier-maze benchmarks/frontier/suite.toml --vmap-target-divergence --tasks 'pointmaze-*' --workers 3 "${EVAL_MAZE[@]}"
FM=$!
sweep ablation benchmarks/ablation/suite.toml --workers 7 "${EVAL_ABL[@]}"
AB=$!
FC=$FM; PC=$FM
if await $GC; then
  say "cube data ready"
  sweep frontier-cube benchmarks/frontier/suite.toml --vmap-target-divergence --tasks 'cube-*' --workers 3 \
    "${EVAL_CUBE[@]}"
  FC=$!
  sweep paper-cube benchmarks/comparison/suite.toml --tasks 'cube-*' --workers 5 "${EVAL_CUBE3[@]}"
  PC=$!
else
  say "cube generation failed or unfinished (generate_cube.log): no cube runs"
fi

# the budget: whatever still runs at --budget-s is left running (its files are written atomically) and the
# finished runs are packed; the device runner ends the rest when the command returns
running() { kill -0 $FM 2>/dev/null || kill -0 $FC 2>/dev/null || kill -0 $PC 2>/dev/null || kill -0 $AB 2>/dev/null; }
while [ "$(el)" -lt "$BUDGET" ] && running; do sleep 5; done
running && say "budget reached: packing what finished"
kill $SMI 2>/dev/null

say "packing metrics"
cp "$DATA"/*.json "$L/" 2>/dev/null  # the datasets' sidecars (request, versions, checksums)
cp "$LOG" "$L/"
(cd "$W" && find . -path ./data -prune -o \( -name '*.json' -o -name '*.jsonl' -o -name '*.csv' -o -name '*.log' \
   -o -name '*.toml' -o -name '*.txt' \) -print | grep -v checkpoint | tar -czf "$OUTDIR/runs.tgz" -T -)
for n in frontier-maze frontier-cube paper-cube ablation; do
  [ -f "$W/$n/sweep_status.json" ] && "$PY" - "$W/$n/sweep_status.json" >> "$LOG" 2>&1 <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
for j in d.get("runs", []):
    print(f"  {j.get('detail', '?'):12s} {j.get('wall_s') or ''} {j.get('name')}")
PYEOF
done
say "done ($(el)s); runs in $OUTDIR/runs.tgz"
