"""Where fidec reads and writes files: one setting for the dataset directory."""

import os
from pathlib import Path

#: OGBench's own default, so officially downloaded files and generated ones live together.
OGBENCH_DEFAULT_DATASET_DIR = "~/.ogbench/data"
DATASET_DIR_ENV = "FIDEC_DATASET_DIR"


def dataset_dir(override: str | os.PathLike | None = None) -> Path:
    """The dataset directory: ``override`` if given, else ``$FIDEC_DATASET_DIR``, else ``~/.ogbench/data``."""
    raw = override if override else os.environ.get(DATASET_DIR_ENV, OGBENCH_DEFAULT_DATASET_DIR)
    return Path(raw).expanduser()


def dataset_files(name: str, directory: str | os.PathLike | None = None) -> tuple[Path, Path]:
    """The (train, validation) ``.npz`` paths OGBench's loader reads for dataset ``name``.

    ``name`` is a dataset name such as ``cube-single-play-v0`` (not a singletask env name).
    """
    d = dataset_dir(directory)
    return d / f"{name}.npz", d / f"{name}-val.npz"
