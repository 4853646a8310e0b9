#!/usr/bin/env bash
# The wheels benchmarks/gpu/sweeps.sh carries to a GPU machine (its image has Python 3.12 with a GPU JAX,
# flax and optax, but no gymnasium, ogbench or mujoco; nothing can be downloaded there). Run where PyPI is
# reachable; writes .whl/ (git-ignored through .git/info/exclude), about 33 MB: the device runner carries at
# most 64 MiB with the working tree, so dm_control (56 MB) is repacked without its suite/ and locomotion/
# folders (OGBench imports only dm_control.mjcf, which needs neither).
# --parity: also the release's imports for benchmarks/parity/speed.py in paper_scale.sh (ml_collections, distrax,
# tfp-nightly, chex and their small dependencies; about 10 MB more), at the versions of this project's .venv.
set -euo pipefail
PARITY=0; [ "${1:-}" = "--parity" ] && PARITY=1
cd "$(dirname "$0")/../.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >> .git/info/exclude
rm -rf .whl && mkdir -p .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any -d .whl \
  ogbench==1.2.2 gymnasium==1.4.0 farama-notifications==0.0.6 mujoco==4.0.0 mujoco-core==4.0.0 glfw==2.11.0 \
  pyopengl==3.1.10 dm_control==1.0.50 dm-env==1.6 dm-tree==0.1.10 labmaze==1.0.6 \
  $([ $PARITY = 1 ] && echo ml_collections==1.1.0 distrax==0.1.9 tfp-nightly==0.26.0.dev20261027 chex==0.1.92 \
      toolz==1.2.0 cloudpickle decorator gast pyyaml)
python3 - <<'PYEOF'
import glob, os, zipfile
src = glob.glob(".whl/dm_control-*.whl")[0]
tmp = src + ".tmp"
with zipfile.ZipFile(src) as zin, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:
    for item in zin.infolist():
        if item.filename.startswith(("dm_control/suite/", "dm_control/locomotion/")):
            continue
        zout.writestr(item, zin.read(item.filename))
os.replace(tmp, src)
PYEOF
du -sh .whl
