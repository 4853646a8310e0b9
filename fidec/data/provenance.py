"""A dataset file's provenance sidecar (``{file}.json``, written by ``fidec data generate``) and the command
that makes a missing dataset file, as every "missing file" message names it."""

from __future__ import annotations

import os
from pathlib import Path

from fidec.data.catalog import CATALOG
from fidec.io import read_json
from fidec.paths import dataset_files


def sidecar_path(npz_path: str | os.PathLike) -> Path:
    """The provenance sidecar of a dataset file: ``cube-single-play-v0.npz`` -> ``...npz.json``."""
    return Path(f"{npz_path}.json")


def missing_remedy(name: str, directory: str | os.PathLike) -> str:
    """The command that makes a missing file of dataset ``name`` in ``directory``, as a clause.

    When the other split of the pair is there with a generation record, the command repeats its episode count
    and seed: 'fidec data generate' then keeps that file and makes only the missing one (a plain command would
    ask for OGBench's recipe count and refuse to touch the existing file)."""
    spec = CATALOG.get(name)
    where = f" --dataset-dir {directory}"
    if spec is not None and not spec.generatable:
        return f"get it with 'fidec data download {name}{where}' ({spec.reason} for local generation)"
    train, val = dataset_files(name, directory)
    record = next((r for r in (read_json(sidecar_path(p)) for p in (train, val) if p.exists()) if r), None)
    if record is not None and isinstance(record.get("episodes"), dict):
        eps, seed = record["episodes"].get("train"), record.get("seed", 0)
        return f"create it with 'fidec data generate {name} --episodes {eps} --seed {seed}{where}'"
    if train.exists() or val.exists():
        return (
            f"the other file of the pair has no generation record (a download?): get both with 'fidec data download "
            f"{name}{where}' or make both with 'fidec data generate {name} --force{where}'"
        )
    return f"create it with 'fidec data generate {name}{where}'"
