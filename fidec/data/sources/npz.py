"""Your own data as one ``.npz`` file plus a Gymnasium environment: ``--dataset data.npz --env-id Pendulum-v1``.

Keys (N rows, one per step, in episode order):

==================== ============ ==========================================================================
``observations``     (N, obs_dim)  float; the environment's observation, flattened as
                                   ``gymnasium.spaces.flatten`` does
``actions``          (N, act_dim)  float; in the environment's action space (see the action rule in
                                   :mod:`fidec.data.sources.checks`)
``rewards``          (N,)          float, used as stored
``terminals``        (N,)          bool or 0/1: the episode *terminated* at this step (no bootstrapping)
``timeouts``         (N,)          optional, bool or 0/1: the episode was *cut* here (time limit; bootstraps)
``next_observations`` (N, obs_dim) optional; without it the next observation is the next row's
``env_id``           ()            optional string: the Gymnasium id, so ``--env-id`` can be left out
==================== ============ ==========================================================================

Without ``next_observations``, a step that ends an episode is kept if it terminated (its mask is 0, so its
next observation is never used) and dropped if it was only cut by a timeout (its next observation is not in
the file), as D4RL's ``qlearning_dataset`` does; the file must end at an episode end. Masks are
``1 - terminals`` in every case.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from fidec.data.sources import checks
from fidec.data.sources.conventions import ACTION_CLIP_EPS, NONE
from fidec.data.sources.task import Task, file_task
from fidec.errors import ConfigError, DatasetError
from fidec.tasknames import NPZ_PREFIX as PREFIX
from fidec.tasknames import npz_path

REQUIRED = ("observations", "actions", "rewards", "terminals")
OPTIONAL = ("timeouts", "next_observations", "env_id")


path_of = npz_path


def read_arrays(path: Path) -> dict:
    what = f"{path.name}"
    if not path.exists():
        raise DatasetError(f"no dataset file {path}; write one with the keys {', '.join(REQUIRED)} (docs/own-data.md)")
    try:
        z = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise DatasetError(
            f"{what} is not a readable .npz (truncated or corrupt): {' '.join(str(e).split())}"
        ) from None
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise DatasetError(f"{what} is not an .npz archive of arrays (np.savez writes one)")
    arrays = {}
    with z:
        for k in z.files:
            try:
                arrays[k] = z[k]
            except (zipfile.BadZipFile, ValueError, OSError, EOFError, zlib.error) as e:
                raise DatasetError(f"{what}: array '{k}' is unreadable: {' '.join(str(e).split())}") from None
    missing = [k for k in REQUIRED if k not in arrays]
    if missing:
        raise DatasetError(
            f"{what} lacks {', '.join(repr(k) for k in missing)}; the keys are {', '.join(REQUIRED)} "
            f"(and optionally {', '.join(OPTIONAL)})"
        )
    return arrays


def build_transitions(arrays: dict, what: str) -> tuple[dict, dict]:
    """Checked float32 transitions (actions still in the environment's units) and statistics."""
    obs, act = arrays["observations"], arrays["actions"]
    n = len(arrays["terminals"]) if arrays["terminals"].ndim else 0
    if n == 0:
        raise DatasetError(f"{what} has no steps")
    shaped = {"observations": 2, "actions": 2, "rewards": 1, "terminals": 1, "timeouts": 1, "next_observations": 2}
    for k, nd in shaped.items():
        if k not in arrays:
            continue
        a = arrays[k]
        if k == "rewards" and a.ndim == 2 and a.shape[1] == 1:
            a = arrays[k] = a[:, 0]
        if a.ndim != nd or a.shape[0] != n:
            want = "(N,)" if nd == 1 else "(N, dim)"
            raise DatasetError(
                f"{what}: '{k}' has shape {a.shape}, expected {want} with N = {n} (the rows of 'terminals')"
            )
        if k in ("terminals", "timeouts") and not np.isin(a, (0, 1)).all():
            raise DatasetError(f"{what}: '{k}' holds values other than 0/1 (e.g. {a[~np.isin(a, (0, 1))][0]})")
        if a.dtype.kind not in "fiub":
            raise DatasetError(f"{what}: '{k}' has dtype {a.dtype}, expected numbers")
    if "next_observations" in arrays and arrays["next_observations"].shape != obs.shape:
        raise DatasetError(
            f"{what}: 'next_observations' has shape {arrays['next_observations'].shape}, 'observations' {obs.shape}"
        )
    for k in ("observations", "actions", "rewards", "next_observations"):
        if k in arrays:
            checks.check_finite(k, arrays[k], what)
    term = arrays["terminals"].astype(bool)
    timeout = arrays["timeouts"].astype(bool) if "timeouts" in arrays else np.zeros(n, bool)
    ends = term | timeout
    if "next_observations" in arrays:
        keep = np.ones(n, bool)
        nxt = arrays["next_observations"]
    else:
        if not ends[-1]:
            raise DatasetError(
                f"{what}: the last step ends no episode (neither 'terminals' nor 'timeouts' is set there): the file "
                "stops inside an episode; mark the last step, drop the unfinished episode, or add 'next_observations'"
            )
        keep = ~(timeout & ~term)  # a step cut by a timeout has no next observation in the file
        nxt = np.concatenate([obs[1:], obs[-1:]])
        nxt[term] = obs[term]  # masked out (mask 0): never used as a bootstrap target
    if not keep.any():
        raise DatasetError(f"{what}: no transitions are left (every step ends in a timeout); add 'next_observations'")
    data = {
        "observations": obs[keep].astype(np.float32),
        "actions": act[keep],
        "rewards": arrays["rewards"][keep].astype(np.float32),
        "masks": (1.0 - term[keep]).astype(np.float32),
        "next_observations": nxt[keep].astype(np.float32),
    }
    stats = {"rows": n, "episodes": int(ends.sum()), "transitions": int(keep.sum()), "terminals": int(term.sum())}
    return data, stats


def load_task(env: str, env_id: str | None = None) -> Task:
    """Load ``npz:PATH`` as a Task, evaluated in ``env_id`` (or the file's ``env_id``); all checks first."""
    path = path_of(env)
    arrays = read_arrays(path)
    what = path.name
    stored_id = str(arrays["env_id"]) if "env_id" in arrays and arrays["env_id"].ndim == 0 else None
    env_id = env_id or stored_id
    if not env_id:
        raise ConfigError(
            f"{what}: name the Gymnasium environment to evaluate in with --env-id (or store 'env_id' in the file)"
        )
    data, stats = build_transitions(arrays, what)
    del arrays
    rule, _ = checks.probe_env(env_id, data["observations"].shape[-1], data["actions"].shape[-1], what)
    what = f"{path.name} with environment {env_id!r}"
    data["actions"] = np.clip(rule.to_unit(data["actions"], what), -1 + ACTION_CLIP_EPS, 1 - ACTION_CLIP_EPS)
    info = {"eval_env": env_id, "conventions": NONE.to_dict(), "actions": rule.describe(), **stats}
    return file_task("npz", PREFIX, path, data, checks.env_factory(env_id, rule), info)
