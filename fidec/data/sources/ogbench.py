"""OGBench singletask tasks, loaded with OGBench's own loader from verified files in the dataset directory."""

from __future__ import annotations

import os
import re
import zipfile
import zlib
from functools import partial

import numpy as np

from fidec.data.catalog import CATALOG, dataset_name_for_env, task_env_names
from fidec.data.provenance import missing_remedy
from fidec.data.sources.conventions import ACTION_CLIP_EPS
from fidec.data.sources.task import Task
from fidec.data.verify import check_split_frames, ensure_verified
from fidec.errors import ConfigError, DatasetError
from fidec.paths import dataset_dir, dataset_files

TRANSITION_KEYS = ("observations", "actions", "rewards", "masks", "next_observations")


def _unknown_task(env: str, hint: str = "") -> ConfigError:
    """'unknown task X; did you mean A, B?' with the closest OGBench singletask names (one short line)."""
    import difflib

    close = difflib.get_close_matches(str(env), singletask_names(), n=3, cutoff=0.75)
    near = f"; did you mean {', '.join(close)}?" if close else ""
    return ConfigError(
        f"unknown task {env!r}{hint}{near} (OGBench singletask names, minari:ID or npz:PATH; 'fidec data list')"
    )


def singletask_names() -> list[str]:
    """Every OGBench singletask task name fidec's catalogue knows (task1..task5 of each dataset)."""
    return [t for spec in CATALOG.values() for t in task_env_names(spec)]


def split_env_name(env: str) -> tuple[str, str]:
    """(gymnasium env id, dataset name) of an OGBench singletask name, as OGBench's loader splits it.

    'cube-single-play-singletask-task2-v0' -> ('cube-single-singletask-task2-v0', 'cube-single-play-v0').
    """
    parts = env.split("-")
    if "singletask" not in parts or not re.fullmatch(r"v\d+", parts[-1]) or parts.index("singletask") < 2:
        raise _unknown_task(env, ": not a singletask name")
    pos = parts.index("singletask")
    return "-".join(parts[: pos - 1] + parts[pos:]), dataset_name_for_env(env)


def check_env(env: str) -> tuple[str, str]:
    """Validate ``env`` against OGBench's registry; returns (env id, dataset name)."""
    import gymnasium
    import ogbench  # noqa: F401  (registers the environments)

    env_id, dataset = split_env_name(env)
    if env_id not in gymnasium.registry:
        raise _unknown_task(env)
    return env_id, dataset


def load_task(
    env: str, directory: str | os.PathLike | None = None, verify: bool = True, success_timing: str = "pre"
) -> Task:
    """Load ``env``'s dataset with ``ogbench.make_env_and_datasets`` (rewards/masks by OGBench's relabelling).

    The files must already be in the dataset directory; a missing dataset raises a one-line error naming
    the command that creates it. Each file is verified before its first use. Dataset actions are clipped to
    [-1 + 1e-5, 1 - 1e-5] as the release clips every dataset's (``envs/env_utils.py`` L148-156).
    ``success_timing``: OGBench's own argument, 'pre' (OGBench >= 1.2's singletask default) or 'post' (OGBench
    1.1's behaviour: success, reward and termination computed after the step); the data are the same either way
    (OGBench's relabelling did not change), only the environment the agent acts in.
    """
    import ogbench

    env_id, dataset = check_env(env)
    d = dataset_dir(directory)
    train_path, val_path = dataset_files(dataset, d)
    for p in (train_path, val_path):
        if not p.exists():
            raise DatasetError(f"dataset file {p} is missing; {missing_remedy(dataset, d)}")
    if verify:
        ensure_verified(train_path)
        ensure_verified(val_path)
    if env.startswith("visual-"):
        check_split_frames(dataset, d)  # one frame size for both splits, before the frames are read
        return _load_pixels(env, env_id, dataset, d, success_timing)
    try:
        _, train, val = ogbench.make_env_and_datasets(env, dataset_dir=str(d), compact_dataset=False)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        # damage that the verification cache cannot see (e.g. bad disk blocks): one line, not a traceback
        raise DatasetError(
            f"OGBench's loader cannot read {dataset} in {d} ({' '.join(f'{type(e).__name__}: {e}'.split())[:200]}); "
            f"check it with 'fidec data verify {dataset} --dataset-dir {d}' and regenerate it if it fails"
        ) from None
    keep = lambda ds: clip_actions({k: np.asarray(ds[k], np.float32) for k in TRANSITION_KEYS})  # noqa: E731
    factory = partial(ogbench.make_env_and_datasets, env, env_only=True, success_timing=success_timing)
    info = {"actions": f"clipped to +-(1 - {ACTION_CLIP_EPS:g})", "success_timing": success_timing}
    return Task(env, dataset, keep(train), keep(val), str(d), env_factory=factory, source="ogbench", info=info)


