"""``fidec data generate``: OGBench datasets made locally with OGBench's own scripted oracles.

The episodes of a dataset are split into fixed chunks (``chunk_episodes`` each, a constant of the
dataset, not of the worker count). Each chunk is collected by a fresh environment in a worker process
and saved atomically into a staging folder (``{dataset_dir}/.fidec-staging/{name}/``); when all chunks
are there, they are streamed into the final ``{name}.npz`` and ``{name}-val.npz`` (OGBench's format, a
deterministic zip) which are renamed into place with ``os.replace``, each after its provenance sidecar
``{file}.json``. So:

- the same seed gives the same bytes, whatever the number of workers (a chunk's content depends only on
  the seed, the dataset and the chunk's episodes);
- an interrupted run leaves only the staging folder, never a final-named file; re-running the same
  command keeps the finished chunks and collects the rest.

A fresh environment per chunk matters: OGBench's scene environment carries state from one episode to
the next (the drawer/window targets and the target site), so an episode depends on the episodes run
before it in the same environment.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import os
import queue as queue_mod
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fidec.console import progress_bar, quiet_warnings
from fidec.data.catalog import DatasetSpec, get_spec, val_episodes_for
from fidec.data.expert import EXPERT_FILE, default_expert_dir
from fidec.data.npzio import NpzWriter
from fidec.data.provenance import (
    NATIVE_IMAGE_SIZE,
    STAGING,
    expert_record,
    package_versions,
    request_record,
    sidecar_matches,
    sidecar_path,
)
from fidec.data.recipes import SPLITS, OracleCollector, episode_seed, key_dtypes
from fidec.errors import DatasetError, FidecError
from fidec.io import atomic_open, fsync_dir, read_json, remove_stale_temporaries, sha256_file, write_json
from fidec.paths import dataset_dir as resolve_dataset_dir
from fidec.paths import dataset_files
from fidec.procs import RayTasks, die_with_parent, spawn_context, spawn_pool, start_ray, stop_pool
from fidec.rendering import require_offscreen_gl

BACKENDS = ("local", "ray")


def default_chunk_episodes(spec: DatasetSpec) -> int:
    """Episodes per chunk: about 20,000 steps (20 episodes of 1001 steps); pixel datasets 2 episodes (a chunk of
    rendered frames is 24 MiB per episode, and finished chunks survive an interruption)."""
    if spec.pixels:
        return 2
    return max(1, round(20000 / spec.episode_length))


# ---------------------------------------------------------------------------------------------- chunks
@dataclass(frozen=True)
class Chunk:
    """Episodes ``[start, end)`` of one split."""

    dataset: str
    split: str
    start: int
    end: int
    seed: int
    expert: str | None = None  # the expert policy's file, for datasets collected by one
    image_size: int | None = None  # pixel datasets: frames of image_size x image_size (None: OGBench's 64)
    episode_length: int | None = None  # None: the recipe's (shorter only for quick checks and tests)

    @property
    def episodes(self) -> int:
        return self.end - self.start

    @property
    def filename(self) -> str:
        return f"{self.split}-{self.start:06d}-{self.end:06d}.npz"


def plan_chunks(
    name: str,
    split: str,
    episodes: int,
    chunk_episodes: int,
    seed: int,
    expert: str | None = None,
    image_size: int | None = None,
    episode_length: int | None = None,
) -> list[Chunk]:
    return [
        Chunk(name, split, s, min(s + chunk_episodes, episodes), seed, expert, image_size, episode_length)
        for s in range(0, episodes, chunk_episodes)
    ]


def resolve_expert(spec: DatasetSpec, expert, directory: Path) -> Path | None:
    """The expert file a dataset is collected with: ``expert`` (a file or folder), else the default
    ``{dataset_dir}/experts/{name}/expert.npz``; None for datasets made without one. A missing expert is a
    one-line error saying how to train it."""
    if spec.recipe.get("oracle") != "expert":
        return None
    name = spec.recipe.get("expert", "ant")
    path = Path(expert).expanduser() if expert else default_expert_dir(directory, name) / EXPERT_FILE
    if path.is_dir():
        path = path / EXPERT_FILE
    if not path.is_file():
        where = "" if expert else f" --dataset-dir {directory}"
        raise DatasetError(
            f"{spec.name} is collected by the {name} expert, and there is none at {path}: train it with "
            f"'fidec data expert {name}{where}' (about 1 h on 2 CPU cores) or pass --expert PATH"
        )
    return path


_PROGRESS_QUEUE = None


def _init_worker(progress_queue, parent_pid: int | None = None) -> None:
    global _PROGRESS_QUEUE
    _PROGRESS_QUEUE = progress_queue
    if parent_pid is not None:
        die_with_parent(parent_pid)
    quiet_warnings()


def collect_chunk(chunk: Chunk, progress_queue=None) -> dict[str, np.ndarray]:
    """Collect a chunk's episodes with a fresh environment: arrays in file order, plus ``episode_lengths``."""
    collector = OracleCollector(
        get_spec(chunk.dataset), expert=chunk.expert, image_size=chunk.image_size, episode_length=chunk.episode_length
    )
    parts: dict[str, list] = {}
    lengths = []
    for i in range(chunk.start, chunk.end):
        ep = collector.episode(episode_seed(chunk.seed, chunk.dataset, chunk.split, i))
        for k, v in ep.items():
            parts.setdefault(k, []).append(v)
        n = len(ep["actions"])
        lengths.append(n)
        if progress_queue is not None:
            progress_queue.put(n)
    out = {k: np.concatenate(v) for k, v in parts.items()}
    out["episode_lengths"] = np.asarray(lengths, dtype=np.int64)
    collector.env.close()
    return out


