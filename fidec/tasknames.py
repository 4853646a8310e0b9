"""What a task's name says, read from the name alone (no file, no environment is touched).

``--env`` names a task in one of three forms, and the form picks its data source:

- ``cube-single-play-singletask-task2-v0``: an OGBench singletask task;
- ``minari:D4RL/antmaze/large-diverse-v1`` (or the bare Minari id, which has a '/'): a Minari dataset;
- ``npz:path/to/data.npz`` (or a path ending in ``.npz``): your own data;
- ``hdf5:path/to/antmaze-large-diverse-v2.hdf5`` (or a path ending in ``.hdf5``/``.h5``): a D4RL-format file.

Two different "families" are read from a name, under two names:

- :func:`ogbench_family` strips the singletask suffix of any OGBench name ('...-singletask-task2-v0' ->
  the dataset family, e.g. 'cube-single-play'); reports group runs by it;
- :func:`d4rl_dataset` reads a Minari id named like D4RL's; the presets' row for a task
  (:func:`fidec.config.presets.preset_family`) combines the two with the table of ``docs/presets.md``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from fidec.errors import ConfigError

NPZ_PREFIX = "npz:"
HDF5_PREFIX = "hdf5:"
HDF5_SUFFIXES = (".hdf5", ".h5")
MINARI_PREFIX = "minari:"
#: The environment part of a D4RL-named Minari id that marks an Adroit hand dataset.
ADROIT_ENVS = ("pen", "door", "hammer", "relocate")


def source_of(env: str) -> str:
    """'ogbench', 'minari', 'npz' or 'hdf5' for a task name (canonical or not)."""
    if env.startswith(MINARI_PREFIX):
        return "minari"
    if env.startswith(NPZ_PREFIX) or env.endswith(".npz"):
        return "npz"
    if env.startswith(HDF5_PREFIX) or env.endswith(HDF5_SUFFIXES):
        return "hdf5"
    if "/" in env:
        return "minari"
    return "ogbench"


def npz_path(env: str) -> Path:
    """The file of an ``npz:PATH`` (or bare ``PATH.npz``) task, ``~`` expanded."""
    return Path(env[len(NPZ_PREFIX) :] if env.startswith(NPZ_PREFIX) else env).expanduser()


def hdf5_path(env: str) -> Path:
    """The file of an ``hdf5:PATH`` (or bare ``PATH.hdf5``) task, ``~`` expanded."""
    return Path(env[len(HDF5_PREFIX) :] if env.startswith(HDF5_PREFIX) else env).expanduser()


def canonical_env(env: str) -> str:
    """The task name stored in a run's config: ``minari:ID``, ``npz:/absolute/path.npz`` (so that a resumed run
    finds the file from any directory) or the OGBench name."""
    src = source_of(env)
    if src == "minari":
        return env if env.startswith(MINARI_PREFIX) else MINARI_PREFIX + env
    if src == "npz":
        return NPZ_PREFIX + os.path.abspath(npz_path(env))
    if src == "hdf5":
        return HDF5_PREFIX + os.path.abspath(hdf5_path(env))
    return env


def env_from_dataset(dataset: str) -> str:
    """The task name for ``--dataset``: a ``.npz`` or D4RL ``.hdf5`` path or a Minari id (``minari:ID`` or the
    bare id)."""
    if source_of(dataset) in ("npz", "hdf5") or dataset.startswith(MINARI_PREFIX) or "/" in dataset:
        return canonical_env(dataset)
    raise ConfigError(
        f"--dataset {dataset!r} is neither a .npz file nor a Minari id (nor a D4RL .hdf5 file); give "
        "'path/to/data.npz', 'path/to/antmaze-large-diverse-v2.hdf5' or 'minari:NAMESPACE/ENV/NAME-vN' (OGBench "
        "tasks are named with --env)"
    )


def run_label(env: str) -> str:
    """A file-name-safe label for default run folders: 'minari_D4RL_antmaze_large-diverse-v1', 'npz_data'."""
    src = source_of(env)
    if src == "npz":
        stem = os.path.basename(env[len(NPZ_PREFIX) :] if env.startswith(NPZ_PREFIX) else env)
        return "npz_" + (stem[:-4] if stem.endswith(".npz") else stem)
    if src == "hdf5":
        return "hdf5_" + re.sub(r"[^A-Za-z0-9._-]+", "_", hdf5_path(env).stem)
    if src == "minari":
        return "minari_" + re.sub(r"[^A-Za-z0-9._-]+", "_", env.removeprefix(MINARI_PREFIX))
    return env


def is_visual(env: str) -> bool:
    """An OGBench pixel task (its name starts with ``visual-``)."""
    return env.startswith("visual-")


def ogbench_family(env: str) -> str:
    """'cube-single-play-singletask-task2-v0' -> 'cube-single-play' (any OGBench singletask name; other names
    come back unchanged)."""
    return re.sub(r"-singletask(-task\d+)?-v\d+$", "", env)


def task_label(env: str) -> str:
    """'cube-single-play-singletask-task2-v0' -> 'task2'; names without a task number come back unchanged."""
    m = re.search(r"-singletask-(task\d+)-v\d+$", env)
    return m.group(1) if m else env


def d4rl_dataset(env: str) -> tuple[str, str] | None:
    """(family, dataset) of a Minari task named like D4RL's: 'minari:D4RL/antmaze/large-diverse-v1' ->
    ('d4rl-antmaze', 'antmaze-large-diverse'); the environment part of the id decides (antmaze or an Adroit
    hand). A D4RL file is read by its name: 'hdf5:/data/pen-cloned-v1.hdf5' -> ('d4rl-adroit', 'pen-cloned').
    None for every other name."""
    if source_of(env) == "hdf5":
        m = re.fullmatch(r"(antmaze|" + "|".join(ADROIT_ENVS) + r")-(.+?)(?:-v\d+)?", hdf5_path(env).stem)
        if not m:
            return None
        return ("d4rl-antmaze" if m.group(1) == "antmaze" else "d4rl-adroit"), f"{m.group(1)}-{m.group(2)}"
    if source_of(env) != "minari":
        return None
    m = re.fullmatch(r"(?:minari:)?(?:[^/:]+/)?([^/:]+)/([^/:]+?)(?:-v\d+)?", env)
    if not m:
        return None
    env_part, name = m.groups()
    if env_part == "antmaze":
        return "d4rl-antmaze", f"antmaze-{name}"
    if env_part in ADROIT_ENVS:
        return "d4rl-adroit", f"{env_part}-{name}"
    return None
