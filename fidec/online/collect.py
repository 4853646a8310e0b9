"""The online phase's environments: one per seed, stepped in lockstep, transitions with the offline data's conventions.

Rewards and masks are those of the offline data. OGBench singletask: the environment's own reward
(``success - 1``) and ``mask = 1 - terminated``; with OGBench >= 1.2's ``success_timing='pre'`` and
``terminate_at_goal`` an episode terminates exactly when the state before the step is a success, which is how
``ogbench.relabel_utils.relabel_dataset`` labels the dataset (``rewards = successes - 1``, ``masks = 1 -
successes`` from each row's ``qpos``). Minari/npz: ``mask = 1 - terminated`` (a time-limit truncation bootstraps)
and the source's reward shift (D4RL antmaze ``r - 1``), as FQL's ``main.py`` L140-152.

Every random draw is a function of counters, so a resumed run draws what an uninterrupted one does: episode
``e`` of seed ``s`` resets with :func:`reset_seed` ``(s, e)``, and the action at online step ``t`` uses
``fold_in(act_base_keys([s])[0], t)``. Episodes are also cut at every checkpoint (all environments reset, in the
uninterrupted run too), so a checkpoint never holds an episode in progress. The checkpoint of a stop request
(preemption) is the exception: it falls where the uninterrupted run cuts nothing, so it keeps the episodes going
and the resumed run brings every environment back to where it was (:meth:`OnlineCollector.resume_episodes`: the
same reset seed, then the recorded actions, each step checked against the recorded transition).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from fidec.errors import FidecError

#: Folded into the seed's key for online acting (evaluation uses PRNGKey(eval seed) and its own folds).
ACT_STREAM = 0x6F6E6C


def reset_seed(seed: int, episode: int) -> int:
    """The reset seed of online episode ``episode`` of training seed ``seed``."""
    return int(np.random.default_rng([seed, episode, ACT_STREAM]).integers(2**31 - 1))


def act_base_keys(seeds: list[int]) -> jax.Array:
    """(seeds, 2) keys; online step ``t`` of seed ``s`` acts with ``fold_in(base_keys[s], t)``."""
    return jnp.stack([jax.random.fold_in(jax.random.PRNGKey(s), ACT_STREAM) for s in seeds])


def reward_shift(task) -> float:
    """The shift the task's source applied to the offline rewards (D4RL antmaze: -1), applied online too."""
    return float((task.info.get("conventions") or {}).get("reward_shift", 0.0))


def check_steppable(task) -> None:
    """Make, reset and step the task's environment once with a zero action; a one-line FidecError otherwise."""
    try:
        env = task.make_env()
        obs, _ = env.reset(seed=0)
        obs = np.asarray(obs, np.float32).reshape(-1)
        if obs.shape[0] != task.obs_dim:
            raise ValueError(f"observations have {obs.shape[0]} values, the dataset's {task.obs_dim}")
        out = env.step(np.zeros(task.action_dim, np.float32))
        if len(out) != 5:
            raise ValueError(f"step returned {len(out)} values, not Gymnasium's 5")
        env.close()
    except FidecError:
        raise
    except Exception as e:  # noqa: BLE001 - any failure means no online phase
        msg = " ".join(f"{type(e).__name__}: {e}".split())[:200]
        raise FidecError(
            f"--online-steps needs an environment to act in, but {task.env_name}'s cannot be stepped ({msg}); "
            "fix the environment (--env-id for your own data) or train offline only (--online-steps 0)"
        ) from None


