# Sourced by the benchmarks' run.sh scripts.
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