def write_chunk(arrays: dict[str, np.ndarray], path: Path) -> None:
    """Save a chunk atomically (uncompressed npz)."""
    with atomic_open(path) as f:
        np.savez(f, **arrays)


def run_chunk(chunk: Chunk, stage: str) -> tuple[str, int, int]:
    """Worker entry point: collect a chunk and save it into the staging folder."""
    arrays = collect_chunk(chunk, _PROGRESS_QUEUE)
    write_chunk(arrays, Path(stage) / chunk.filename)
    return chunk.filename, chunk.episodes, int(arrays["episode_lengths"].sum())


def _chunk_ok(path: Path, chunk: Chunk) -> bool:
    """A finished chunk file (written atomically, so only a truncated disk could make it bad)."""
    try:
        with np.load(path) as z:
            return len(z["episode_lengths"]) == chunk.episodes
    except Exception:  # noqa: BLE001 - any unreadable chunk is simply redone
        return False


# ---------------------------------------------------------------------------------------------- report
@dataclass
class GenerationReport:
    name: str
    train_path: Path
    val_path: Path
    seed: int
    workers: int
    backend: str
    episodes: dict = field(default_factory=dict)  # split -> episodes
    rows: dict = field(default_factory=dict)  # split -> stored steps
    collected_steps: int = 0  # steps collected in this run (excludes resumed chunks)
    collect_seconds: float = 0.0
    wall_seconds: float = 0.0
    resumed_chunks: int = 0
    skipped: tuple = ()  # splits already present and matching

    pixels: bool = False

    @property
    def steps_per_second(self) -> float:
        return self.collected_steps / self.collect_seconds if self.collect_seconds > 0 else 0.0

    def summary(self) -> str:
        if set(self.skipped) == set(SPLITS):
            return f"{self.name}: already generated with these settings: {self.train_path}, {self.val_path}"
        size = sum(p.stat().st_size for p in (self.train_path, self.val_path))
        lines = [
            f"{self.name}: wrote {self.train_path} ({self.episodes['train']} episodes, "
            f"{self.rows['train']} steps) and {self.val_path} ({self.episodes['val']} episodes, "
            f"{self.rows['val']} steps), {size / 2**20:.1f} MiB",
            f"collected {self.collected_steps} steps in {self.collect_seconds:.1f} s with {self.workers} "
            f"worker(s) ({self.backend}): {self.steps_per_second:,.0f} transitions/s in total, "
            f"{self.steps_per_second / max(self.workers, 1):,.0f} per worker; wall {self.wall_seconds:.1f} s"
            + (f"; resumed {self.resumed_chunks} finished chunk(s)" if self.resumed_chunks else ""),
        ]
        if self.pixels:  # one rendered frame per transition
            lines.append(
                f"rendered {self.collected_steps} frames: {self.steps_per_second:,.1f} frames/s in total, "
                f"{self.steps_per_second / max(self.workers, 1):,.1f} per worker"
            )
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- main
def generate_dataset(
    name: str,
    *,
    episodes: int | None = None,
    seed: int = 0,
    workers: int | None = None,
    dataset_dir=None,
    progress: bool = True,
    backend: str = "local",
    force: bool = False,
    chunk_episodes: int | None = None,
    expert=None,
    image_size: int | None = None,
    episode_length: int | None = None,
) -> tuple[Path, Path]:
    """Generate ``name`` (train and ``-val``) in OGBench's format; returns (train_path, val_path).

    ``episodes`` is the number of train episodes (default: OGBench's recipe); validation gets a tenth,
    at least one. ``workers`` processes (default: all cores) collect fixed chunks of episodes.
    """
    r = generate(
        name,
        episodes=episodes,
        seed=seed,
        workers=workers,
        dataset_dir=dataset_dir,
        progress=progress,
        backend=backend,
        force=force,
        chunk_episodes=chunk_episodes,
        expert=expert,
        image_size=image_size,
        episode_length=episode_length,
    )
    return r.train_path, r.val_path


