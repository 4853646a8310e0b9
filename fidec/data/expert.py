"""The ant locomotion expert as data generation uses it: a NumPy actor loaded from ``expert.npz``.

``fidec data generate antmaze-*`` collects its episodes with this deterministic actor (``tanh(mean)``, OGBench's
``eval_temperature=0``) and needs nothing else: no JAX, no training code. The expert is trained by
``fidec data expert ant`` (:mod:`fidec.experts`), which writes the file this module reads.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fidec.errors import FidecError
from fidec.paths import dataset_dir as resolve_dataset_dir

EXPERT_FILE = "expert.npz"
EXPERT_FORMAT = "fidec-sac-expert/1"
#: The experts fidec knows; only the ant one is implemented (see ``fidec data list`` for the others' cost).
EXPERTS = ("ant",)


def default_expert_dir(dataset_dir=None, name: str = "ant") -> Path:
    """Where ``fidec data expert NAME`` writes and ``fidec data generate`` looks: ``{dataset_dir}/experts/NAME``."""
    return resolve_dataset_dir(dataset_dir) / "experts" / name


@dataclass
class Expert:
    """The deterministic expert (``eval_temperature=0``: ``tanh(mean)``) in NumPy, for data collection."""

    layers: list  # [(kernel, bias), ...] hidden layers
    mean: tuple
    meta: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Expert:
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except Exception as e:  # noqa: BLE001 - any unreadable file gets the same remedy
            raise FidecError(
                f"cannot read the expert {path}: {' '.join(str(e).split())}; retrain it with 'fidec data expert ant'"
            ) from None
        meta = json.loads(str(arrays.pop("meta")))
        if meta.get("format") != EXPERT_FORMAT:
            raise FidecError(f"{path} is not a fidec expert (format {meta.get('format')!r}, expected {EXPERT_FORMAT})")
        return cls.from_arrays(arrays, len(meta["config"]["actor_hidden_dims"]), meta)

    @classmethod
    def from_arrays(cls, arrays: dict, n_hidden: int, meta: dict | None = None) -> Expert:
        layers = [(arrays[f"hidden_{i}/kernel"], arrays[f"hidden_{i}/bias"]) for i in range(n_hidden)]
        return cls(layers, (arrays["mean/kernel"], arrays["mean/bias"]), meta or {})

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        x = np.asarray(obs, np.float32)
        for w, b in self.layers:
            x = _gelu(x @ w + b)
        return np.clip(np.tanh(x @ self.mean[0] + self.mean[1]), -1, 1)


def _gelu(x):
    """flax ``nn.gelu`` (approximate=True)."""
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))
