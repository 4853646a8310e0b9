#!/usr/bin/env bash
# Install what the tests and the docs need into .venv, then lint, build the documentation site and run the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test,docs
.venv/bin/ruff check .  # the package, tests, benchmarks, examples and scripts
# the floors of .importlinter (docs/architecture.md): each module imports only from its floor or below
.venv/bin/lint-imports --no-cache --no-logo
# the docs site (mkdocs.yml, docs/, API reference from docstrings); --strict: any warning fails; site/ is ignored
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --quiet --site-dir site
# two workers (pytest-xdist): the suite is many small JAX compilations and MuJoCo rollouts; pass -n 0 for one process
.venv/bin/python -m pytest -n 2 "$@"
