"""MuJoCo's offscreen renderer for pixel tasks (OGBench's visual-* environments render their observations).

MuJoCo picks its GL backend from ``MUJOCO_GL`` when it is first imported, and cannot switch afterwards. Pixel tasks
need an offscreen one: ``egl`` (a GPU's driver, or Mesa's software llvmpipe on a CPU machine: Debian packages
``libegl1 libegl-mesa0 libgl1-mesa-dri``, which ``scripts/setup.sh`` installs) or ``osmesa`` (``libosmesa6``).
fidec sets ``MUJOCO_GL=egl`` for commands that name a visual task when the variable is unset and libEGL is
installed, before anything imports MuJoCo; worker processes inherit it.
"""

from __future__ import annotations

import ctypes.util
import json
import os
import sys
from pathlib import Path

from fidec.errors import FidecError


def egl_installed() -> bool:
    """Whether the system has libEGL (the library MuJoCo's ``egl`` backend loads)."""
    return ctypes.util.find_library("EGL") is not None


def default_offscreen_gl() -> str | None:
    """Set ``MUJOCO_GL=egl`` where it is unset, MuJoCo is not yet imported and libEGL is installed; returns the
    backend in effect (None: none set)."""
    if "MUJOCO_GL" not in os.environ and "mujoco" not in sys.modules and egl_installed():
        os.environ["MUJOCO_GL"] = "egl"
    return os.environ.get("MUJOCO_GL")


def require_offscreen_gl(what: str) -> str:
    """The offscreen backend for rendering ``what``, or a one-line FidecError saying how to get one."""
    backend = default_offscreen_gl()
    if backend:
        return backend
    if "mujoco" in sys.modules and egl_installed():
        raise FidecError(
            f"{what} renders pixels, but MuJoCo was imported without an offscreen backend: set MUJOCO_GL=egl before "
            "starting Python"
        )
    raise FidecError(
        f"{what} renders pixels and needs MuJoCo's offscreen renderer: install libEGL (Debian: apt-get install "
        "libegl1 libegl-mesa0 libgl1-mesa-dri; scripts/setup.sh does it) and set MUJOCO_GL=egl, or MUJOCO_GL=osmesa "
        "with libosmesa6"
    )


def align_pyopengl_platform() -> None:
    """MuJoCo sets ``PYOPENGL_PLATFORM`` to its ``MUJOCO_GL`` backend when imported, so a child of a process that
    rendered inherits it; a later ``MUJOCO_GL`` naming another backend would then fail inside PyOpenGL. MUJOCO_GL
    decides: an inherited ``PYOPENGL_PLATFORM`` naming another offscreen backend is dropped."""
    gl, platform = os.environ.get("MUJOCO_GL", "").lower(), os.environ.get("PYOPENGL_PLATFORM", "").lower()
    if gl in ("egl", "osmesa") and platform in ("egl", "osmesa") and platform != gl and "mujoco" not in sys.modules:
        del os.environ["PYOPENGL_PLATFORM"]


def names_pixel_task(argv: list[str]) -> bool:
    """Whether a command line names a visual-* task or dataset, directly or through a run folder's config."""
    for arg in argv:
        if "visual-" in arg:
            return True
        cfg = Path(arg) / "config.json"
        try:
            if cfg.is_file() and "visual-" in str(json.loads(cfg.read_text()).get("config", {}).get("env", "")):
                return True
        except (OSError, ValueError):
            continue
    return False
