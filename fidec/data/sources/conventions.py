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
