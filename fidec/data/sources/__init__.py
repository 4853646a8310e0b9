"""Where a task comes from. Every source returns the same :class:`~fidec.data.sources.task.Task`.

``--env`` names the task, and its form picks the source:

- ``cube-single-play-singletask-task2-v0``: an OGBench singletask task (:mod:`.ogbench`);
- ``minari:D4RL/antmaze/large-diverse-v1`` (or the bare Minari id, which has a '/'): a local Minari
  dataset, evaluated in the environment Minari records for it (:mod:`.minari`);
- ``npz:path/to/data.npz`` (or ``--dataset path/to/data.npz``): your own data, evaluated in ``--env-id``
  (:mod:`.npz`).

Nothing here imports OGBench, Minari or Gymnasium until a task is loaded.
"""

from __future__ import annotations

import os
import re

from fidec.data.sources.task import Task
from fidec.errors import ConfigError

__all__ = ["Task", "canonical_env", "env_from_dataset", "load_task", "run_label", "source_of"]


def source_of(env: str) -> str:
    """'ogbench', 'minari' or 'npz' for a task name (canonical or not)."""
    if env.startswith("minari:"):
        return "minari"
    if env.startswith("npz:") or env.endswith(".npz"):
        return "npz"
    if "/" in env:
        return "minari"
    return "ogbench"


def canonical_env(env: str) -> str:
    """The task name stored in a run's config: ``minari:ID``, ``npz:/absolute/path.npz`` or the OGBench name."""
    src = source_of(env)
    if src == "minari":
        return env if env.startswith("minari:") else "minari:" + env
    if src == "npz":
        from fidec.data.sources.npz import canonical

        return canonical(env)
    return env


def env_from_dataset(dataset: str) -> str:
    """The task name for ``--dataset``: a ``.npz`` path or a Minari id (``minari:ID`` or the bare id)."""
    if dataset.startswith(("minari:", "npz:")) or dataset.endswith(".npz") or "/" in dataset:
        return canonical_env(dataset)
    raise ConfigError(
        f"--dataset {dataset!r} is neither a .npz file nor a Minari id; give 'path/to/data.npz' or "
        "'minari:NAMESPACE/ENV/NAME-vN' (OGBench tasks are named with --env)"
    )


def run_label(env: str) -> str:
    """A file-name-safe label for default run folders: 'minari_D4RL_antmaze_large-diverse-v1', 'npz_data'."""
    src = source_of(env)
    if src == "npz":
        stem = os.path.basename(env[4:] if env.startswith("npz:") else env)
        return "npz_" + (stem[:-4] if stem.endswith(".npz") else stem)
    if src == "minari":
        return "minari_" + re.sub(r"[^A-Za-z0-9._-]+", "_", env.removeprefix("minari:"))
    return env


def load_task(
    env: str, dataset_dir: str | os.PathLike | None = None, verify: bool = True, env_id: str | None = None
) -> Task:
    """Load the task ``env`` from its source; every check runs before anything is written anywhere."""
    src = source_of(env)
    if src == "ogbench":
        if env_id:
            raise ConfigError(
                f"--env-id applies to Minari and .npz data; the OGBench task {env!r} makes its own environment"
            )
        from fidec.data.sources.ogbench import load_task as load

        return load(env, dataset_dir, verify=verify)
    if src == "minari":
        from fidec.data.sources.minari import load_task as load

        return load(env, env_id=env_id)
    from fidec.data.sources.npz import load_task as load

    return load(env, env_id=env_id)
