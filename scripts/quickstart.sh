#!/usr/bin/env bash
# The main job on a built-in default, from a fresh machine: install fidec into .venv, create the small
# dataset it needs (OGBench's oracles, offline) if absent, and train Fisher Decorator on it.
# Extra arguments go to `fidec quickstart` (e.g. --with-bc to train flow BC on the same data and budget).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/fidec quickstart "$@"
