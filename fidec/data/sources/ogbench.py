"""OGBench singletask tasks, loaded with OGBench's own loader from verified files in the dataset directory."""

from __future__ import annotations

import os
import re
from functools import partial

import numpy as np

from fidec.data.sources.task import Task
from fidec.errors import ConfigError, DatasetError
from fidec.paths import dataset_dir, dataset_files

TRANSITION_KEYS = ("observations", "actions", "rewards", "masks", "next_observations")


def split_env_name(env: str) -> tuple[str, str]:
    """(gymnasium env id, dataset name) of an OGBench singletask name, as OGBench's loader splits it.

    'cube-single-play-singletask-task2-v0' -> ('cube-single-singletask-task2-v0', 'cube-single-play-v0').
    """
    parts = env.split("-")
    if "singletask" not in parts or not re.fullmatch(r"v\d+", parts[-1]):
        raise ConfigError(
            f"unknown env {env!r}: expected an OGBench singletask name such as "
            "'cube-single-play-singletask-task2-v0', 'minari:DATASET_ID' or 'npz:PATH' "
            "(see 'fidec data list' for datasets)"
        )
    from fidec.data.catalog import dataset_name_for_env

    pos = parts.index("singletask")
    return "-".join(parts[: pos - 1] + parts[pos:]), dataset_name_for_env(env)


def check_env(env: str) -> tuple[str, str]:
    """Validate ``env`` against OGBench's registry; returns (env id, dataset name)."""
    import gymnasium
    import ogbench  # noqa: F401  (registers the environments)

    env_id, dataset = split_env_name(env)
    if env_id not in gymnasium.registry:
        known = sorted(k for k in gymnasium.registry if "singletask" in k and re.search(r"task\d", k))
        families = sorted({re.sub(r"-singletask.*", "", k) for k in known})
        raise ConfigError(
            f"unknown env {env!r}: OGBench has no environment {env_id!r}; families: {', '.join(families)}"
        )
    return env_id, dataset


def load_task(env: str, directory: str | os.PathLike | None = None, verify: bool = True) -> Task:
    """Load ``env``'s dataset with ``ogbench.make_env_and_datasets`` (rewards/masks by OGBench's relabelling).

    The files must already be in the dataset directory; a missing dataset raises a one-line error naming
    the command that creates it. Each file is verified before its first use.
    """
    import ogbench

    _, dataset = check_env(env)
    d = dataset_dir(directory)
    train_path, val_path = dataset_files(dataset, d)
    for p in (train_path, val_path):
        if not p.exists():
            raise DatasetError(
                f"dataset file {p} is missing; create it with "
                f"'fidec data generate {dataset} --dataset-dir {d}' "
                f"(or 'fidec data download {dataset}' where the network allows)"
            )
    if verify:
        from fidec.data.verify import ensure_verified

        ensure_verified(train_path)
        ensure_verified(val_path)
    _, train, val = ogbench.make_env_and_datasets(env, dataset_dir=str(d), compact_dataset=False)
    keep = lambda ds: {k: np.asarray(ds[k], np.float32) for k in TRANSITION_KEYS}  # noqa: E731
    factory = partial(ogbench.make_env_and_datasets, env, env_only=True)
    return Task(env, dataset, keep(train), keep(val), str(d), env_factory=factory, source="ogbench")
