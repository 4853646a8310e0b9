"""A fingerprint of the data a run trains on, and what changed between two fingerprints.

:func:`take` records, for each file of a task's data, its path, size and sha256, plus the task's transition and
episode counts and, for pixels, the frame shape. The files: an OGBench task's train and val ``.npz``, your own
``.npz``, every file in a Minari dataset's ``data`` folder.

Hashing is paid at most once per version of a file. A generated OGBench file's hash is its generation record's
(``{file}.json``), which its current verification matched; another OGBench file's hash is kept with its
verification (:func:`fidec.data.verify.content_sha256`); an ``.npz`` of your own is hashed when it is loaded. A
fingerprint taken again with the previous one at hand (:func:`take`'s ``previous``) reuses each file's recorded
hash while the file's stat key (size, modification time, change time, device, inode) is the recorded one: the
kernel sets the change time to the current time on every write, truncation, rename-over or ``utime`` call, and no
unprivileged call sets it back (the argument of :func:`fidec.data.verify.ensure_verified`). Only a file whose key
differs is read again.
"""

from __future__ import annotations

from pathlib import Path

from fidec.data.provenance import generation_request
from fidec.data.sources.task import Task
from fidec.data.verify import cached_verification, content_sha256, format_shape
from fidec.io import sha256_file
from fidec.paths import dataset_files

#: How many changed files a description names before it counts the rest.
NAMED_FILES = 2


def stat_key(path: Path) -> list[int]:
    """What changes whenever a file's bytes do (see the module docstring)."""
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_dev, st.st_ino]


def data_files(task: Task) -> dict[str, Path]:
    """The files ``task``'s data is read from, by label: 'train'/'val' (OGBench), 'file' (``.npz``), or the path
    inside the dataset's ``data`` folder (Minari)."""
    if task.source == "npz":
        return {"file": Path(task.info["file"])} if task.info.get("file") else {}
    if task.source == "minari":
        folder = Path(task.dataset_dir) / task.dataset_name / "data"
        if not folder.is_dir():
            return {}
        return {str(p.relative_to(folder)): p for p in sorted(folder.rglob("*")) if p.is_file()}
    train, val = dataset_files(task.dataset_name, task.dataset_dir)
    return {"train": train, "val": val}


def _hash(task: Task, path: Path) -> str:
    if task.source == "npz" and task.info.get("sha256"):
        return task.info["sha256"]  # hashed when the file was loaded
    if task.source == "ogbench":
        return content_sha256(path)
    return sha256_file(path)


def take(task: Task, previous: dict | None = None) -> dict:
    """The fingerprint of ``task``'s data; with ``previous`` (an earlier fingerprint), a file whose stat key is the
    recorded one keeps its recorded hash instead of being read."""
    before = (previous or {}).get("files") or {}
    files = {}
    for label, path in data_files(task).items():
        if not path.exists():
            continue
        key = stat_key(path)  # before the hash: a write during hashing changes the key, so it is hashed again later
        old = before.get(label) or {}
        same = old.get("path") == str(path) and old.get("stat") == key and old.get("sha256")
        entry = {"path": str(path), "size": key[0], "sha256": old["sha256"] if same else _hash(task, path), "stat": key}
        request = generation_request(path) if task.source == "ogbench" else None
        if request:
            entry["generated"] = request
        files[label] = entry
    out = {
        "source": task.source,
        "dataset": task.dataset_name,
        "files": files,
        "transitions": {"train": task.transitions("train"), "val": task.transitions("val")},
    }
    if task.info.get("episodes") is not None:
        out["episodes"] = {"train": task.info["episodes"]}
    elif task.source == "ogbench":
        stats = {label: cached_verification(files[label]["path"]) for label in ("train", "val") if label in files}
        episodes = {label: s["episodes"] for label, s in stats.items() if s and s.get("episodes") is not None}
        if episodes:
            out["episodes"] = episodes
    if task.pixels:
        out["frame_shape"] = list(task.train.frame_shape)
    return out


def legacy(dataset: dict) -> dict:
    """The part of a fingerprint a run folder written without one records: the ``dataset`` entry of its
    config.json (an ``.npz``'s sha256, the train transitions)."""
    out: dict = {}
    if dataset.get("sha256") and dataset.get("file"):
        out["files"] = {"file": {"path": str(dataset["file"]), "sha256": dataset["sha256"]}}
    if dataset.get("transitions") is not None:
        out["transitions"] = {"train": dataset["transitions"]}
    if dataset.get("episodes") is not None and dataset.get("source") in ("npz", "minari"):
        out["episodes"] = {"train": dataset["episodes"]}
    return out


def _file_change(a: dict | None, b: dict | None, label: str) -> str | None:
    name = Path((a or b)["path"]).name if label in ("train", "val", "file") else label
    if b is None:
        return f"{name} is gone"
    if a is None:
        return f"{name} is new"
    if a.get("sha256") == b.get("sha256"):
        return None
    size = ""
    if a.get("size") is not None and a["size"] != b.get("size"):
        size = f", {a['size']} -> {b.get('size')} bytes"
    return f"{name} differs (sha256 {str(a.get('sha256'))[:12]} -> {str(b.get('sha256'))[:12]}{size})"


def _counts(what: str, a: dict | None, b: dict | None) -> list[str]:
    a, b = a or {}, b or {}
    return [f"{k} {what} {a[k]} -> {b[k]}" for k in ("train", "val") if k in a and k in b and a[k] != b[k]]


def differences(old: dict, new: dict) -> list[str]:
    """What differs between fingerprints ``old`` and ``new``, each in a few words (empty: the same data). Only
    what both record is compared (a legacy record has no file sizes, say)."""
    out = []
    if "files" in old and "files" in new:
        labels = list(old["files"]) + [k for k in new["files"] if k not in old["files"]]
        files = [_file_change(old["files"].get(k), new["files"].get(k), k) for k in labels]
        files = [f for f in files if f]
        out += files[:NAMED_FILES]
        if len(files) > NAMED_FILES:
            out.append(f"and {len(files) - NAMED_FILES} more files")
    out += _counts("episodes", old.get("episodes"), new.get("episodes"))
    out += _counts("transitions", old.get("transitions"), new.get("transitions"))
    if old.get("frame_shape") and new.get("frame_shape") and old["frame_shape"] != new["frame_shape"]:
        out.append(f"frames {format_shape(old['frame_shape'])} -> {format_shape(new['frame_shape'])}")
    return out
