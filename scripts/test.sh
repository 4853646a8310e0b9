#!/usr/bin/env bash
# Install what the tests need into .venv, then lint and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
.venv/bin/ruff check fidec tests
.venv/bin/python -m pytest "$@"
