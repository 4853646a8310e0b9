"""``fidec data verify``: check one dataset file before it is trusted, and summarise it.

Checks, in order (the first failure is reported as one line): the file is there; it is a readable
``.npz`` (a truncated file is not); the keys, dtypes and shapes match OGBench's format and
the environment's dimensions; episodes end where ``terminals`` says, with the recipe's length and count;
every float is finite; actions lie in [-1, 1]; the sha256 matches the generation record (files without a
record, e.g. official downloads, skip this step). Statistics include, per singletask task, the number of
transitions with success, computed by OGBench's own loader and ``relabel_dataset``.
"""

from __future__ import annotations

import functools
import os
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np

from fidec.console import quiet_warnings
from fidec.data.catalog import CATALOG, DatasetSpec, task_env_names, val_episodes_for
from fidec.data.npzio import member_shape
from fidec.data.provenance import generate_command, generation_request, missing_remedy, sidecar_path
from fidec.errors import DatasetError
from fidec.io import read_json, sha256_file, write_json
from fidec.paths import dataset_files

VERIFIER_VERSION = 1
REQUIRED_KEYS = ("observations", "actions", "terminals", "qpos", "qvel")
FLOAT_KEYS = ("observations", "actions", "qpos", "qvel")
TASK_FAMILIES = ("cube", "scene", "puzzle", "pointmaze", "antmaze", "humanoidmaze", "antsoccer")


def stamp_path(npz_path: str | os.PathLike) -> Path:
    """Where :func:`ensure_verified` caches a passed verification: ``{file}.verified.json``."""
    return Path(f"{npz_path}.verified.json")


def dataset_name_of(path: str | os.PathLike) -> tuple[str, str]:
    """(dataset name, split) of a dataset file: ``.../cube-single-play-v0-val.npz`` -> (..., 'val')."""
    stem = Path(path).name
    stem = stem[: -len(".npz")] if stem.endswith(".npz") else stem
    if stem.endswith("-val"):
        return stem[: -len("-val")], "val"
    return stem, "train"


def _one_line(e: BaseException) -> str:
    return " ".join(f"{type(e).__name__}: {e}".split())


class _Fail(Exception):
    pass


def _fail(reason: str):
    raise _Fail(reason)


@functools.lru_cache(maxsize=32)
def _task_env(task_name: str):
    quiet_warnings()
    import ogbench

    return ogbench.make_env_and_datasets(task_name, env_only=True)


def _twin_tasks(spec: DatasetSpec) -> list[str]:
    """The singletask names whose environment describes ``spec``'s arrays and rewards: a visual dataset's
    state-based twin's (same robot, objects and tasks; its environment needs no renderer)."""
    names = task_env_names(spec)
    return [n.removeprefix("visual-") for n in names] if spec.pixels else names


def _expected_dims(spec: DatasetSpec, record: dict | None = None) -> dict:
    """Per-step trailing shapes of ``spec``'s arrays, read from its environment (pixels: the recorded size of
    OGBench's 64x64 RGB frames)."""
    env = _task_env(_twin_tasks(spec)[0])
    env.reset()
    u = env.unwrapped
    data = u._data if hasattr(u, "_data") else u.data  # manipspace envs keep MjData in _data
    dims = {
        "observations": tuple(env.observation_space.shape),
        "actions": tuple(env.action_space.shape),
        "qpos": (int(data.qpos.size),),
        "qvel": (int(data.qvel.size),),
    }
    if hasattr(u, "_cur_button_states"):
        dims["button_states"] = (int(u._num_buttons),)
    if spec.pixels:
        size = int(((record or {}).get("pixels") or {}).get("image_size") or 64)
        dims["observations"] = (size, size, 3)
    return dims


def _expected_dtypes(spec: DatasetSpec | None) -> dict:
    visual = spec is not None and spec.name.startswith("visual-")
    return {
        "observations": np.dtype(np.uint8) if visual else np.dtype(np.float32),
        "actions": np.dtype(np.float32),
        "terminals": np.dtype(bool),
        "qpos": np.dtype(np.float32),
        "qvel": np.dtype(np.float32),
        "button_states": np.dtype(np.int64),
    }


def verify_dataset(path: str | os.PathLike, *, checksum: bool = True, task_stats: bool = True) -> dict:
    """Verify one dataset file; returns its statistics, or raises ``DatasetError`` with a one-line reason."""
    path = Path(path).expanduser()
    try:
        return _verify(path, checksum=checksum, task_stats=task_stats)
    except _Fail as e:
        raise DatasetError(f"{path.name} fails verification: {e}") from None


