"""The D4RL conventions of the authors' release (FQL's, unchanged), applied to Minari and ``.npz`` episodes.

Where each comes from (release = ARC0127/Fisher-Decorator @ 8c90736, FQL = seohongpark/fql @ 719d044):

- antmaze rewards are shifted by -1 (sparse 0/1 -> -1/0): release and FQL ``envs/d4rl_utils.py`` L31-37
  (``rewards = rewards - 1.0`` when 'antmaze' is in the name); the online transitions too, release
  ``main.py`` L151-155, FQL ``main.py`` L140-144.
- masks = 1 - terminals: only a true termination stops bootstrapping; a time-limit truncation (D4RL
  ``timeouts``, Minari ``truncations``) keeps the mask at 1 (release ``envs/d4rl_utils.py`` L36, L47-48;
  online ``masks=1.0 - terminated``, release ``main.py`` L163, FQL ``main.py`` L152).
- dataset actions are clipped to [-1 + 1e-5, 1 - 1e-5]: release ``envs/env_utils.py`` L148-156.
- 500k gradient steps and one evaluation at the end (the 500k one): release
  ``scripts/fql_scope_registry.sh`` L132-146 (``OFFLINE_STEPS=500000``, ``PAPER_EVAL_STEPS="500000"``); these
  live in the preset table (:mod:`fidec.config.presets`).

Transitions are built per episode (``next_observations[t] = observations[t + 1]``), so no transition crosses
an episode boundary; D4RL's flat files needed the release's ``terminals`` reconstruction for that, Minari's
episodes do not.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

#: The release clips dataset actions to [-1 + eps, 1 - eps] (envs/env_utils.py L148-156).
ACTION_CLIP_EPS = 1e-5


@dataclass(frozen=True)
class Conventions:
    """What is done to a dataset's rewards and masks before training."""

    name: str = "none"
    reward_shift: float = 0.0  # added to every offline reward

    def to_dict(self) -> dict:
        return asdict(self)


NONE = Conventions()
D4RL_ANTMAZE = Conventions(name="d4rl-antmaze", reward_shift=-1.0)


def minari_env_part(dataset_id: str) -> str | None:
    """The environment part of a Minari id: 'D4RL/antmaze/large-diverse-v1' -> 'antmaze'; None without one."""
    parts = dataset_id.split("/")
    return parts[-2] if len(parts) >= 2 else None


def conventions_for_minari(dataset_id: str) -> Conventions:
    """D4RL antmaze conventions for any Minari id whose environment part is 'antmaze' (as the release applies
    them to any name containing 'antmaze'); none otherwise (adroit, your own data)."""
    return D4RL_ANTMAZE if minari_env_part(dataset_id) == "antmaze" else NONE


def transitions(episodes: list[dict], conventions: Conventions) -> dict:
    """Flat float32 transitions from episodes.

    Each episode is a dict with ``observations`` (T + 1, obs_dim), ``actions`` (T, act_dim) already in
    [-1, 1], ``rewards`` (T,), ``terminations`` (T,) and ``truncations`` (T,). Masks are
    ``1 - terminations``; truncations do not touch them. Rewards get ``conventions.reward_shift``.
    """
    obs, nxt, act, rew, msk = [], [], [], [], []
    for ep in episodes:
        o = np.asarray(ep["observations"], np.float32)
        obs.append(o[:-1])
        nxt.append(o[1:])
        act.append(np.asarray(ep["actions"], np.float32))
        rew.append(np.asarray(ep["rewards"], np.float32).reshape(-1) + np.float32(conventions.reward_shift))
        msk.append(1.0 - np.asarray(ep["terminations"], np.float32).reshape(-1))
    return {
        "observations": np.concatenate(obs),
        "actions": np.clip(np.concatenate(act), -1 + ACTION_CLIP_EPS, 1 - ACTION_CLIP_EPS).astype(np.float32),
        "rewards": np.concatenate(rew).astype(np.float32),
        "masks": np.concatenate(msk).astype(np.float32),
        "next_observations": np.concatenate(nxt),
    }


# ---------------------------------------------------------------------------------------------------- the d4rl view
#: Observation keys the d4rl view leaves out: D4RL's observations carry no goal (the release's antmaze
#: observations are D4RL's 29 numbers, torso x, y first; the goal is only in ``infos/goal``).
GOAL_KEYS = ("desired_goal",)
#: Keys the d4rl view puts first, in this order: gymnasium-robotics' AntMaze splits D4RL's observation into
#: ``achieved_goal`` (torso x, y) and ``observation`` (the rest), so this order gives D4RL's layout back.
LEADING_KEYS = ("achieved_goal", "observation")


