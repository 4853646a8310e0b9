"""Checks shared by the Minari and ``.npz`` sources: spaces against data, finiteness, the action rule.

Each check raises a one-line :class:`~fidec.errors.DatasetError` (or ``ConfigError`` for the environment)
that says what is wrong and what to do; they run before a run folder is touched.

The action rule. The agents act in [-1, 1]^d. Where the environment's action space is a bounded ``Box``
other than [-1, 1] (Pendulum's [-2, 2], say), dataset actions are mapped linearly from [low, high] to
[-1, 1], ``a' = 2 (a - low) / (high - low) - 1``, and the policy's actions are mapped back when acting,
``a = low + (a' + 1) (high - low) / 2`` (:class:`UnitActions`). Dataset actions outside the space's bounds
(by more than :data:`ACTION_TOLERANCE`) are rejected, never clipped into range. Where the space is
unbounded, dataset actions must already lie in [-1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fidec.errors import ConfigError, DatasetError

#: How far (absolute) a dataset action may stray outside the action space's bounds and still count as inside
#: (float round-off in stored data); such actions are clipped to the bounds after the check.
ACTION_TOLERANCE = 1e-5


def flat_observations(obs, space, what: str) -> np.ndarray:
    """Stacked observations of ``space`` as (T, flatdim) float32, in ``gymnasium.spaces.flatten``'s order
    (a ``Dict`` space's keys in the space's order, a ``Tuple`` in its order), so that they match what
    ``gymnasium.wrappers.FlattenObservation`` gives the agent when it acts."""
    from gymnasium import spaces

    if isinstance(space, spaces.Box):
        a = np.asarray(obs)
        if a.ndim < 1 or a.shape[1:] != space.shape:
            raise DatasetError(
                f"{what}: observations have shape {a.shape}, but the observation space is {space} "
                "(per-step shape differs); the data and the environment disagree"
            )
        return a.reshape(len(a), -1).astype(np.float32)
    if isinstance(space, spaces.Dict):
        if not isinstance(obs, dict) or set(obs) != set(space.spaces):
            got = sorted(obs) if isinstance(obs, dict) else type(obs).__name__
            raise DatasetError(f"{what}: observation keys {got} differ from the space's {sorted(space.spaces)}")
        return np.concatenate([flat_observations(obs[k], s, f"{what}['{k}']") for k, s in space.spaces.items()], -1)
    if isinstance(space, spaces.Tuple):
        if not isinstance(obs, (tuple, list)) or len(obs) != len(space.spaces):
            raise DatasetError(f"{what}: observations do not match the tuple space {space}")
        return np.concatenate(
            [flat_observations(o, s, f"{what}[{i}]") for i, (o, s) in enumerate(zip(obs, space.spaces, strict=True))],
            -1,
        )
    raise DatasetError(
        f"{what}: observation space {space} is not supported (fidec takes Box observations, or Dict/Tuple of Box, "
        "flattened)"
    )


def check_finite(name: str, a: np.ndarray, what: str) -> None:
    a = np.asarray(a)
    if a.dtype.kind not in "fc":
        return
    bad = ~np.isfinite(a)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DatasetError(
            f"{what}: non-finite value ({a[first]}) in '{name}' at row {first[0]} "
            f"({int(bad.reshape(len(a), -1).any(axis=1).sum())} rows affected); remove or repair those steps"
        )


@dataclass(frozen=True)
class ActionRule:
    """The linear map between an environment's action box [low, high] and the agents' [-1, 1]."""

    low: np.ndarray
    high: np.ndarray
    identity: bool

    @classmethod
    def for_space(cls, space, action_dim: int, what: str) -> ActionRule:
        from gymnasium import spaces

        if not isinstance(space, spaces.Box) or len(space.shape) != 1:
            raise ConfigError(
                f"{what}: action space {space} is not supported; fidec's agents take continuous 1-D Box actions"
            )
        if space.shape[0] != action_dim:
            raise DatasetError(
                f"{what}: the data has {action_dim}-dimensional actions but the environment's action space is "
                f"{space}; use data and an environment that match (--env-id)"
            )
        low, high = np.asarray(space.low, np.float64), np.asarray(space.high, np.float64)
        bounded = bool(np.all(np.isfinite(low)) and np.all(np.isfinite(high)) and np.all(high > low))
        identity = not bounded or bool(np.all(low == -1.0) and np.all(high == 1.0))
        if not bounded:
            low, high = -np.ones(action_dim), np.ones(action_dim)
        return cls(low, high, identity)

    def to_unit(self, actions: np.ndarray, what: str) -> np.ndarray:
        """Dataset actions in [-1, 1]; a one-line error if any lies outside [low, high] (+ tolerance)."""
        a = np.asarray(actions, np.float64)
        out = (a < self.low - ACTION_TOLERANCE) | (a > self.high + ACTION_TOLERANCE)
        if out.any():
            row, col = (int(x) for x in np.argwhere(out)[0])
            rng = f"[{self.low[col]:g}, {self.high[col]:g}]"
            raise DatasetError(
                f"{what}: action {a[row, col]:.4g} at row {row}, column {col} is outside the action space's "
                f"range {rng} ({int(out.any(axis=1).sum())} rows out of range); fix the data or use the "
                "environment it was collected in (--env-id)"
            )
        a = np.clip(a, self.low, self.high)
        if self.identity:
            return a.astype(np.float32)
        return (2.0 * (a - self.low) / (self.high - self.low) - 1.0).astype(np.float32)

    def from_unit(self, unit_actions: np.ndarray) -> np.ndarray:
        u = np.clip(np.asarray(unit_actions, np.float64), -1.0, 1.0)
        if self.identity:
            return u
        return self.low + (u + 1.0) * (self.high - self.low) / 2.0

    def describe(self) -> dict:
        if self.identity:
            return {"rule": "identity (actions already in [-1, 1])"}
        return {
            "rule": "linear [low, high] -> [-1, 1] for the data; [-1, 1] -> [low, high] when acting",
            "low": self.low.tolist(),
            "high": self.high.tolist(),
        }


def acting_env(env, rule: ActionRule):
    """``env`` taking [-1, 1] actions (``rule`` maps them back) and giving flat float observations."""
    import gymnasium
    from gymnasium import spaces

    if not (isinstance(env.observation_space, spaces.Box) and len(env.observation_space.shape) == 1):
        env = gymnasium.wrappers.FlattenObservation(env)
    if not rule.identity:
        env = UnitActions(env, rule)
    return env


def _unit_actions_class():
    import gymnasium

    class _UnitActions(gymnasium.ActionWrapper):
        """The agent's [-1, 1] actions, mapped to the environment's box by the :class:`ActionRule`."""

        def __init__(self, env, rule: ActionRule):
            super().__init__(env)
            self.rule = rule
            self.action_space = gymnasium.spaces.Box(-1.0, 1.0, env.action_space.shape, np.float32)

        def action(self, action):
            return self.rule.from_unit(action).astype(self.env.action_space.dtype)

    return _UnitActions


def UnitActions(env, rule: ActionRule):  # noqa: N802 - a wrapper constructor
    return _unit_actions_class()(env, rule)


def keys_env(env, keys: list[str]):
    """``env`` (with a Dict observation space) giving the flat concatenation of ``keys``' observations, in that
    order: the acting side of a data view that keeps only some keys (the d4rl view leaves the goal out)."""
    import gymnasium
    from gymnasium import spaces

    if not isinstance(env.observation_space, spaces.Dict):
        return env  # nothing to select: the space check compares sizes
    missing = [k for k in keys if k not in env.observation_space.spaces]
    if missing:
        raise ConfigError(
            f"the environment's observations lack the key(s) {', '.join(missing)} of the data; use an environment "
            "whose observation space matches the data's (--env-id)"
        )
    sub = [env.observation_space.spaces[k] for k in keys]

    class _Keys(gymnasium.ObservationWrapper):
        def __init__(self, env):
            super().__init__(env)
            dim = sum(spaces.flatdim(s) for s in sub)
            self.observation_space = spaces.Box(-np.inf, np.inf, (dim,), np.float32)

        def observation(self, obs):
            return np.concatenate([spaces.flatten(s, obs[k]) for k, s in zip(keys, sub, strict=True)]).astype(
                np.float32
            )

    return _Keys(env)


def check_spaces(data_obs_dim: int, env, what: str) -> None:
    """The environment's flattened observation size equals the data's."""
    from gymnasium import spaces

    dim = spaces.flatdim(env.observation_space)
    if dim != data_obs_dim:
        raise DatasetError(
            f"{what}: the data has {data_obs_dim}-dimensional observations but the environment's observation "
            f"space {env.observation_space} flattens to {dim}; use data and an environment that match (--env-id)"
        )


def make_gym_env(env_id: str, what: str, **kwargs):
    """``gymnasium.make(env_id)``, registering gymnasium-robotics' and OGBench's environments first if they
    are installed; a one-line ConfigError if the id is unknown or the environment cannot be built."""
    import warnings

    import gymnasium

    for module in ("gymnasium_robotics", "ogbench"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mod = __import__(module)
            if module == "gymnasium_robotics":
                gymnasium.register_envs(mod)
        except ImportError:
            pass
    try:
        gymnasium.spec(env_id)
    except Exception as e:  # noqa: BLE001 - gymnasium's NameNotFound/VersionNotFound/... in one line
        raise ConfigError(
            f"{what}: unknown Gymnasium environment {env_id!r} ({' '.join(str(e).split())}); check the id, or "
            "install the package that registers it (D4RL's environments: pip install 'fidec[minari]')"
        ) from None
    try:
        return gymnasium.make(env_id, **kwargs)
    except Exception as e:  # noqa: BLE001 - a missing dependency or bad kwargs, reported in one line
        raise ConfigError(
            f"{what}: cannot make environment {env_id!r}: {type(e).__name__}: {' '.join(str(e).split())}"
        ) from None


def probe_env(env_id: str, obs_dim: int, action_dim: int, file_name: str, dict_keys=None):
    """Build ``env_id`` once and check a file's data against it: (its :class:`ActionRule`, the observation keys
    kept or None). ``dict_keys(names)``, where given, chooses the keys of a Dict observation space to keep (the
    d4rl view); the data's observation and action sizes must match what the environment then gives."""
    probe = make_gym_env(env_id, f"{file_name} with --env-id {env_id}")
    keys = None
    try:
        from gymnasium import spaces

        if dict_keys is not None and isinstance(probe.observation_space, spaces.Dict):
            keys = dict_keys(list(probe.observation_space.spaces))
            probe = keys_env(probe, keys)
        what = f"{file_name} with environment {env_id!r}"
        check_spaces(obs_dim, probe, what)
        return ActionRule.for_space(probe.action_space, action_dim, what), keys
    finally:
        probe.close()


def env_factory(env_id: str, rule: ActionRule, keys=None):
    """The evaluation environment's factory of a file's task: ``env_id`` acting in [-1, 1] (``rule``), with flat
    observations (only ``keys`` of a Dict space, where given)."""

    def make(**kwargs):
        raw = make_gym_env(env_id, f"--env-id {env_id}", **kwargs)
        return acting_env(keys_env(raw, keys) if keys else raw, rule)

    return make
