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