def _verify(path: Path, *, checksum: bool, task_stats: bool) -> dict:
    name, split = dataset_name_of(path)
    spec = CATALOG.get(name)
    if not path.exists():
        _fail(f"{path} does not exist; {missing_remedy(name, path.parent)}")
    size = path.stat().st_size
    record = read_json(sidecar_path(path))

    # Readable npz, and every member decompresses. A file that is not a zip archive at all (a text file
    # renamed .npz, a pickle) is named as such before numpy's loader can suggest loading it unsafely.
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic not in (b"PK\x03\x04", b"PK\x05\x06"):
        _fail(f"not an .npz archive: it does not start with the zip signature (first bytes {magic!r})")
    try:
        z = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        _fail(f"not a readable .npz (truncated or corrupt): {_one_line(e)}")
    if not isinstance(z, np.lib.npyio.NpzFile):
        _fail("not an .npz archive of arrays")
    arrays = {}
    with z:
        for k in z.files:
            key = k[:-4] if k.endswith(".npy") else k
            try:
                arrays[key] = z[key]
            except (zipfile.BadZipFile, ValueError, OSError, EOFError, zlib.error) as e:
                _fail(f"member '{key}' is unreadable (truncated or corrupt): {_one_line(e)}")

    # Schema: keys, dtypes, shapes.
    required = list(REQUIRED_KEYS) + (["button_states"] if spec is not None and spec.has_buttons else [])
    for k in required:
        if k not in arrays:
            _fail(f"missing array '{k}' (OGBench's format has {', '.join(required)})")
    dtypes = _expected_dtypes(spec)
    for k, a in arrays.items():
        if k in dtypes and a.dtype != dtypes[k]:
            _fail(f"'{k}' has dtype {a.dtype}, expected {dtypes[k]}")
    rows = len(arrays["terminals"])
    if rows == 0:
        _fail("no steps: the arrays are empty")
    for k, a in arrays.items():
        if a.ndim == 0 or a.shape[0] != rows:
            _fail(f"'{k}' has shape {a.shape} but 'terminals' has {rows} rows")
    if arrays["terminals"].ndim != 1:
        _fail(f"'terminals' has shape {arrays['terminals'].shape}, expected ({rows},)")
    dims = _expected_dims(spec, record) if spec is not None and spec.oracle_family in TASK_FAMILIES else {}
    for k, trailing in dims.items():
        if k in arrays and arrays[k].shape[1:] != trailing:
            _fail(f"'{k}' has shape {arrays[k].shape}, expected ({rows}, {', '.join(map(str, trailing))}) for {name}")
    for k in ("actions", "qpos", "qvel", "button_states"):
        if k in arrays and arrays[k].ndim != 2:
            _fail(f"'{k}' has shape {arrays[k].shape}, expected 2 dimensions")

    # Episode boundaries.
    terminals = arrays["terminals"]
    ends = np.flatnonzero(terminals)
    if len(ends) == 0 or ends[-1] != rows - 1:
        _fail("the last step is not marked terminal: the file ends inside an episode (truncated?)")
    lengths = np.diff(np.concatenate([[-1], ends]))
    episodes = len(lengths)
    expected_len = (record or {}).get("episode_length") or (spec.episode_length if spec else None)
    if expected_len is not None and not np.all(lengths == expected_len):
        bad = int(np.flatnonzero(lengths != expected_len)[0])
        _fail(f"episode {bad} has {int(lengths[bad])} steps, expected {expected_len} (episode boundaries broken)")
    if record is not None and isinstance(record.get("episodes"), dict):
        expected_eps = record["episodes"].get(split)
        if expected_eps is not None and episodes != expected_eps:
            _fail(f"{episodes} episodes, but {expected_eps} were written at generation")

    # Values: action range, finiteness.
    actions = arrays["actions"]
    if actions.dtype.kind == "f":
        for k in FLOAT_KEYS:
            a = arrays.get(k)
            if a is None or a.dtype.kind != "f":
                continue
            finite = np.isfinite(a)
            if not finite.all():
                row, *col = np.argwhere(~finite)[0]
                where = f"row {row}" + (f", column {col[0]}" if col else "")
                _fail(f"non-finite value ({a[tuple([row, *col])]}) in '{k}' at {where}")
        amax = float(np.abs(actions).max())
        if amax > 1.0:
            row = int(np.argwhere(np.abs(actions) > 1.0)[0][0])
            _fail(f"actions outside [-1, 1]: max |action| = {amax:.4g} (first at row {row})")

    # Checksum against the generation record (content checks come first: their reasons are more specific).
    sha = None
    if record is not None and checksum:
        sha = sha256_file(path)
        if sha != record.get("sha256"):
            sizes = "" if size == record.get("size") else f", {size} bytes instead of {record.get('size')}"
            _fail(
                f"checksum mismatch: sha256 {sha[:16]}... but generation recorded "
                f"{str(record.get('sha256'))[:16]}...{sizes}; the file changed after it was written "
                f"(regenerate it with 'fidec data generate {name} --force')"
            )

    stats = {
        "file": str(path),
        "dataset": name,
        "split": split,
        "size": size,
        "rows": rows,
        "episodes": episodes,
        "episode_length": int(lengths[0]) if np.all(lengths == lengths[0]) else None,
        "transitions": rows - episodes,  # what OGBench's loader yields (the last step of each episode has no next)
        "action_mean": [float(x) for x in actions.astype(np.float64).mean(axis=0)],
        "action_std": [float(x) for x in actions.astype(np.float64).std(axis=0)],
        "checksum": "match" if sha is not None else ("skipped (no generation record)" if record is None else "skipped"),
        "provenance": {k: record.get(k) for k in ("seed", "episodes", "recipe", "versions")} if record else None,
    }
    if arrays["observations"].ndim == 4:  # pixels: (rows, H, W, C) frames
        stats["frame_shape"] = [int(x) for x in arrays["observations"].shape[1:]]
    if spec is not None:
        expected_eps = spec.episodes if split == "train" else val_episodes_for(spec.episodes)
        stats["recipe_episodes"] = expected_eps
    del arrays
    if task_stats and spec is not None and spec.oracle_family in TASK_FAMILIES:
        stats["task_successes"] = _task_successes(path, spec)
    return stats


