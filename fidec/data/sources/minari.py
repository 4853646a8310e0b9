"""Minari datasets (D4RL's new home, or your own): ``--env minari:D4RL/antmaze/large-diverse-v1``.

The dataset is read from Minari's local root (``$MINARI_DATASETS_PATH``, else ``~/.minari/datasets``); the
agent is evaluated in the environment Minari records for evaluation (``recover_environment(eval_env=True)``,
its ``eval_env_spec``, else the collecting environment), or in ``--env-id`` if given. Observations are
flattened (Dict spaces, e.g. the mazes' observation/achieved_goal/desired_goal, in the space's key order),
actions follow :mod:`fidec.data.sources.checks`' rule, rewards and masks the D4RL conventions
(:mod:`fidec.data.sources.conventions`). Returns are normalised with ``minari.get_normalized_score`` (x 100)
where the dataset has reference scores.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from fidec.data.sources import checks
from fidec.data.sources.conventions import (
    conventions_for_minari,
    d4rl_observation_keys,
    d4rl_transitions,
    flat_d4rl_file,
    transitions,
)
from fidec.data.sources.task import Task
from fidec.errors import ConfigError, DatasetError

PREFIX = "minari:"
INSTALL = "pip install 'fidec[minari]'"


def import_minari():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import minari
    except ImportError:
        raise ConfigError(f"Minari datasets need the minari extra: {INSTALL}") from None
    return minari


def root() -> Path:
    """Minari's local dataset root: ``$MINARI_DATASETS_PATH``, else ``~/.minari/datasets``."""
    return Path(os.environ.get("MINARI_DATASETS_PATH") or Path("~/.minari/datasets").expanduser())


def dataset_id(env: str) -> str:
    return env[len(PREFIX) :] if env.startswith(PREFIX) else env


def is_local(did: str) -> bool:
    return (root() / did / "data").is_dir()