def clip_actions(data: dict) -> dict:
    """``data`` with its actions clipped to [-1 + 1e-5, 1 - 1e-5] (the release, ``envs/env_utils.py`` L148-156)."""
    data["actions"] = np.clip(data["actions"], -1 + ACTION_CLIP_EPS, 1 - ACTION_CLIP_EPS).astype(np.float32)
    return data


def env_only_task(env: str, directory: str | os.PathLike | None = None, success_timing: str = "pre") -> Task:
    """A state-observation task without its data, for evaluating a run: the environment and the shapes it gives.

    One zero transition stands for each split (an agent is built from the shapes; evaluation never reads the
    data), so ``fidec evaluate`` needs the environment and the run's saved config, not the dataset files."""
    import ogbench

    _, dataset = check_env(env)
    factory = partial(ogbench.make_env_and_datasets, env, env_only=True, success_timing=success_timing)
    probe = factory()
    try:
        obs_dim, act_dim = int(probe.observation_space.shape[-1]), int(probe.action_space.shape[-1])
    finally:
        probe.close()
    zeros = lambda *shape: np.zeros(shape, np.float32)  # noqa: E731
    split = lambda: {  # noqa: E731
        "observations": zeros(1, obs_dim),
        "actions": zeros(1, act_dim),
        "rewards": zeros(1),
        "masks": zeros(1),
        "next_observations": zeros(1, obs_dim),
    }
    return Task(env, dataset, split(), split(), str(dataset_dir(directory)), env_factory=factory, source="ogbench")


def _load_pixels(env: str, env_id: str, dataset: str, d, success_timing: str = "pre") -> Task:
    """A visual task as :class:`~fidec.data.frames.FrameData` (uint8 frames stored once; no float copy, no
    next-observation copy): OGBench's loader in its compact layout, rewards and masks relabelled by OGBench with
    the state-based twin environment (same task, same reward; no renderer needed to load data)."""
    import gymnasium
    import ogbench

    from fidec.data.frames import from_compact  # deferred: start-up time (JAX), for pixel tasks only

    twin = gymnasium.make(env_id.removeprefix("visual-"))
    try:
        train, val = ogbench.make_env_and_datasets(
            env, dataset_dir=str(d), compact_dataset=True, dataset_only=True, cur_env=twin
        )
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise DatasetError(
            f"OGBench's loader cannot read {dataset} in {d} ({' '.join(f'{type(e).__name__}: {e}'.split())[:200]}); "
            f"check it with 'fidec data verify {dataset} --dataset-dir {d}' and regenerate it if it fails"
        ) from None
    finally:
        twin.close()
    frames = {
        k: from_compact(v["observations"], v["valids"], v["rewards"], v["masks"], clip_actions(v)["actions"])
        for k, v in (("train", train), ("val", val))
    }
    h, w = frames["train"].frame_shape[:2]
    factory = partial(
        ogbench.make_env_and_datasets, env, env_only=True, width=w, height=h, success_timing=success_timing
    )
    return Task(
        env,
        dataset,
        frames["train"],
        frames["val"],
        str(d),
        env_factory=factory,
        source="ogbench",
        info={"pixels": {"frame_shape": list(frames["train"].frame_shape), "frames": int(len(frames["train"].frames))}},
    )
