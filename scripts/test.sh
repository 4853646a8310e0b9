#!/usr/bin/env bash
# Install what the tests need into .venv, then lint and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
.venv/bin/ruff check fidec tests
# two workers (pytest-xdist): the suite is many small JAX compilations and MuJoCo rollouts; pass -n 0 for one process
.venv/bin/python -m pytest -n 2 "$@"
