"""Where fidec reads and writes files: one setting for the dataset directory."""

import os
from pathlib import Path

from fidec.errors import DatasetError

#: OGBench's own default, so officially downloaded files and generated ones live together.
OGBENCH_DEFAULT_DATASET_DIR = "~/.ogbench/data"
DATASET_DIR_ENV = "FIDEC_DATASET_DIR"


def dataset_dir(override: str | os.PathLike | None = None) -> Path:
    """The dataset directory: ``override`` if given, else ``$FIDEC_DATASET_DIR``, else ``~/.ogbench/data``.

    A path that exists but is not a directory is a one-line ``DatasetError`` naming where it came from.
    """
    raw = override if override else os.environ.get(DATASET_DIR_ENV, OGBENCH_DEFAULT_DATASET_DIR)
    path = Path(raw).expanduser()
    if path.exists() and not path.is_dir():
        source = "--dataset-dir" if override else (f"${DATASET_DIR_ENV}" if os.environ.get(DATASET_DIR_ENV) else "")
        raise DatasetError(
            f"the dataset directory {path}{f' (from {source})' if source else ''} is a file, not a directory; "
            "point it at a directory"
        )
    return path


def dataset_files(name: str, directory: str | os.PathLike | None = None) -> tuple[Path, Path]:
    """The (train, validation) ``.npz`` paths OGBench's loader reads for dataset ``name``.

    ``name`` is a dataset name such as ``cube-single-play-v0`` (not a singletask env name).
    """
    d = dataset_dir(directory)
    return d / f"{name}.npz", d / f"{name}-val.npz"
