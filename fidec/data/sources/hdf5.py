"""A D4RL-format HDF5 file (D4RL's own ``antmaze-large-diverse-v2.hdf5``, ``pen-cloned-v1.hdf5``, or any file
with its keys), read as the authors' release reads D4RL: ``--dataset antmaze-large-diverse-v2.hdf5 --env-id ID``.

Keys (N rows, one per step, in episode order): ``observations`` (N, obs_dim), ``actions`` (N, act_dim),
``rewards`` (N,), ``terminals`` (N,) and ``timeouts`` (N,); other keys (``infos/*``, ``metadata/*``) are not
read, so a goal stored in ``infos/goal`` is not part of the observation. The transitions are
``d4rl.qlearning_dataset``'s with the release's processing (:func:`fidec.data.sources.conventions.d4rl_transitions`):
timeout rows and the file's last row dropped, masks ``1 - terminals``, antmaze rewards - 1 for files whose name
says antmaze, actions clipped to [-1 + 1e-5, 1 - 1e-5]. The agent is evaluated in ``--env-id`` (D4RL's own
environments need ``d4rl`` and mujoco-py; gymnasium-robotics' remakes take its place, a Dict observation losing
its ``desired_goal`` as in :mod:`fidec.data.sources.minari`'s d4rl view).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fidec.data.sources import checks
from fidec.data.sources.conventions import conventions_for_family, d4rl_observation_keys, d4rl_transitions
from fidec.data.sources.task import Task, file_task
from fidec.errors import ConfigError, DatasetError
from fidec.tasknames import HDF5_PREFIX as PREFIX
from fidec.tasknames import d4rl_dataset, hdf5_path

REQUIRED = ("observations", "actions", "rewards", "terminals", "timeouts")


def read_arrays(path: Path) -> dict:
    """The D4RL keys of ``path`` as numpy arrays, checked for presence, shape and finiteness."""
    try:
        import h5py  # optional dependency: the minari extra (minari[hdf5])
    except ImportError:
        raise ConfigError("D4RL .hdf5 files need h5py: pip install 'fidec[minari]'") from None
    if not path.exists():
        raise DatasetError(f"no dataset file {path}; give a D4RL-format .hdf5 file (docs/own-data.md)")
    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in REQUIRED if k not in f]
            if missing:
                raise DatasetError(
                    f"{path.name} lacks {', '.join(repr(k) for k in missing)}; a D4RL-format file has the keys "
                    f"{', '.join(REQUIRED)}"
                )
            arrays = {k: np.asarray(f[k][()]) for k in REQUIRED}
    except OSError as e:
        raise DatasetError(f"{path.name} is not a readable HDF5 file: {' '.join(str(e).split())}") from None
    for k in ("rewards", "terminals", "timeouts"):
        if arrays[k].ndim == 2 and arrays[k].shape[1] == 1:
            arrays[k] = arrays[k][:, 0]
    n = len(arrays["rewards"]) if arrays["rewards"].ndim else 0
    if n < 2:
        raise DatasetError(f"{path.name} has {n} rows; a D4RL file needs at least two")
    for k in REQUIRED:
        nd = 2 if k in ("observations", "actions") else 1
        if arrays[k].ndim != nd or arrays[k].shape[0] != n:
            want = "(N,)" if nd == 1 else "(N, dim)"
            raise DatasetError(f"{path.name}: '{k}' has shape {arrays[k].shape}, expected {want} with N = {n}")
    for k in ("observations", "actions", "rewards"):
        checks.check_finite(k, arrays[k], path.name)
    return arrays


def load_task(env: str, env_id: str | None = None) -> Task:
    """Load ``hdf5:PATH`` as a Task, evaluated in ``env_id``; every check first."""
    path = hdf5_path(env)
    what = path.name
    if not env_id:
        raise ConfigError(f"{what}: name the Gymnasium environment to evaluate in with --env-id")
    arrays = read_arrays(path)
    rule, keys = checks.probe_env(
        env_id, arrays["observations"].shape[-1], arrays["actions"].shape[-1], what, d4rl_observation_keys
    )
    arrays["actions"] = rule.to_unit(arrays["actions"], f"{what} with environment {env_id!r}")
    d4rl = d4rl_dataset(env)
    conv = conventions_for_family(d4rl[0] if d4rl else None)
    data = d4rl_transitions(arrays, conv)
    info = {
        "eval_env": env_id,
        "conventions": conv.to_dict(),
        "data_convention": "d4rl",
        "observation_keys": keys,
        "actions": rule.describe(),
        "rows": int(len(arrays["rewards"])),
        "transitions": int(len(data["observations"])),
    }
    return file_task("hdf5", PREFIX, path, data, checks.env_factory(env_id, rule, keys), info)
