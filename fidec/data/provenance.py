"""A dataset file's provenance: its sidecar (``{file}.json``, written by ``fidec data generate``: the request
that made it, the expert, package versions) and the command that makes a missing dataset file, as every
"missing file" message names it."""

from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from fidec.data.catalog import CATALOG, DatasetSpec
from fidec.data.expert import Expert
from fidec.io import read_json, sha256_file
from fidec.paths import dataset_files

PROVENANCE_FORMAT = "fidec-dataset/1"
#: the folder (in a dataset directory) where a generation keeps its finished chunks until both files are made
STAGING = ".fidec-staging"
#: OGBench's visual environments render 64x64 frames (ogbench/manipspace/__init__.py, ``visual_dict``).
NATIVE_IMAGE_SIZE = 64


def sidecar_path(npz_path: str | os.PathLike) -> Path:
    """The provenance sidecar of a dataset file: ``cube-single-play-v0.npz`` -> ``...npz.json``."""
    return Path(f"{npz_path}.json")


def missing_remedy(name: str, directory: str | os.PathLike) -> str:
    """The command that makes a missing file of dataset ``name`` in ``directory``, as a clause.

    When the other split of the pair is there with a generation record, or an unfinished generation left its
    request in the staging folder, the command repeats its episode count and seed: 'fidec data generate' then
    keeps what is made and makes only the rest (a plain command would ask for OGBench's recipe count, discard the
    finished chunks and refuse to touch an existing file)."""
    spec = CATALOG.get(name)
    where = f" --dataset-dir {directory}"
    if spec is not None and not spec.generatable:
        return f"get it with 'fidec data download {name}{where}' ({spec.reason} for local generation)"
    train, val = dataset_files(name, directory)
    records = [read_json(sidecar_path(p)) for p in (train, val) if p.exists()]
    records.append(read_json(Path(directory) / STAGING / name / "manifest.json"))
    record = next((r for r in records if r), None)
    if record is not None and isinstance(record.get("episodes"), dict):
        eps, seed = record["episodes"].get("train"), record.get("seed", 0)
        return f"create it with 'fidec data generate {name} --episodes {eps} --seed {seed}{where}'"
    if train.exists() or val.exists():
        return (
            f"the other file of the pair has no generation record (a download?): get both with 'fidec data download "
            f"{name}{where}' or make both with 'fidec data generate {name} --force{where}'"
        )
    return f"create it with 'fidec data generate {name}{where}'"


def generation_request(path: str | os.PathLike) -> dict | None:
    """What made a generated dataset file, from its sidecar: the flags that repeat it (episodes, seed, image size,
    episode length); None for a file without a generation record (an official download)."""
    record = read_json(sidecar_path(path))
    if not record or not isinstance(record.get("episodes"), dict):
        return None
    out = {"episodes": record["episodes"].get("train"), "seed": record.get("seed", 0)}
    if (record.get("pixels") or {}).get("image_size"):
        out["image_size"] = int(record["pixels"]["image_size"])
    if record.get("episode_length") is not None:
        out["episode_length"] = int(record["episode_length"])
    return out


def generate_command(name: str, directory: str | os.PathLike, request: dict | None = None, **changes) -> str:
    """The ``fidec data generate`` command that makes dataset ``name`` again in ``directory``, replacing what is
    there: ``request`` (:func:`generation_request`'s form) repeated, with ``changes`` (e.g. ``image_size=16``)."""
    req = {**(request or {}), **{k: v for k, v in changes.items() if v is not None}}
    spec = CATALOG.get(name)
    flags = ""
    if req.get("episodes") is not None:
        flags += f" --episodes {req['episodes']} --seed {req.get('seed', 0)}"
    if req.get("image_size"):
        flags += f" --image-size {req['image_size']}"
    if req.get("episode_length") and (spec is None or req["episode_length"] != spec.episode_length):
        flags += f" --episode-length {req['episode_length']}"
    return f"fidec data generate {name}{flags} --force --dataset-dir {directory}"


def package_versions() -> dict:
    """The versions of the packages a generated file depends on."""
    out = {"python": platform.python_version()}
    for pkg in ("fidec", "ogbench", "mujoco", "numpy", "gymnasium", "scipy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def expert_record(path: Path | None) -> dict | None:
    """What the provenance records of the expert: its checksum and training step (not its path)."""
    if path is None:
        return None
    meta = Expert.load(path).meta
    return {"sha256": sha256_file(path), "step": meta.get("step"), "finished": meta.get("finished")}


def request_record(
    spec: DatasetSpec,
    seed: int,
    episodes: dict,
    chunk_episodes: int,
    expert: dict | None = None,
    image_size: int | None = None,
    episode_length: int | None = None,
) -> dict:
    """What a generation run is asked to make: every setting its files depend on (a sidecar records it)."""
    request = {
        "dataset": spec.name,
        "env_id": spec.env_id,
        "dataset_type": spec.dataset_type,
        "episode_length": int(episode_length or spec.episode_length),
        "recipe": dict(spec.recipe),
        "seed": int(seed),
        "episodes": dict(episodes),
        "chunk_episodes": int(chunk_episodes),
        "format": PROVENANCE_FORMAT,
    }
    if expert is not None:
        request["expert"] = expert
    if spec.pixels:  # what the frames are: OGBench's visual environments render the front_pixels camera
        request["pixels"] = {"camera": "front_pixels", "image_size": int(image_size or NATIVE_IMAGE_SIZE)}
    return request


def sidecar_matches(sidecar: dict | None, request: dict, npz: Path) -> bool:
    """Whether ``npz`` is the file ``request`` would make: its sidecar records the same request and size."""
    if not sidecar or not npz.exists():
        return False
    if any(sidecar.get(k) != v for k, v in request.items()):
        return False
    return sidecar.get("size") == npz.stat().st_size
