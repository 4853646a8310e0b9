#!/usr/bin/env bash
# Download every wheel benchmarks/gpu/run.sh installs on a GPU machine without network access:
# jax[cuda12] (same version as .venv's JAX), fidec's dependencies and the tensorboard extra, setuptools (to build
# fidec itself), for Linux x86_64 / CPython 3.11. Run on a machine with PyPI access; several GB (CUDA wheels).
#   benchmarks/gpu/make_wheelhouse.sh [DEST]        # default benchmarks/gpu/wheels (git-ignored)
set -euo pipefail
cd "$(dirname "$0")/../.."
DEST=${1:-benchmarks/gpu/wheels}
PY=${PYTHON:-python3}
JAX=$(.venv/bin/python -c "import jax; print(jax.__version__)" 2>/dev/null || true)
mapfile -t DEPS < <("$PY" - <<'PYEOF'
import tomllib
p = tomllib.load(open("pyproject.toml", "rb"))["project"]
print("\n".join(p["dependencies"] + p["optional-dependencies"]["tensorboard"]))
PYEOF
)
"$PY" -m pip download --dest "$DEST" --only-binary=:all: --python-version 3.11 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform linux_x86_64 --platform any \
  "jax[cuda12]${JAX:+==$JAX}" "setuptools>=68" wheel "${DEPS[@]}"
du -sh "$DEST"
echo "bring $DEST along to the GPU machine (same path in the checkout), then run benchmarks/gpu/run.sh"
