#!/usr/bin/env bash
# Create .venv (if absent) and install fidec with the given extras, e.g. `scripts/setup.sh test`.
# Idempotent: re-running only installs what changed. Used by scripts/quickstart.sh and scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="${1:-}"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
SPEC="."
[ -n "$EXTRAS" ] && SPEC=".[${EXTRAS}]"
.venv/bin/python -m pip install -q -e "$SPEC"

# Pixel tasks (visual-*) render with MuJoCo's offscreen EGL backend (fidec/rendering.py); on a machine without a
# GPU driver Mesa's software renderer provides it. Install it where it is missing and we may (root with apt-get);
# otherwise say what to install. FIDEC_SKIP_GL=1 skips this step.
if [ "${FIDEC_SKIP_GL:-0}" != "1" ] && ! ldconfig -p 2>/dev/null | grep -q 'libEGL\.so\.1'; then
  GL_PKGS="libegl1 libegl-mesa0 libgl1-mesa-dri libgles2"
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $GL_PKGS >/dev/null; } ||
      echo "note: apt-get could not install $GL_PKGS; pixel tasks (visual-*) will say what is missing" >&2
  else
    echo "note: pixel tasks (visual-*) need libEGL for MuJoCo's offscreen renderer: apt-get install $GL_PKGS" >&2
  fi
fi
