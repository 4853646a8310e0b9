#!/usr/bin/env bash
# benchmarks/ray-cluster (README.md): the sweep of benchmarks/ray-cluster/suite.toml on a two-node Ray cluster whose
# worker node is killed mid-run, against the same suite run locally with --workers 1, then compared run by run.
# Both nodes run on this machine (loopback), one CPU each. Usage: benchmarks/ray-cluster/run.sh [WORK_DIR]
# (default /tmp/fidec-ray-cluster; removed first). Stops every Ray process of this machine at the end.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
W=${1:-/tmp/fidec-ray-cluster}
PY=${PY:-$root/.venv/bin/python}
RAY=${RAY:-$(dirname "$PY")/ray}
HEAD_PORT=${HEAD_PORT:-6390}
WORKER_NM_PORT=${WORKER_NM_PORT:-6395}   # the worker node's raylet port: how its processes are found
export PYTHONPATH=$root${PYTHONPATH:+:$PYTHONPATH}   # the driver and every Ray worker import this checkout
export RAY_DISABLE_USAGE_STATS=1
# Ray's token authentication off: both nodes listen on this machine only (a real cluster keeps it on and gives every
# node and the driver the cluster's token)
export RAY_AUTH_MODE=disabled
fidec() { "$PY" -m fidec.cli "$@"; }
stamp() { echo "== $(date -u +%FT%TZ) $*"; uptime; }
logs=$here/logs
rm -rf "$W" "$logs" && mkdir -p "$W" "$logs"
trap '"$RAY" stop --force >/dev/null 2>&1 || true' EXIT

{
  stamp "commit $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- fidec || echo ' (+ changes)')"
  fidec data generate pointmaze-medium-navigate-v0 --episodes 20 --dataset-dir "$W/data" --no-progress
  stamp "local sweep, --workers 1"
  /usr/bin/time -f "wall %e s" "$PY" -m fidec.cli sweep "$here/suite.toml" --out "$W/local" --dataset-dir "$W/data" \
    --workers 1 2>&1
} 2>&1 | tee "$logs/local.log"

{
  stamp "starting the cluster: head node and worker node, one CPU each"
  "$RAY" start --head --port="$HEAD_PORT" --num-cpus=1 --temp-dir="$W/ray-head" --include-dashboard=false \
    --object-store-memory=100000000
  "$RAY" start --address="127.0.0.1:$HEAD_PORT" --num-cpus=1 --temp-dir="$W/ray-worker" \
    --node-manager-port="$WORKER_NM_PORT" --object-store-memory=100000000
  "$RAY" status --address="127.0.0.1:$HEAD_PORT"
} 2>&1 | tee "$logs/cluster.log"
raylet=$(pgrep -f "raylet.*--node_manager_port=$WORKER_NM_PORT" | head -1)
echo "worker node's raylet: pid $raylet" | tee -a "$logs/cluster.log"

stamp "ray sweep" > "$logs/ray.log"
/usr/bin/time -f "wall %e s" "$PY" -m fidec.cli sweep "$here/suite.toml" --out "$W/ray" --dataset-dir "$W/data" \
  --ray-address "127.0.0.1:$HEAD_PORT" >> "$logs/ray.log" 2>&1 &
sweep=$!

# the kill: as soon as a run trained by a worker of the worker node (the pid in its run folder's lock file) has
# written a checkpoint, the worker node's raylet and its workers are SIGKILLed (the node is gone)
victim=""
while [[ -z $victim ]] && kill -0 $sweep 2>/dev/null; do
  for lock in "$W"/ray/*/*/*/*/.fidec.lock; do
    [[ -f $lock && -f $(dirname "$lock")/checkpoint.msgpack ]] || continue
    pid=$(cat "$lock" 2>/dev/null || true)
    [[ -n $pid && $(ps -o ppid= -p "$pid" 2>/dev/null | tr -d ' ') == "$raylet" ]] && victim=$(dirname "$lock") && break
  done
  sleep 0.1
done
{
  if [[ -n $victim ]]; then
    step=$("$PY" -c "import sys; from fidec.checkpoint import read_meta; print(read_meta(sys.argv[1])['step'])" "$victim")
    stamp "killing the worker node (raylet pid $raylet and its workers) while it trains ${victim#"$W"/ray/} (checkpoint at step $step)"
    children=$(pgrep -P "$raylet" | tr '\n' ' ')
    kill -9 "$raylet" $children
    sleep 20
    "$RAY" status --address="127.0.0.1:$HEAD_PORT" || true
  else
    echo "the sweep ended before a run on the worker node wrote a checkpoint: nothing was killed"
  fi
} 2>&1 | tee -a "$logs/cluster.log"
wait $sweep && rc=0 || rc=$?
echo "fidec sweep exit code: $rc" | tee -a "$logs/ray.log"
"$RAY" stop --force > /dev/null 2>&1

for name in local ray; do  # each run's own log: which process trained it, and from which step
  (cd "$W/$name" && for f in */*/*/*/sweep.log; do echo "== $f"; cat "$f"; done) > "$logs/${name}_runs.log"
  cp "$W/$name/sweep_status.json" "$logs/${name}_sweep_status.json"
done
"$PY" "$here/compare.py" "$W/local" "$W/ray" "$here/comparison"
