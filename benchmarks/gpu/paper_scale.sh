#!/usr/bin/env bash
# fidec at the paper preset on one GPU, in one call of under ~9 minutes (--budget-s 530), everything into $OUT:
#   1. bench cases: every agent (fd, deflow, fql, bc; iql and rebrac when `fidec train --help` lists them and
#      bench-speed knows them) at 1, 4, 8 and 16 vmapped seeds, and at each --matmul-precision (highest, tf32, bf16)
#      at 16 seeds: seed-updates/s, compile s, memory, the training loop's share of time in compiled chunks. Cases
#      compile several at a time into a persistent cache (CPU), then are timed one after another from it (GPU);
#      each compile runs under its own timeout and every case ends as a result or a recorded failure;
#   2. the matmul peak at each precision (every agent's share of it is in its cases);
#   3. the release on the same card: benchmarks/parity/speed.py (the release's own FD/DeFlow code and FQL's, one
#      dispatch per update as their main.py) against fidec's chunks, in one process, with the ratio;
#   4. seconds of one evaluation, 50 episodes x 4 vmapped seeds with --eval-workers 8, of an untrained agent (every
#      episode to its time limit) on cube-single (manipulation) and antmaze-large (locomotion);
#   5. with the time left: antmaze-large-navigate-singletask-task1 at the paper preset (4x512), FD, DeFlow and FQL,
#      4 seeds vmapped each, the three concurrently, as many updates as the measured rates say fit, then one
#      50-episode evaluation; the dataset is generated on the machine's cores with the committed ant expert
#      (benchmarks/antmaze/expert-ant-400k.npz) while stages 1-4 run;
#   6. results.md + results.json (benchmarks/gpu/summarize_paper_scale.py).
#
# Usage: benchmarks/gpu/paper_scale.sh [--out DIR] [--budget-s 530] [--dry-run] [--agents LIST]
#                                      [--release DIR] [--fql DIR]
# Output: --out, else $OUT (set by the device runner), else benchmarks/gpu/paper-scale-local.
# --dry-run (or DRY_RUN=1): every stage at tiny sizes on this machine's CPU and Python ($FIDEC_PY, else .venv),
#   agents fd and bc: checks the script end to end; it measures nothing about a GPU.
# What it needs on the GPU machine (carried with the working tree, 64 MiB in all): .whl/ (benchmarks/gpu/
#   make_wheels_cp312.sh --parity: the sweeps' wheels plus ml_collections, distrax and tfp for the release) and the
#   two release checkouts in .ref/rel and .ref/fql (git-ignored copies; default --release/--fql). A stage whose
#   inputs are missing is recorded as skipped.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
OUTDIR=""
BUDGET=530
DRY=${DRY_RUN:-0}
AGENTS_ARG=""
RELEASE=$ROOT/.ref/rel
FQL=$ROOT/.ref/fql
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUTDIR="$2"; shift 2 ;;
    --budget-s) BUDGET="$2"; shift 2 ;;
    --dry-run) DRY=1; shift ;;
    --agents) AGENTS_ARG="$2"; shift 2 ;;
    --release) RELEASE="$2"; shift 2 ;;
    --fql) FQL="$2"; shift 2 ;;
    -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
    *) echo "paper_scale.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
OUTDIR=${OUTDIR:-${OUT:-benchmarks/gpu/paper-scale-local}}
mkdir -p "$OUTDIR"; OUTDIR=$(cd "$OUTDIR" && pwd)
W=${FIDEC_GPU_WORK:-/tmp/fidec-paper-scale}; rm -rf "$W"; mkdir -p "$W"
LOG="$OUTDIR/run.log"; : > "$LOG"
STAGES="$OUTDIR/stages.jsonl"; : > "$STAGES"
START=$(date +%s)
el() { echo $(( $(date +%s) - START )); }
left() { echo $(( BUDGET - $(el) )); }
say() { echo "== [$(el)s] $*" | tee -a "$LOG" >&2; }
stage() {  # stage NAME STATUS [NOTE]: one line of stages.jsonl
  printf '{"stage": "%s", "status": "%s", "at_s": %s, "note": "%s"}\n' "$1" "$2" "$(el)" "${3:-}" >> "$STAGES"
}
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false FIDEC_JAX_CACHE=off

# ------------------------------------------------------------------ environment
if [ "$DRY" = 1 ]; then
  PY=${FIDEC_PY:-$ROOT/.venv/bin/python}
  export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
