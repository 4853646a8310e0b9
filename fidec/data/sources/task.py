"""The one thing every data source returns: a :class:`Task` (transitions, environment factory, scoring)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from fidec.io import sha256_file


@dataclass
class Task:
    """Train/val transitions (numpy float32: observations, actions, rewards, masks, next_observations), the
    evaluation environment's factory, and how its returns are scored.

    ``env_name`` is the task's name as given to ``--env`` (an OGBench singletask name, ``minari:ID`` or
    ``npz:PATH``); ``make_env(**kwargs)`` builds the environment the agent is evaluated in, already taking
    actions in [-1, 1] and giving flat observations; ``normalize_return`` maps an undiscounted episode return
    to the dataset's normalised score x 100 (D4RL/Minari reference scores), or is None where there are none.
    ``info`` records what was applied (conventions, action rule, spaces) for the run's config.json.
    """

    env_name: str
    dataset_name: str
    train: dict
    val: dict
    dataset_dir: str
    env_factory: Callable | None = None
    source: str = "ogbench"
    normalize_return: Callable[[float], float] | None = None
    info: dict = field(default_factory=dict)

    @property
    def pixels(self) -> bool:
        """Pixel observations: ``train``/``val`` are :class:`~fidec.data.frames.FrameData`, not dicts."""
        return not isinstance(self.train, dict)

    @property
    def obs_dim(self) -> int:
        if self.pixels:
            raise ValueError("a pixel task has no flat observation dimension; use FrameData.obs_shape(frame_stack)")
        return int(self.train["observations"].shape[-1])

    @property
    def action_dim(self) -> int:
        return int((self.train.actions if self.pixels else self.train["actions"]).shape[-1])

    def transitions(self, split: str = "train") -> int:
        data = getattr(self, split)
        return len(data) if self.pixels else int(len(data["observations"]))

    def make_env(self, **kwargs):
        if self.env_factory is None:  # a Task built by hand for an OGBench name (tests, older callers)
            import ogbench

            return ogbench.make_env_and_datasets(self.env_name, env_only=True, **kwargs)
        return self.env_factory(**kwargs)


def file_task(source: str, prefix: str, path, data: dict, env_factory: Callable, info: dict) -> Task:
    """The Task of one file of transitions (``npz:``, ``hdf5:``): the file is both splits (diagnostics use
    training transitions) and returns have no reference scores; ``info`` gains the file and its sha256."""
    info = {
        "source": source,
        "file": str(path),
        "sha256": sha256_file(path),
        **info,
        "validation_split": "none: diagnostics use training transitions",
    }
    return Task(
        env_name=prefix + str(path),
        dataset_name=path.stem,
        train=data,
        val=data,
        dataset_dir=str(path.parent),
        env_factory=env_factory,
        source=source,
        normalize_return=None,
        info=info,
    )
