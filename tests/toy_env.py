"""A toy environment light enough to import in evaluation worker processes."""

import gymnasium as gym
import numpy as np


class VariableLengthEnv(gym.Env):
    """A deterministic toy task whose episode length (4..13 steps) and success depend on the reset seed and actions."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.length = 4 + int(self.np_random.integers(10))
        self.t = 0
        self.x = self.np_random.normal(size=4).astype(np.float32)
        return self.x.copy(), {}

    def step(self, action):
        self.t += 1
        self.x = (0.9 * self.x + np.concatenate([action, action])).astype(np.float32)
        success = float(self.x.sum() > 0)
        return self.x.copy(), float(self.x[0]), False, self.t >= self.length, {"success": success}


class GoalEnv(gym.Env):
    """A toy singletask in OGBench's form (success_timing 'pre', terminate_at_goal): the reward is
    ``success - 1`` and the episode terminates when the state *before* the step is at the goal (x[0] >= 1).
    Actions push x[0] up or down; 12 steps at most."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.x = np.array([self.np_random.uniform(0.0, 0.9), 0.0, 1.0], np.float32)
        return self.x.copy(), {}

    def compute_success(self, x) -> float:
        return float(x[0] >= 1.0)

    def step(self, action):
        success = self.compute_success(self.x)  # 'pre': the state before the step
        self.t += 1
        self.x = np.array([self.x[0] + 0.5 * float(action[0]), float(action[1]), 1.0], np.float32)
        return self.x.copy(), success - 1.0, bool(success), self.t >= 12, {"success": success}


class BrokenEnv(VariableLengthEnv):
    """Resets, but cannot be stepped."""

    def step(self, action):
        raise RuntimeError("this simulator cannot step")