def d4rl_observation_keys(keys) -> list[str]:
    """The keys of a Dict observation the d4rl view keeps, in its order: :data:`LEADING_KEYS` first, then the
    others in their given order; :data:`GOAL_KEYS` dropped."""
    keys = [k for k in keys if k not in GOAL_KEYS]
    return [k for k in LEADING_KEYS if k in keys] + [k for k in keys if k not in LEADING_KEYS]


def flat_d4rl_file(episodes: list[dict]) -> dict:
    """Episodes laid out as a D4RL file: one row per step (``observations`` without each episode's final
    observation, ``actions``, ``rewards``, ``terminals`` = terminations, ``timeouts`` = truncations)."""
    cat = lambda key, f=lambda a: a: np.concatenate([f(np.asarray(ep[key])) for ep in episodes])  # noqa: E731
    return {
        "observations": cat("observations", lambda a: a[:-1]),
        "actions": cat("actions"),
        "rewards": cat("rewards", lambda a: a.reshape(-1)),
        "terminals": cat("terminations", lambda a: a.reshape(-1)),
        "timeouts": cat("truncations", lambda a: a.reshape(-1)),
    }


def qlearning_dataset(arrays: dict, max_episode_steps: int | None = None) -> dict:
    """``d4rl.qlearning_dataset(env, dataset)`` on a D4RL-format dict (D4RL's ``offline_env.py``): for each row
    ``i < N - 1`` the transition ``(observations[i], actions[i], rewards[i], observations[i + 1],
    terminals[i])``, float32, except rows that end in a timeout, which are dropped (their next observation is not
    in the file). The file's last row is always dropped. Without ``timeouts`` an episode ends after
    ``max_episode_steps`` steps, as D4RL counts them."""
    n = len(arrays["rewards"])
    terminals = np.asarray(arrays["terminals"]).reshape(-1).astype(bool)
    if "timeouts" in arrays:
        final = np.asarray(arrays["timeouts"]).reshape(-1).astype(bool)
    elif max_episode_steps is not None:
        final, step = np.zeros(n, bool), 0
        for i in range(n - 1):
            final[i] = step == max_episode_steps - 1
            step = 0 if (final[i] or terminals[i]) else step + 1
    else:
        raise ValueError("a D4RL-format dataset without 'timeouts' needs the episode length (max_episode_steps)")
    idx = np.nonzero(~final[: n - 1])[0]
    obs = np.asarray(arrays["observations"], np.float32)
    return {
        "observations": obs[idx],
        "actions": np.asarray(arrays["actions"], np.float32)[idx],
        "next_observations": obs[idx + 1],
        "rewards": np.asarray(arrays["rewards"], np.float32).reshape(-1)[idx],
        "terminals": terminals[idx],
    }


def d4rl_transitions(arrays: dict, conventions: Conventions, max_episode_steps: int | None = None) -> dict:
    """The release's D4RL training data from a D4RL-format dict: :func:`qlearning_dataset`, then
    ``envs/d4rl_utils.py`` L26-58 (masks = 1 - terminals, so a timeout never stops bootstrapping; antmaze
    rewards - 1; float32) and ``envs/env_utils.py`` L148-156 (actions clipped to [-1 + 1e-5, 1 - 1e-5]).
    Actions must already be in the agents' [-1, 1] units."""
    q = qlearning_dataset(arrays, max_episode_steps)
    return {
        "observations": q["observations"],
        "actions": np.clip(q["actions"], -1 + ACTION_CLIP_EPS, 1 - ACTION_CLIP_EPS).astype(np.float32),
        "rewards": (q["rewards"] + np.float32(conventions.reward_shift)).astype(np.float32),
        "masks": (1.0 - q["terminals"]).astype(np.float32),
        "next_observations": q["next_observations"],
    }


def conventions_for_family(family: str | None) -> Conventions:
    """D4RL antmaze conventions for the 'd4rl-antmaze' family (:func:`fidec.tasknames.d4rl_dataset`), none
    otherwise."""
    return D4RL_ANTMAZE if family == "d4rl-antmaze" else NONE