def _task_successes(path: Path, spec: DatasetSpec) -> dict:
    """Per singletask task, the transitions whose relabelled reward marks success (OGBench's relabelling)."""
    import ogbench
    from ogbench.relabel_utils import relabel_dataset

    try:
        data = ogbench.load_dataset(str(path), ob_dtype=np.uint8 if spec.pixels else np.float32, add_info=True)
    except Exception as e:  # noqa: BLE001 - the loader's own failure, reported in one line
        _fail(f"OGBench's loader cannot read it: {_one_line(e)}")
    out = {}
    for name, task in zip(task_env_names(spec), _twin_tasks(spec), strict=True):
        env = _task_env(task)
        ds = {k: data[k] for k in ("qpos", "button_states") if k in data}
        parts = task.split("-")
        pos = parts.index("singletask")
        env_id = "-".join(parts[: pos - 1] + parts[pos:])
        relabel_dataset(env_id, env, ds)
        if "rewards" not in ds or len(ds["rewards"]) != len(data["observations"]):
            _fail(f"relabelling for {task} gave no rewards")
        out[name] = int((ds["masks"] == 0).sum())
    return out


def _stamp_key(path: Path) -> dict:
    st = path.stat()
    record = read_json(sidecar_path(path))
    return {
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "ctime_ns": st.st_ctime_ns,
        "inode": [st.st_dev, st.st_ino],
        "sha256": record.get("sha256") if record else None,
        "verifier": VERIFIER_VERSION,
    }


def ensure_verified(path: str | os.PathLike) -> dict:
    """Verify ``path`` once; later calls return the cached statistics while the file is unchanged.

    The cache (``{file}.verified.json``) is keyed by the file's size, modification time, *change* time
    (``st_ctime``), device and inode, and by the sha256 of its generation record. Hashing the whole file at
    every use would be the only airtight key, but costs a full read of a file that can hold gigabytes; the
    change time is the cheap key that stays safe: the kernel sets it to the current time on every write,
    truncate, rename-over or ``utime`` call, and no unprivileged call can set it back, so corruption that
    restores the size and the modification time (``touch -r``, ``os.utime``) still changes the key and the
    file is verified again (checksum included). What no key short of a full hash sees is damage below the
    filesystem (bad disk blocks); then OGBench's loader fails, and :func:`fidec.data.loading.load_task`
    reports that as a one-line error too.
    """
    path = Path(path).expanduser()
    if not path.exists():
        verify_dataset(path)  # raises the one-line 'does not exist; create it with ...'
    key = _stamp_key(path)
    stamp = read_json(stamp_path(path))
    if stamp is not None and stamp.get("key") == key:
        return stamp.get("stats", {})
    stats = verify_dataset(path, task_stats=False)
    try:
        write_json(stamp_path(path), {"key": key, "stats": stats, "verified_utc": _now()})
    except OSError:
        pass  # a read-only dataset folder: verify again next time
    return stats