else
  PY=python3
  if ls .whl/*.whl >/dev/null 2>&1; then
    say "installing the carried wheels (.whl/)"
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
      >>"$LOG" 2>&1 || say "wheel install failed (see run.log)"
  fi
  export PYTHONPATH="/tmp/site:$ROOT"
fi
[ -x "$(command -v "$PY")" ] || { say "STOPPED: no Python at $PY"; stage setup failed "no python"; exit 1; }
F=("$PY" -m fidec.cli)
H=("$PY" "$ROOT/benchmarks/gpu/paper_scale.py")
"$PY" - >"$OUTDIR/device.json" 2>>"$LOG" <<'PYEOF' || { say "STOPPED: JAX does not start"; stage setup failed "jax"; exit 1; }
import json, os, platform, subprocess
import jax
try:
    smi = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                         capture_output=True, text=True, timeout=30).stdout.strip()
except (OSError, subprocess.SubprocessError):
    smi = None
print(json.dumps({"backend": jax.default_backend(), "device_kind": jax.devices()[0].device_kind,
                  "jax": jax.__version__, "nvidia_smi": smi, "python": platform.python_version(),
                  "cpus": os.cpu_count()}, indent=1))
PYEOF
say "device: $(tr -d '\n' < "$OUTDIR/device.json")"
if [ "$DRY" = 0 ] && ! grep -q '"backend": "gpu"' "$OUTDIR/device.json"; then
  say "STOPPED: JAX sees no GPU"; stage setup failed "no gpu"; exit 1
fi
git -C "$ROOT" rev-parse HEAD > "$OUTDIR/commit.txt" 2>/dev/null || echo unknown > "$OUTDIR/commit.txt"

# ------------------------------------------------------------------ sizes
NCPU=$(nproc)
if [ "$DRY" = 1 ]; then
  PRESET=tiny; SEEDS=1,2; PSEEDS=1; CHUNK=10; REPEATS=2; LOOPCH=2; PEAK=256; PAR=2; COMPILE_LIMIT=400
  PEAK_LIMIT=300; RELEASE_CAP=600  # a shared 2-core CPU compiles slowly
  AGENTS=${AGENTS_ARG:-fd,bc}
  SPEED=(--preset tiny --chunk 5 --repeats 1)
  EVAL=(--preset tiny --seeds 2 --episodes 2 --envs 4 --workers 1)
  ANT_GEN=(--episodes 2 --workers 1); ANT_TRAIN=(--preset tiny --eval-episodes 2 --eval-envs 4 --eval-workers 1)
  ANT_CHUNK=10; ANT_MIN_S=20; ANT_EVAL_S=60; ANT_COMPILE_S=60; ANT_MAX_STEPS=40
  CPU_GEN=""; CPU_COMPILE=""
else
  PRESET=paper; SEEDS=1,4,8,16; PSEEDS=16; CHUNK=100; REPEATS=3; LOOPCH=3; PEAK=8192; PAR=6; COMPILE_LIMIT=150
  PEAK_LIMIT=60; RELEASE_CAP=150
  AGENTS=${AGENTS_ARG:-fd,deflow,fql,bc}
  SPEED=(--preset paper --chunk 100 --repeats 3)
  EVAL=(--preset paper --seeds 4 --episodes 50 --envs 50 --workers 8)
  ANT_GEN=(--episodes 1000 --workers 4); ANT_TRAIN=(--preset paper --eval-episodes 50 --eval-envs 200 --eval-workers 4)
  ANT_CHUNK=1000; ANT_MIN_S=60; ANT_EVAL_S=60; ANT_COMPILE_S=45; ANT_MAX_STEPS=1000000
  # the dataset's workers on the last 4 cores, the compiles on the others (one thread per generation worker)
  if [ "$NCPU" -ge 12 ]; then CPU_GEN="taskset -c $((NCPU-4))-$((NCPU-1))"; CPU_COMPILE="taskset -c 0-$((NCPU-5))"; else CPU_GEN=""; CPU_COMPILE=""; fi
fi
if [ -z "$AGENTS_ARG" ]; then  # iql and rebrac when the trainer's --agent lists them
  AGENT_CHOICES=$("${F[@]}" train --help 2>/dev/null | grep -o -- "--agent {[a-z,_-]*}" | head -1)
  for extra in iql rebrac; do
    case "$AGENT_CHOICES" in *[{,]$extra[,}]*) AGENTS="$AGENTS,$extra" ;; esac
  done
fi
say "agents $AGENTS, preset $PRESET, seeds $SEEDS, precisions at seeds $PSEEDS"

# ------------------------------------------------------------------ background: the antmaze dataset
DATA="$W/data"; mkdir -p "$DATA"
ANT_DATASET=antmaze-large-navigate-v0
ANT_TASK=antmaze-large-navigate-singletask-task1-v0
say "generating $ANT_DATASET ${ANT_GEN[*]} with the committed ant expert"
( env OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 JAX_PLATFORMS=cpu $CPU_GEN \
    "${F[@]}" data generate $ANT_DATASET "${ANT_GEN[@]}" --expert benchmarks/antmaze/expert-ant-400k.npz \
    --dataset-dir "$DATA" --no-progress > "$OUTDIR/generate_antmaze.log" 2>&1
  echo $? > "$W/generate.rc" ) &
GEN=$!
stage antmaze_data started

# ------------------------------------------------------------------ 1. the plan, then compiles in the background
"${H[@]}" plan "$OUTDIR" --agents "$AGENTS" --seeds $SEEDS --precision-seeds $PSEEDS --preset $PRESET \
  --chunk $CHUNK --repeats $REPEATS --loop-chunks $LOOPCH > "$W/cases.txt" 2>>"$LOG" \
  || { say "STOPPED: plan failed (run.log)"; stage plan failed; exit 1; }
mkdir -p "$W/xla-cache" "$OUTDIR/cases"
export PAPER_SCALE_CACHE="$W/xla-cache"  # the compilation cache stays in the work folder (large), not in $OUT
say "$(wc -w < "$W/cases.txt") cases; compiling $PAR at a time (each under ${COMPILE_LIMIT}s)"
compile_one() {  # compile_one CASE: one process under its own timeout; a timeout is recorded as the case's result
  timeout "$COMPILE_LIMIT" $CPU_COMPILE "${H[@]}" compile "$OUTDIR" "$1" --concurrent $PAR >> "$W/compile.log" 2>&1
  local rc=$?
  [ -f "$OUTDIR/cases/$1.compile.json" ] || printf '{"id": "%s", "ok": false, "error": "compile exit %s (timeout 124: over %ss)"}\n' \
    "$1" "$rc" "$COMPILE_LIMIT" > "$OUTDIR/cases/$1.compile.json"
}
export -f compile_one; export OUTDIR COMPILE_LIMIT CPU_COMPILE PAR W
export H_PY="$PY" H_SCRIPT="$ROOT/benchmarks/gpu/paper_scale.py"
( tr ' ' '\n' < "$W/cases.txt" | grep . | xargs -P $PAR -I{} bash -c 'H=("$H_PY" "$H_SCRIPT"); compile_one "$@"' _ {} ) &
COMPILES=$!
stage compile started "$PAR at a time"

# ------------------------------------------------------------------ 2. matmul peak (GPU, while the compiles run on the CPU)
timeout $PEAK_LIMIT "${H[@]}" peak "$OUTDIR" --size $PEAK >> "$LOG" 2>&1 && stage peak done || stage peak failed "exit $?"

# ------------------------------------------------------------------ 3. the release on the same card
if [ -d "$RELEASE/agents" ] && [ -d "$FQL/agents" ]; then
  T=$(( $(left) - 300 )); [ $T -gt $RELEASE_CAP ] && T=$RELEASE_CAP
  if [ $T -ge 30 ]; then
    say "release vs fidec: benchmarks/parity/speed.py ${SPEED[*]} (limit ${T}s)"
    timeout $T "$PY" benchmarks/parity/speed.py --release "$RELEASE" --fql "$FQL" --agents fd,deflow,fql "${SPEED[@]}" \
      --out "$OUTDIR/release" > "$OUTDIR/release.log" 2>&1 && stage release done || stage release failed "exit $?"
  else
    stage release skipped "budget"
  fi
else
  say "release comparison skipped: no checkout at $RELEASE and $FQL (carry .ref/rel and .ref/fql)"
  stage release skipped "no release checkout"
fi

# ------------------------------------------------------------------ 4. timing the cases, agent by agent as they compile
for A in ${AGENTS//,/ }; do
  mine=$(tr ' ' '\n' < "$W/cases.txt" | grep "^$A-s")
  [ -z "$mine" ] && continue
  while true; do  # until this agent's compiles have all ended (or the budget says stop)
    done_all=1
    for c in $mine; do [ -f "$OUTDIR/cases/$c.compile.json" ] || done_all=0; done
    [ $done_all = 1 ] && break
    [ "$(left)" -lt 200 ] && break
    sleep 2
  done
  ok=""
  for c in $mine; do grep -q '"ok": true' "$OUTDIR/cases/$c.compile.json" 2>/dev/null && ok="$ok $c"; done
  for c in $mine; do  # a case that did not compile: recorded, not timed
    case " $ok " in *" $c "*) ;; *) [ -f "$OUTDIR/cases/$c.json" ] || printf '{"id": "%s", "ok": false, "error": "not timed: it did not compile (see %s.compile.json)"}\n' "$c" "$c" > "$OUTDIR/cases/$c.json" ;; esac
  done
  [ -z "$ok" ] && continue
  T=$(( $(left) - 200 )); [ $T -gt 240 ] && T=240
  if [ $T -lt 10 ]; then
    for c in $ok; do printf '{"id": "%s", "ok": false, "error": "not timed: budget spent"}\n' "$c" > "$OUTDIR/cases/$c.json"; done
    stage "measure_$A" skipped budget; continue
  fi
  say "timing $A:$ok (limit ${T}s)"
  timeout $(( T + 30 )) "${H[@]}" measure "$OUTDIR" $ok --limit-s $T >> "$LOG" 2>&1
  rc=$?; stage "measure_$A" "$([ $rc = 0 ] && echo done || echo failed)" "exit $rc"
done
wait $COMPILES 2>/dev/null; stage compile ended

# ------------------------------------------------------------------ 5. evaluation seconds
for TASK in cube-single-play-singletask-task2-v0 $ANT_TASK; do
  T=$(( $(left) - 150 )); [ $T -gt 120 ] && T=120
  if [ $T -lt 20 ]; then stage "eval_$TASK" skipped budget; continue; fi
  say "evaluation seconds on $TASK ${EVAL[*]} (limit ${T}s)"
  timeout $T "${H[@]}" evaltime "$OUTDIR" $TASK "${EVAL[@]}" >> "$LOG" 2>&1 \
    && stage "eval_$TASK" done || stage "eval_$TASK" failed "exit $?"
done

# ------------------------------------------------------------------ 6. antmaze-large at the paper preset, FD, DeFlow, FQL
T_GEN=$(( $(left) - ANT_MIN_S - ANT_EVAL_S - ANT_COMPILE_S - 20 ))
while kill -0 $GEN 2>/dev/null && [ "$T_GEN" -gt 0 ]; do sleep 3; T_GEN=$(( $(left) - ANT_MIN_S - ANT_EVAL_S - ANT_COMPILE_S - 20 )); done
if kill -0 $GEN 2>/dev/null; then
  kill $GEN 2>/dev/null; stage antmaze_data unfinished "generation still running when the budget left no training time"
elif [ "$(cat "$W/generate.rc" 2>/dev/null)" != 0 ]; then
  stage antmaze_data failed "see generate_antmaze.log"
else
  stage antmaze_data done
  cp "$DATA"/*.json "$OUTDIR/" 2>/dev/null  # the dataset's sidecars (request, expert, checksums)
  TRAIN_S=$(( $(left) - ANT_EVAL_S - ANT_COMPILE_S - 15 ))
  if [ $TRAIN_S -lt $ANT_MIN_S ]; then
    stage antmaze_train skipped "budget: ${TRAIN_S}s of training left"
  else
    PIDS=""
    for A in fd deflow fql; do
      STEPS=$("${H[@]}" steps "$OUTDIR" $A --seeds 4 --seconds $TRAIN_S --share 3 --chunk $ANT_CHUNK 2>>"$LOG")
      [ "${STEPS:-0}" -gt $ANT_MAX_STEPS ] && STEPS=$ANT_MAX_STEPS
      say "antmaze $A: $STEPS updates x 4 seeds (${TRAIN_S}s of training at the measured rate, 3 runs sharing the card)"
      timeout $(( $(left) - 10 )) "${F[@]}" train --agent $A --env $ANT_TASK --dataset-dir "$DATA" --num-seeds 4 \
        "${ANT_TRAIN[@]}" --steps $STEPS --chunk-size $ANT_CHUNK --log-every $ANT_CHUNK --eval-every $STEPS \
        --checkpoint-every $STEPS --run-dir "$W/antmaze-$A" --no-progress > "$OUTDIR/antmaze_$A.log" 2>&1 &
      PIDS="$PIDS $!"
    done
    for p in $PIDS; do wait $p; done
    for A in fd deflow fql; do
      mkdir -p "$OUTDIR/antmaze-$A"
      cp "$W/antmaze-$A"/{config.json,metrics.jsonl,summary.json} "$OUTDIR/antmaze-$A/" 2>/dev/null
    done
    stage antmaze_train ended
  fi
fi

# ------------------------------------------------------------------ results
"$PY" "$ROOT/benchmarks/gpu/summarize_paper_scale.py" "$OUTDIR" --seconds "$(el)" $([ "$DRY" = 1 ] && echo --dry-run) \
  >> "$LOG" 2>&1 || say "summarize_paper_scale.py failed (see run.log)"
cp "$W/compile.log" "$OUTDIR/" 2>/dev/null
say "done ($(el)s): $OUTDIR/results.md"