class OnlineCollector:
    """The online phase's transitions: one environment per seed, stepped in lockstep with the actions the policy
    chose. ``reset_all`` starts new episodes; ``step(actions)`` steps every seed once. (Dataset episodes are
    collected by scripted oracles instead: :class:`fidec.data.recipes.OracleCollector`.)"""

    def __init__(self, task, seeds: list[int], episodes: list[int] | None = None):
        self.seeds = list(seeds)
        self.envs = [task.make_env() for _ in seeds]
        self.shift = np.float32(reward_shift(task))
        self.episodes = list(episodes or [0] * len(seeds))  # episodes started so far, per seed
        self.obs = None
        self.ret = np.zeros(len(seeds))
        self.length = np.zeros(len(seeds), np.int64)

    def _reset(self, i: int) -> np.ndarray:
        obs, _ = self.envs[i].reset(seed=reset_seed(self.seeds[i], self.episodes[i]))
        self.episodes[i] += 1
        self.ret[i], self.length[i] = 0.0, 0
        return np.asarray(obs, np.float32).reshape(-1)

    def reset_all(self) -> None:
        """New episodes in every environment."""
        self.obs = np.stack([self._reset(i) for i in range(len(self.envs))])

    def resume_episodes(self, lengths: list[int], rows: dict) -> str | None:
        """Bring each seed's environment back into the episode it was in at a stop checkpoint: the episode's reset
        (the same reset seed), then its ``lengths[i]`` steps so far, replayed with the recorded actions (the last
        ``lengths[i]`` transitions of ``rows``, seeds x n arrays). Returns None, or how the environment failed to
        reproduce a recorded transition (the episode counters are then as before; the caller starts new episodes)."""
        before = list(self.episodes)
        n = len(rows["actions"][0])
        obs, ret, length = [], np.zeros(len(self.envs)), np.zeros(len(self.envs), np.int64)
        for i, steps in enumerate(lengths):
            steps = int(steps)
            if steps > n:
                self.episodes = before
                return f"seed {self.seeds[i]}: the episode in progress has {steps} steps, the checkpoint holds {n}"
            self.episodes[i] -= 1  # the episode in progress, started again
            o = self._reset(i)
            for t in range(n - steps, n):
                nxt, r, terminated, truncated, _ = self.envs[i].step(np.array(rows["actions"][i, t], copy=True))
                nxt = np.asarray(nxt, np.float32).reshape(-1)
                same = (
                    np.array_equal(o, rows["observations"][i, t])
                    and np.array_equal(nxt, rows["next_observations"][i, t])
                    and np.float32(r) + self.shift == rows["rewards"][i, t]
                    and not (terminated or truncated)
                )
                if not same:
                    self.episodes = before
                    return f"seed {self.seeds[i]}, step {t - (n - steps) + 1} of its episode in progress"
                ret[i] += float(r)
                length[i] += 1
                o = nxt
            obs.append(o)
        self.obs, self.ret, self.length = np.stack(obs), ret, length
        return None

    def in_progress(self) -> np.ndarray:
        """(seeds,) 1 where an episode has taken steps and not ended (what :meth:`reset_all` would cut)."""
        return (self.length > 0).astype(np.int64)

    def step(self, actions: np.ndarray) -> tuple[dict, list[tuple[int, float, float, int]]]:
        """One step of every seed: the transitions (seeds x ... arrays) and the episodes that ended
        (seed index, return, success, length)."""
        n = len(self.envs)
        nxt = np.empty_like(self.obs)
        rew, msk = np.empty(n, np.float32), np.empty(n, np.float32)
        ended = []
        new_obs = self.obs.copy()
        for i, env in enumerate(self.envs):
            o, r, terminated, truncated, info = env.step(np.array(actions[i], copy=True))
            nxt[i] = np.asarray(o, np.float32).reshape(-1)
            rew[i] = np.float32(r) + self.shift
            msk[i] = 1.0 - float(terminated)
            self.ret[i] += float(r)
            self.length[i] += 1
            new_obs[i] = nxt[i]
            if terminated or truncated:
                ended.append((i, float(self.ret[i]), float(info.get("success", 0.0)), int(self.length[i])))
                new_obs[i] = self._reset(i)
        rows = {
            "observations": self.obs,
            "actions": np.asarray(actions, np.float32),
            "rewards": rew,
            "masks": msk,
            "next_observations": nxt,
        }
        self.obs = new_obs
        return rows, ended

    def close(self) -> None:
        for env in self.envs:
            env.close()
        self.envs = []
