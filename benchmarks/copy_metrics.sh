# Sourced by the benchmarks' run.sh scripts (from the repository root, with F=.venv/bin/fidec).

# stamp MESSAGE...: a dated line and the machine's load, before each step of a study.
stamp() { echo "== $(date -u +%FT%TZ) $*"; uptime; }

# need_dataset NAME...: generate each OGBench dataset into data/ unless it is already there.
need_dataset() {
  local d
  for d in "$@"; do
    [[ -f data/$d.npz ]] || $F data generate "$d" --dataset-dir data --workers 2
  done
}

# study_sweep NAME SUITE [ARGS...]: run (or resume) fidec sweep SUITE into sweeps/NAME on the datasets in data/,
# timed, its output appended to sweeps/NAME_sweep.log.
study_sweep() {
  local name=$1 suite=$2
  shift 2
  mkdir -p sweeps
  /usr/bin/time -v $F sweep "$suite" "$@" --dataset-dir data --out "sweeps/$name" 2>&1 | tee -a "sweeps/${name}_sweep.log"
}

# copy_metrics SWEEP DEST [GLOB...]: every run's metrics, configs and logs (*.csv, *.json, *.jsonl, *.log, *.toml and
# the extra GLOBs) from SWEEP into DEST, without checkpoints or online buffer segments; DEST is replaced.
copy_metrics() {
  local src=$1 dest extra=()
  rm -rf "$2" && mkdir -p "$2" && dest=$(cd "$2" && pwd)
  shift 2
  for g in "$@"; do extra+=(-o -name "$g"); done
  (cd "$src" && find . \( -name '*.csv' -o -name '*.json' -o -name '*.jsonl' -o -name '*.log' -o -name '*.toml' \
    "${extra[@]}" \) | grep -v checkpoint | grep -v online_buffer \
    | while read -r f; do mkdir -p "$dest/$(dirname "$f")"; cp "$f" "$dest/$f"; done)
}