def list_local() -> dict[str, dict]:
    """Local Minari datasets: id -> metadata (episodes, steps, reference scores, environment)."""
    minari = import_minari()
    if not root().exists():
        return {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return minari.list_local_datasets()


def open_dataset(did: str):
    """The local Minari dataset ``did``, or a one-line error naming the local ones and how to get it."""
    minari = import_minari()
    if not did or did.startswith("/") or ".." in did.split("/"):
        raise ConfigError(f"invalid Minari dataset id {did!r}; ids look like 'D4RL/antmaze/large-diverse-v1'")
    if not is_local(did):
        try:
            local = sorted(list_local())
        except Exception:  # noqa: BLE001 - a broken root only changes the hint
            local = []
        have = ", ".join(local[:8]) + (" ..." if len(local) > 8 else "") if local else "none"
        raise DatasetError(
            f"no Minari dataset {did!r} in {root()} (local: {have}); get it with 'fidec data download "
            f"minari:{did}' where the network allows, or make your own with minari.DataCollector "
            "(docs/own-data.md)"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return minari.load_dataset(did)
    except Exception as e:  # noqa: BLE001 - Minari's own failures (version, metadata), one line
        raise DatasetError(f"Minari cannot open {did!r}: {type(e).__name__}: {' '.join(str(e).split())}") from None


def view_keys(space, convention: str) -> list[str] | None:
    """The Dict observation keys the data view keeps, in order (the d4rl view: no goal); None: all, flattened in
    the space's order."""
    from gymnasium import spaces

    if convention != "d4rl" or not isinstance(space, spaces.Dict):
        return None
    return d4rl_observation_keys(list(space.spaces))


def read_episodes(ds, did: str, keys: list[str] | None = None) -> list[dict]:
    """Every episode as numpy arrays, checked: steps present, lengths consistent, values finite. ``keys``: only
    these keys of a Dict observation, concatenated in this order (:func:`view_keys`)."""
    what = f"Minari dataset {did!r}"
    if ds.total_episodes == 0:
        raise DatasetError(f"{what} has no episodes; collect some before training")
    episodes = []
    for i in range(ds.total_episodes):
        try:
            ep = ds[i]
        except Exception as e:  # noqa: BLE001 - a missing or corrupt episode in storage
            raise DatasetError(
                f"{what}: episode {i} of {ds.total_episodes} is missing or unreadable "
                f"({type(e).__name__}: {' '.join(str(e).split())}); the dataset is incomplete, recreate or "
                "re-download it"
            ) from None
        obs = checks.flat_observations(ep.observations, ds.observation_space, f"{what}, episode {i}")
        if keys is not None:  # the same checks first, then only the view's keys
            space = ds.observation_space.spaces
            obs = np.concatenate(
                [checks.flat_observations(ep.observations[k], space[k], f"{what}, episode {i}") for k in keys], -1
            )
        acts, rews = np.asarray(ep.actions), np.asarray(ep.rewards).reshape(-1)
        terms, truncs = np.asarray(ep.terminations).reshape(-1), np.asarray(ep.truncations).reshape(-1)
        t = len(rews)
        if t == 0:
            raise DatasetError(f"{what}: episode {i} has no steps; drop it or recreate the dataset")
        if len(obs) != t + 1 or len(acts) != t or len(terms) != t or len(truncs) != t:
            raise DatasetError(
                f"{what}: episode {i} has {len(obs)} observations, {len(acts)} actions, {t} rewards and "
                f"{len(terms)} terminations (expected T + 1, T, T, T); the dataset is malformed"
            )
        if acts.ndim != 2:
            raise DatasetError(f"{what}: episode {i} actions have shape {acts.shape}; expected (T, action_dim)")
        for name, arr in (("observations", obs), ("actions", acts), ("rewards", rews)):
            checks.check_finite(name, arr, f"{what}, episode {i}")
        episodes.append(
            {"observations": obs, "actions": acts, "rewards": rews, "terminations": terms, "truncations": truncs}
        )
    return episodes


def recorded_spec(ds):
    """The environment spec Minari recovers for evaluation: its eval_env_spec, else the collecting env's."""
    return getattr(ds, "_eval_env_spec", None) or ds.env_spec


def eval_env_factory(ds, did: str, env_id: str | None):
    """A function making the evaluation environment (before wrapping): ``--env-id`` or Minari's record."""
    if env_id:
        return lambda **kw: checks.make_gym_env(env_id, f"--env-id for {did!r}", **kw)
    if recorded_spec(ds) is None:
        raise ConfigError(f"Minari dataset {did!r} records no environment; name one with --env-id")

    def make(**kw):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return ds.recover_environment(eval_env=True, **kw)
        except Exception as e:  # noqa: BLE001 - e.g. gymnasium-robotics missing, one line
            spec = recorded_spec(ds)
            raise ConfigError(
                f"cannot make the environment {spec.id!r} recorded by Minari dataset {did!r} "
                f"({type(e).__name__}: {' '.join(str(e).split())}); {INSTALL} (gymnasium-robotics for D4RL) "
                "or name another with --env-id"
            ) from None

    return make


def load_task(env: str, env_id: str | None = None, convention: str = "episodes") -> Task:
    """Load a local Minari dataset as a Task; every check runs before anything is written. ``convention``:
    'episodes' (per-episode transitions, every observation key) or 'd4rl' (the file D4RL would have stored, read
    as ``d4rl.qlearning_dataset`` and the release read it: :func:`fidec.data.sources.conventions.d4rl_transitions`,
    without the goal keys)."""
    did = dataset_id(env)
    ds = open_dataset(did)
    keys = view_keys(ds.observation_space, convention)
    episodes = read_episodes(ds, did, keys)
    recorded = eval_env_factory(ds, did, env_id)
    make_raw = recorded if keys is None else (lambda **kw: checks.keys_env(recorded(**kw), keys))
    probe = make_raw()
    try:
        what = f"Minari dataset {did!r} with environment {probe.spec.id if probe.spec else env_id!r}"
        checks.check_spaces(episodes[0]["observations"].shape[-1], probe, what)
        rule = checks.ActionRule.for_space(probe.action_space, episodes[0]["actions"].shape[-1], what)
    finally:
        probe.close()
    for i, ep in enumerate(episodes):
        ep["actions"] = rule.to_unit(ep["actions"], f"Minari dataset {did!r}, episode {i}")
    conv = conventions_for_minari(did)
    data = d4rl_transitions(flat_d4rl_file(episodes), conv) if convention == "d4rl" else transitions(episodes, conv)
    meta = ds.storage.metadata
    normalize = None
    if meta.get("ref_min_score") is not None and meta.get("ref_max_score") is not None:
        minari = import_minari()
        normalize = lambda ret: 100.0 * float(minari.get_normalized_score(ds, np.asarray(ret)))  # noqa: E731
    spec = recorded_spec(ds)
    info = {
        "source": "minari",
        "minari_id": did,
        "episodes": len(episodes),
        "eval_env": env_id or (spec.id if spec else None),
        "conventions": conv.to_dict(),
        "data_convention": convention,
        "observation_keys": keys,
        "transitions": int(len(data["observations"])),
        "actions": rule.describe(),
        "ref_scores": [meta.get("ref_min_score"), meta.get("ref_max_score")] if normalize else None,
        "validation_split": "none: diagnostics use training transitions",
    }
    return Task(
        env_name=PREFIX + did,
        dataset_name=did,
        train=data,
        val=data,
        dataset_dir=str(root()),
        env_factory=lambda **kw: checks.acting_env(make_raw(**kw), rule),
        source="minari",
        normalize_return=normalize,
        info=info,
    )