@contextlib.contextmanager
def _lock(path: Path, name: str, directory: Path):
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    with open(path, "a+") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise DatasetError(
                f"another 'fidec data generate {name}' is writing to {directory}; wait for it or stop it"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def generate(
    name: str,
    *,
    episodes: int | None = None,
    seed: int = 0,
    workers: int | None = None,
    dataset_dir=None,
    progress: bool = True,
    backend: str = "local",
    force: bool = False,
    chunk_episodes: int | None = None,
    expert=None,
    image_size: int | None = None,
    episode_length: int | None = None,
) -> GenerationReport:
    """:func:`generate_dataset`, returning a :class:`GenerationReport` (paths, counts, timing)."""
    t_start = time.perf_counter()
    spec = get_spec(name)
    if spec.name != name:
        raise DatasetError(f"{name!r} is an environment name; generate its dataset with '{spec.name}'")
    if not spec.generatable:
        raise DatasetError(
            f"{spec.name} cannot be generated here: {spec.reason}; get it with 'fidec data download {spec.name}'"
        )
    if backend not in BACKENDS:
        raise FidecError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    n_train = spec.episodes if episodes is None else int(episodes)
    if n_train < 1:
        raise DatasetError(f"--episodes must be at least 1, got {episodes}")
    if int(seed) < 0:
        raise DatasetError(f"--seed must be a non-negative integer, got {seed}")
    if workers is not None and int(workers) < 1:
        raise FidecError(f"--workers must be at least 1, got {workers}")
    chunk_episodes = int(chunk_episodes or default_chunk_episodes(spec))
    if chunk_episodes < 1:
        raise FidecError(f"chunk size must be at least 1 episode, got {chunk_episodes}")
    n_episodes = {"train": n_train, "val": val_episodes_for(n_train)}

    directory = resolve_dataset_dir(dataset_dir)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DatasetError(f"cannot create the dataset directory {directory}: {e.strerror or e}") from None
    expert_path = resolve_expert(spec, expert, directory)
    train_path, val_path = dataset_files(spec.name, directory)
    paths = {"train": train_path, "val": val_path}
    if image_size is not None and (not spec.pixels or int(image_size) < 8):
        raise DatasetError(
            f"--image-size is for pixel (visual-*) datasets and at least 8, got {image_size} for {spec.name}"
        )
    if spec.pixels:
        require_offscreen_gl(spec.name)
    if episode_length is not None and int(episode_length) < 2:
        raise DatasetError(f"--episode-length must be at least 2, got {episode_length}")
    expert_info = expert_record(expert_path)
    request = request_record(spec, seed, n_episodes, chunk_episodes, expert_info, image_size, episode_length)
    staging_root = directory / STAGING
    staging_root.mkdir(exist_ok=True)
    stage = staging_root / spec.name

    report = GenerationReport(spec.name, train_path, val_path, int(seed), 0, backend, dict(n_episodes))
    report.pixels = spec.pixels

    lock = staging_root / f"{spec.name}.lock"
    with _lock(lock, spec.name, directory):
        try:
            _generate_locked(
                spec, request, n_episodes, paths, stage, workers, progress, backend, force, report, expert_path
            )
        finally:
            lock.unlink(missing_ok=True)  # while holding it
            with contextlib.suppress(OSError):
                staging_root.rmdir()  # only when empty: unfinished chunks stay for the next run
    report.wall_seconds = time.perf_counter() - t_start
    return report


def _generate_locked(
    spec, request, n_episodes, paths, stage, workers, progress, backend, force, report, expert_path=None
) -> None:
    # Which splits are still to be made?
    todo = []
    for split in SPLITS:
        p = paths[split]
        side = read_json(sidecar_path(p))
        split_request = {**request, "split": split}
        if not force and sidecar_matches(side, split_request, p):
            report.rows[split] = side.get("rows")
            continue
        if p.exists() and not force:
            made = (
                f"made with seed {side.get('seed')} and {side.get('episodes')} episodes"
                if side
                else "no provenance: downloaded or made elsewhere"
            )
            raise DatasetError(f"{p} already exists ({made}); pass --force to replace it")
        todo.append(split)
    report.skipped = tuple(s for s in SPLITS if s not in todo)
    if not todo:
        return
    for split in todo:  # --force: the old file must not pair with a new sidecar
        for p in (paths[split], sidecar_path(paths[split])):
            p.unlink(missing_ok=True)

    # Staging: keep finished chunks of an interrupted run with the same settings.
    manifest_path = stage / "manifest.json"
    manifest = read_json(manifest_path)
    if stage.exists() and manifest != request:
        if progress:
            sys.stderr.write(f"discarding unfinished generation of {spec.name} made with other settings\n")
        shutil.rmtree(stage)
    stage.mkdir(exist_ok=True)
    remove_stale_temporaries(stage)  # chunks a killed worker was writing; we hold the generation lock
    if manifest != request:
        write_json(manifest_path, request)

    chunk_episodes, seed = request["chunk_episodes"], request["seed"]
    expert = None if expert_path is None else str(expert_path)
    size = (request.get("pixels") or {}).get("image_size")
    size = None if size in (None, NATIVE_IMAGE_SIZE) else size
    length = None if request["episode_length"] == spec.episode_length else request["episode_length"]
    chunks = {s: plan_chunks(spec.name, s, n_episodes[s], chunk_episodes, seed, expert, size, length) for s in todo}
    pending = []
    for split in todo:
        for c in chunks[split]:
            if (stage / c.filename).exists() and _chunk_ok(stage / c.filename, c):
                report.resumed_chunks += 1
            else:
                pending.append(c)

    total_eps = sum(n_episodes[s] for s in todo)
    done_eps = total_eps - sum(c.episodes for c in pending)
    n_workers = int(workers) if workers else (os.cpu_count() or 1)
    n_workers = max(1, min(n_workers, len(pending))) if pending else 0
    report.workers = n_workers
    t_collect = time.perf_counter()
    if pending:
        runner = _run_ray if backend == "ray" else _run_local
        report.collected_steps = runner(spec, pending, stage, n_workers, progress, total_eps, done_eps)
    report.collect_seconds = time.perf_counter() - t_collect

    # Assemble: validation first, then train; each file after its sidecar.
    for split in ("val", "train"):
        if split in todo:
            report.rows[split] = _assemble(
                spec, split, chunks[split], stage, paths[split], {**request, "split": split}, report
            )
    shutil.rmtree(stage, ignore_errors=True)


def _progress_bar(spec: DatasetSpec, total: int, initial: int, enabled: bool):
    return progress_bar(
        total,
        initial=initial,
        desc=spec.name,
        unit="ep",
        enabled=enabled,
        smoothing=0.1,
        mininterval=0.5 if sys.stderr.isatty() else 10.0,
    )


def _run_local(spec, pending: list[Chunk], stage: Path, n_workers: int, progress: bool, total, done) -> int:
    """Collect ``pending`` chunks in ``n_workers`` spawned processes; returns the steps collected."""
    progress_queue = spawn_context().Queue()
    bar = _progress_bar(spec, total, done, progress)
    steps = 0  # as reported per episode, for the progress bar
    collected = 0  # as returned per chunk
    t0 = time.perf_counter()

    def drain(block: float) -> None:
        nonlocal steps
        deadline = time.perf_counter() + block
        while True:
            try:
                n = progress_queue.get(timeout=max(0.0, deadline - time.perf_counter()))
            except queue_mod.Empty:
                return
            steps += n
            bar.update(1)
            bar.set_postfix_str(f"{steps / (time.perf_counter() - t0):,.0f} transitions/s", refresh=False)

    ex = spawn_pool(n_workers, initializer=_init_worker, initargs=(progress_queue,))
    try:
        futures = [ex.submit(run_chunk, c, str(stage)) for c in pending]
        remaining = set(futures)
        while remaining:
            drain(0.2)
            finished = {f for f in remaining if f.done()}
            for f in finished:
                collected += f.result()[2]  # raises the worker's exception
            remaining -= finished
        drain(0.05)
    except cf.process.BrokenProcessPool:
        ex.shutdown(wait=False, cancel_futures=True)
        raise DatasetError(
            f"a worker process of 'fidec data generate {spec.name}' died (killed or out of memory); the "
            f"finished chunks are kept in {stage}: run the same command again to finish"
        ) from None
    except BaseException:
        stop_pool(ex)
        raise
    finally:
        bar.close()
    ex.shutdown(wait=True)
    return collected


def _run_ray(spec, pending: list[Chunk], stage: Path, n_workers: int, progress: bool, total, done) -> int:
    """Collect chunks as Ray tasks (one CPU each, on any node of the cluster ``ray.init`` connects to:
    ``RAY_ADDRESS`` or a local one). Chunks come back to this process, which writes them, so the nodes need
    fidec installed but no shared filesystem."""
    ray, _ = start_ray()  # left running: this process may generate more datasets
    remote = ray.remote(num_cpus=1)(collect_chunk)
    bar = _progress_bar(spec, total, done, progress)
    steps = 0
    t0 = time.perf_counter()
    try:
        for c, ref in RayTasks(ray, remote, pending, max_in_flight=n_workers):
            arrays = ray.get(ref)
            write_chunk(arrays, stage / c.filename)
            steps += int(arrays["episode_lengths"].sum())
            bar.update(c.episodes)
            bar.set_postfix_str(f"{steps / (time.perf_counter() - t0):,.0f} transitions/s", refresh=False)
    finally:
        bar.close()
    return steps


def _assemble(spec, split, chunks, stage: Path, final: Path, request: dict, report: GenerationReport) -> int:
    """Stream the chunks of ``split`` into ``final`` (via a temporary file in the staging folder)."""
    files = [stage / c.filename for c in chunks]
    dtypes = key_dtypes(spec)
    with np.load(files[0]) as z:
        keys = [k for k in dtypes if k in z.files]
        trailing = {k: z[k].shape[1:] for k in keys}
    lengths = []
    for p in files:
        with np.load(p) as z:
            lengths.append(z["episode_lengths"])
    lengths = np.concatenate(lengths)
    rows = int(lengths.sum())

    def parts(key):
        for p in files:
            with np.load(p) as z:
                yield z[key]

    tmp = stage / f"{final.name}.tmp"
    with NpzWriter(tmp) as w:
        for k in keys:
            w.write_parts(k, dtypes[k], (rows, *trailing[k]), parts(k))
    size = tmp.stat().st_size
    sidecar = {
        **request,
        "file": final.name,
        "sha256": sha256_file(tmp),
        "size": size,
        "rows": rows,
        "episode_lengths_unique": sorted({int(x) for x in lengths}),
        "keys": {k: {"dtype": np.dtype(dtypes[k]).str, "shape": [rows, *trailing[k]]} for k in keys},
        "workers": report.workers,
        "backend": report.backend,
        "versions": package_versions(),
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_json(sidecar_path(final), sidecar)
    os.replace(tmp, final)
    fsync_dir(final.parent)
    return rows