def cached_verification(path: str | os.PathLike) -> dict | None:
    """The statistics of ``path``'s cached verification (:func:`ensure_verified`) while the file is unchanged, with
    ``sha256``: the generation record's checksum the file matched (None for a file without a record); None when
    there is no current verification."""
    path = Path(path).expanduser()
    if not path.exists():
        return None
    key = _stamp_key(path)
    stamp = read_json(stamp_path(path))
    if stamp is None or stamp.get("key") != key:
        return None
    stats = dict(stamp.get("stats") or {})
    stats["sha256"] = key["sha256"] if stats.get("checksum") == "match" else stats.get("content_sha256")
    return stats


def content_sha256(path: str | os.PathLike) -> str:
    """The sha256 of ``path``'s bytes, read at most once per version of the file: the generation record's checksum
    the file was verified against, else a hash cached with its current verification, else a fresh hash (cached
    there when the verification is current and the file did not change while it was read)."""
    path = Path(path).expanduser()
    cached = cached_verification(path)
    if cached is not None and cached.get("sha256"):
        return cached["sha256"]
    before = _stamp_key(path)
    sha = sha256_file(path)
    stamp = read_json(stamp_path(path))
    if cached is not None and stamp is not None and stamp.get("key") == before == _stamp_key(path):
        stamp.setdefault("stats", {})["content_sha256"] = sha
        try:
            write_json(stamp_path(path), stamp)
        except OSError:
            pass  # a read-only dataset folder: hash again next time
    return sha


def format_shape(shape) -> str:
    """(16, 16, 3) -> '16x16x3'."""
    return "x".join(str(int(x)) for x in shape)


def split_frame_shapes(name: str, directory: str | os.PathLike | None = None) -> dict[str, tuple[int, ...]]:
    """Per split ('train', 'val'), the frame shape (H, W, C) of pixel dataset ``name``'s files, read from the
    ``.npy`` headers (cheap for any file size); a file that is absent, unreadable or not of frames is left out."""
    out = {}
    for split, path in zip(("train", "val"), dataset_files(name, directory), strict=True):
        shape = member_shape(path, "observations") if path.exists() else None
        if shape is not None and len(shape) == 4:
            out[split] = shape[1:]
    return out


def check_split_frames(name: str, directory: str | os.PathLike | None = None) -> tuple[int, ...] | None:
    """The frame shape both splits of pixel dataset ``name`` share (None when it cannot be read); a one-line
    ``DatasetError`` naming the command that makes both again when the train and val splits differ."""
    shapes = split_frame_shapes(name, directory)
    train, val = shapes.get("train"), shapes.get("val")
    if train is not None and val is not None and train != val:
        d = dataset_files(name, directory)[0].parent
        fix = generate_command(name, d, generation_request(d / f"{name}.npz"), image_size=train[0])
        raise DatasetError(
            f"{name} in {d}: the train split has {format_shape(train)} frames but the val split "
            f"{format_shape(val)}; both splits need one frame size: make both again with '{fix}'"
        )
    return train or val


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def format_stats(stats: dict) -> str:
    """Human-readable lines for ``fidec data verify``."""
    lines = [f"{Path(stats['file']).name}: OK ({stats['size'] / 2**20:.1f} MiB, checksum {stats['checksum']})"]
    ep_len = f" x {stats['episode_length']} steps" if stats.get("episode_length") else ""
    expected = stats.get("recipe_episodes")
    note = f" (OGBench recipe: {expected})" if expected is not None and expected != stats["episodes"] else ""
    lines.append(
        f"  episodes {stats['episodes']}{ep_len}{note}; {stats['rows']} steps; {stats['transitions']} transitions"
    )
    fmt = lambda xs: "[" + ", ".join(f"{x:+.3f}" for x in xs) + "]"  # noqa: E731
    if stats.get("frame_shape"):
        lines.append(f"  frames {format_shape(stats['frame_shape'])} (uint8)")
    lines.append(f"  action mean {fmt(stats['action_mean'])}")
    lines.append(f"  action std  {fmt(stats['action_std'])}")
    if stats.get("task_successes"):
        tasks = ", ".join(
            f"{t.split('-singletask-')[1].rsplit('-', 1)[0]} {n}" for t, n in stats["task_successes"].items()
        )
        lines.append(f"  transitions with success per singletask task: {tasks}")
    prov = stats.get("provenance")
    if prov:
        v = prov.get("versions") or {}
        lines.append(
            f"  generated by fidec {v.get('fidec')} (ogbench {v.get('ogbench')}, mujoco {v.get('mujoco')}, "
            f"numpy {v.get('numpy')}), seed {prov.get('seed')}, recipe {prov.get('recipe')}"
        )
    return "\n".join(lines)
