"""Where a task comes from. Every source returns the same :class:`~fidec.data.sources.task.Task`.

``--env`` names the task, and its form picks the source:

- ``cube-single-play-singletask-task2-v0``: an OGBench singletask task (:mod:`.ogbench`);
- ``minari:D4RL/antmaze/large-diverse-v1`` (or the bare Minari id, which has a '/'): a local Minari
  dataset, evaluated in the environment Minari records for it (:mod:`.minari`);
- ``npz:path/to/data.npz`` (or ``--dataset path/to/data.npz``): your own data, evaluated in ``--env-id``
  (:mod:`.npz`);
- ``hdf5:path/to/antmaze-large-diverse-v2.hdf5`` (or ``--dataset`` a ``.hdf5`` file): a D4RL-format file, read as
  the release reads D4RL, evaluated in ``--env-id`` (:mod:`.hdf5`).

Nothing here imports OGBench, Minari or Gymnasium until a task is loaded: each source module is imported by
:func:`load_task` when its task is loaded (start-up time). The names themselves are read by
:mod:`fidec.tasknames`.
"""

from __future__ import annotations

import os

from fidec.data.sources.task import Task
from fidec.errors import ConfigError
from fidec.tasknames import canonical_env, env_from_dataset, run_label, source_of

__all__ = ["Task", "canonical_env", "env_from_dataset", "load_task", "run_label", "source_of"]


def load_task(
    env: str,
    dataset_dir: str | os.PathLike | None = None,
    verify: bool = True,
    env_id: str | None = None,
    convention: str = "episodes",
    success_timing: str = "pre",
) -> Task:
    """Load the task ``env`` from its source; every check runs before anything is written anywhere.
    ``convention`` (Config.data_convention) applies to Minari data (a D4RL .hdf5 file is always read the d4rl way),
    ``success_timing`` (Config.success_timing) to OGBench tasks."""
    src = source_of(env)
    if success_timing != "pre" and src != "ogbench":
        raise ConfigError(f"--success-timing applies to OGBench singletask tasks, not {env!r}; drop it")
    if convention == "d4rl" and src in ("ogbench", "npz"):
        raise ConfigError(f"--data-convention d4rl applies to Minari and D4RL .hdf5 data, not {env!r}; drop it")
    if convention != "d4rl" and src == "hdf5":
        raise ConfigError(f"a D4RL .hdf5 file is read the d4rl way; drop --data-convention {convention}")
    if src == "ogbench":
        if env_id:
            raise ConfigError(
                f"--env-id applies to Minari and .npz data (and .hdf5 files); the OGBench task {env!r} makes its own "
                "environment"
            )
        from fidec.data.sources.ogbench import load_task as load  # deferred: start-up time (OGBench, MuJoCo)

        return load(env, dataset_dir, verify=verify, success_timing=success_timing)
    if src == "minari":
        from fidec.data.sources.minari import load_task as load  # deferred: start-up time

        return load(env, env_id=env_id, convention=convention)
    if src == "hdf5":
        from fidec.data.sources.hdf5 import load_task as load  # deferred: start-up time (h5py, Gymnasium)

        return load(env, env_id=env_id)
    from fidec.data.sources.npz import load_task as load  # deferred: start-up time

    return load(env, env_id=env_id)
