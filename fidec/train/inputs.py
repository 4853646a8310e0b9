"""What a run is made from, recorded in its config.json when it begins and checked before any work when it is
resumed or evaluated: the observation shape its networks take (a pixel run's frame shape and frame stack) and a
fingerprint of its data (:mod:`fidec.data.fingerprint`).

- The observation shape never changes under a run: its networks' first layers are built for it. A run whose data
  or environment now gives another shape is refused in one line naming the ``fidec data generate`` command that
  makes the data again at the recorded size; a pixel run's frame shape is read from the files' headers, before
  the frames are loaded.
- Changed data is refused on resume unless ``--accept-changed-data`` is given. Then the change is appended to
  config.json's ``accepted_data_changes`` (both fingerprints, the dataset record the run had, the step from which
  the new data is used) and the new fingerprint is the one later resumes compare against.
- Evaluation trains on nothing: it checks the observation shape, not the fingerprint.
- A run folder written without these records resumes, and records them then (``from_step`` says when).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from fidec.config import Config
from fidec.data import fingerprint
from fidec.data.catalog import dataset_name_for_env
from fidec.data.provenance import generate_command, generation_request
from fidec.data.sources import Task, source_of
from fidec.data.verify import check_split_frames, format_shape, split_frame_shapes
from fidec.errors import FidecError
from fidec.paths import dataset_files

ACCEPT_FLAG = "--accept-changed-data"


def _visual(config: Config) -> bool:
    return source_of(config.env) == "ogbench" and config.env.startswith("visual-")


def observation_shape(task: Task, config: Config) -> list[int]:
    """The observation the agent's networks take: stacked frames (H, W, C x frame stack), or (obs_dim,)."""
    return list(task.train.obs_shape(config.frame_stack)) if task.pixels else [task.obs_dim]


def observation_record(task: Task, config: Config) -> dict:
    if task.pixels:
        shape = {"frame_shape": list(task.train.frame_shape), "frame_stack": config.frame_stack}
        return {"kind": "pixels", **shape, "shape": observation_shape(task, config)}
    return {"kind": "state", "shape": observation_shape(task, config)}


def new_record(task: Task, config: Config) -> dict:
    """The inputs of a run that begins now (config.json's ``observation`` and ``data_fingerprint``)."""
    return {"observation": observation_record(task, config), "data_fingerprint": fingerprint.take(task)}


def at_step(record: dict, step: int) -> dict:
    """``record`` with ``from_step`` set where it is not yet: the step from which its data is used."""
    record["data_fingerprint"].setdefault("from_step", step)
    for change in record.get("accepted_data_changes", []):
        change.setdefault("from_step", step)
    return record


def recorded_frame_shape(saved: dict) -> list[int] | None:
    """The frame shape a pixel run was trained on, from its config.json (older runs: the dataset record's)."""
    shape = (saved.get("observation") or {}).get("frame_shape")
    return list(shape) if shape else ((saved.get("dataset") or {}).get("pixels") or {}).get("frame_shape")


# ------------------------------------------------------------------------------------------ new runs
def check_new(config: Config) -> None:
    """A new pixel run's data has one frame size in both splits: read from the files' headers before the run
    folder is made (absent files are left to the loader's message)."""
    if _visual(config):
        check_split_frames(dataset_name_for_env(config.env), config.dataset_dir)


# ------------------------------------------------------------------------------------------ resumed runs
def _frame_error(run_dir: Path, saved: dict, config: Config, split: str, got, want) -> FidecError:
    name = dataset_name_for_env(config.env)
    path = dataset_files(name, config.dataset_dir)[0 if split == "train" else 1]
    recorded = ((saved.get("data_fingerprint") or {}).get("files") or {}).get(split) or {}
    request = recorded.get("generated") or generation_request(path)
    fix = generate_command(name, path.parent, request, image_size=int(want[0]))
    return FidecError(
        f"{path.name} has {format_shape(got)} frames but {run_dir} was trained on {format_shape(want)} frames "
        f"(recorded in its config.json); make the dataset again at the recorded size with '{fix}', or start a new "
        "run on this data (another --run-dir)"
    )


def check_frames_before_loading(run_dir: Path, saved: dict, config: Config) -> None:
    """A pixel run's dataset files have the recorded frame shape: read from their headers, before the frames are
    loaded (a dataset made again at another size is refused in one line, not after a long load)."""
    want = recorded_frame_shape(saved)
    if not want or not _visual(config):
        return
    for split, got in split_frame_shapes(dataset_name_for_env(config.env), config.dataset_dir).items():
        if list(got) != list(want):
            raise _frame_error(run_dir, saved, config, split, got, want)


def check_resume(
    run_dir: Path, saved: dict, task: Task, config: Config, accept: bool = False, read_only: bool = False
) -> dict | None:
    """Check ``task`` against the inputs ``saved`` (a run folder's config.json) records, before any work.

    A different observation shape is always refused; changed data is refused unless ``accept`` (training only:
    ``read_only`` checks the shape alone). Returns the inputs to record in config.json (None when ``read_only``).
    """
    want = recorded_frame_shape(saved)
    if task.pixels and want and list(task.train.frame_shape) != list(want):
        raise _frame_error(run_dir, saved, config, "train", task.train.frame_shape, want)
    shape = (saved.get("observation") or {}).get("shape")
    if shape and list(shape) != observation_shape(task, config):
        raise FidecError(
            f"{config.env} now gives observations of shape {tuple(observation_shape(task, config))} but the "
            f"networks of {run_dir} take {tuple(shape)} (recorded in its config.json); restore the data the run "
            "began with, or start a new run on this data (another --run-dir)"
        )
    if read_only:
        return None
    old = saved.get("data_fingerprint")
    first = old is None  # a run folder written without a fingerprint: compare what its dataset record has
    if first:
        old = fingerprint.legacy(saved.get("dataset") or {})
    new = fingerprint.take(task, previous=None if first else old)
    changes = fingerprint.differences(old, new)
    accepted = list(saved.get("accepted_data_changes") or [])
    record = {"observation": saved.get("observation") or observation_record(task, config)}
    if not changes:
        record["data_fingerprint"] = new  # the same data; its stat keys as they are now
        if "from_step" in old:
            new["from_step"] = old["from_step"]
    elif not accept:
        since = "the run began" if not old.get("from_step") else f"step {old['from_step']}"
        raise FidecError(
            f"the data of {run_dir} changed since {since}: {'; '.join(changes)}; restore the data it trained on, "
            f"start a new run on the new data (another --run-dir), or continue this run on it with "
            f"'fidec train --resume {run_dir} {ACCEPT_FLAG}'"
        )
    else:
        accepted.append(
            {
                "accepted_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "changes": changes,
                "old": old,
                "new": new,
                "old_dataset": saved.get("dataset"),
            }
        )
        record["data_fingerprint"] = dict(new)
        print(
            f"{run_dir}: continuing on changed data ({'; '.join(changes)}); recorded in its config.json "
            "(accepted_data_changes)",
            file=sys.stderr,
        )
    if accepted:
        record["accepted_data_changes"] = accepted
    return record
