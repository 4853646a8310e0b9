"""Typed configuration: one dataclass, per-task presets from the paper, command-line overrides.

Resolution order (later wins): dataclass defaults (the published configuration) -> preset
(``paper`` adds the per-family values of method.md's table, chosen from the task name; ``tiny`` and
``cpu`` shrink the budget) -> explicit overrides (command line or keyword arguments).
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field, fields

from fidec.errors import ConfigError

AGENTS = ("fd", "deflow", "fql", "bc")
PRESETS = ("paper", "cpu", "tiny")
#: FD and DeFlow are one refinement agent; this is the metric each one uses.
AGENT_METRIC = {"fd": "fisher", "deflow": "isotropic"}


@dataclass
class Config:
    """Every hyperparameter of a run. Defaults are the authors' published configuration (method.md)."""

    # --- what to run
    agent: str = "fd"
    env: str = "cube-single-play-singletask-task2-v0"
    preset: str = "paper"
    seed: int = 0
    num_seeds: int = 1  # seeds seed..seed+num_seeds-1 trained together in one process (vmap)
    steps: int = 1_000_000

    # --- optimisation (all networks)
    batch_size: int = 256
    lr: float = 3e-4
    hidden_dims: tuple[int, ...] = (512, 512, 512, 512)
    grad_clip: float = 5.0  # global-norm clip, applied to each network's gradient separately

    # --- critic
    discount: float = 0.99
    tau: float = 0.005
    q_agg: str = "mean"  # 'mean' or 'min' over the 2-critic ensemble in the TD target

    # --- behaviour flow
    flow_steps: int = 10  # K Euler steps

    # --- refinement (fd / deflow)
    target_divergence: float = 0.001  # epsilon: the budget on E[D(delta; s)]
    alpha_init: float = 10.0
    lagrangian: bool = True  # False: alpha stays at alpha_init
    normalize_q: bool = False  # divide the Q term by stopgrad(mean |Q|)
    act_samples: int = 1  # best-of-N acting: N base actions, keep the highest-Q one, refine it

    # --- Fisher metric (fd)
    fisher_samples: int = 8  # N behaviour samples per state
    fisher_t_max: float = 0.90  # t_f
    fisher_t_width: float = 0.05  # w: t ~ U[t_f - w, t_f]
    fisher_damping: float = 1e-3
    score_estimator: str = "velocity"  # 'velocity' (v/(1-t), paper default) or 'exact' ((t v - x)/(1-t))
    fisher_locality: str = "per-state"  # 'per-state' (paper default) or 'per-action' (method.md, Locality)

    # --- FQL
    fql_alpha: float = 10.0

    # --- training loop, evaluation and logging
    chunk_size: int = 1000  # updates per compiled call (lax.scan)
    log_every: int = 5000
    eval_every: int = 100_000
    eval_episodes: int = 50
    checkpoint_every: int = 100_000
    dataset_dir: str | None = None
    eval_mode: str = "vectorised"  # 'vectorised' (all episodes and seeds in lockstep) or 'sequential'
    eval_envs: int = 20  # vectorised: most environments alive at once (a MuJoCo cube env takes ~150 MB)
    eval_workers: int = 0  # vectorised: worker processes stepping the environments (0: this process)
    logger: str = "none"  # extra sinks beside metrics.jsonl/csv: 'tensorboard', 'wandb' or both, comma-separated

    # informational, filled by resolution
    family: str | None = field(default=None, metadata={"derived": True})

    @property
    def metric(self) -> str | None:
        return AGENT_METRIC.get(self.agent)

    @property
    def seeds(self) -> list[int]:
        return list(range(self.seed, self.seed + self.num_seeds))

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["hidden_dims"] = list(self.hidden_dims)
        d["metric"] = self.metric
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> Config:
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        if "hidden_dims" in kw:
            kw["hidden_dims"] = tuple(kw["hidden_dims"])
        cfg = cls(**kw)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        def bad(msg):
            raise ConfigError(msg)

        if self.agent not in AGENTS:
            bad(f"unknown agent {self.agent!r}; choose one of {', '.join(AGENTS)}")
        if self.preset not in PRESETS:
            bad(f"unknown preset {self.preset!r}; choose one of {', '.join(PRESETS)}")
        if self.q_agg not in ("mean", "min"):
            bad(f"q_agg must be 'mean' or 'min', not {self.q_agg!r}")
        if self.score_estimator not in ("velocity", "exact"):
            bad(f"score_estimator must be 'velocity' or 'exact', not {self.score_estimator!r}")
        if self.fisher_locality not in ("per-state", "per-action"):
            bad(f"fisher_locality must be 'per-state' or 'per-action', not {self.fisher_locality!r}")
        if not (
            0.0 <= self.fisher_t_max - self.fisher_t_width and 0.0 <= self.fisher_t_width and self.fisher_t_max < 1.0
        ):
            bad("need 0 <= fisher_t_max - fisher_t_width <= fisher_t_max < 1 (the score divides by 1 - t)")
        for name in (
            "steps",
            "batch_size",
            "flow_steps",
            "fisher_samples",
            "chunk_size",
            "num_seeds",
            "log_every",
            "eval_every",
            "checkpoint_every",
            "act_samples",
        ):
            if getattr(self, name) < 1:
                bad(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.eval_mode not in ("vectorised", "sequential"):
            bad(f"eval_mode must be 'vectorised' or 'sequential', not {self.eval_mode!r}")
        from fidec.loggers import parse_loggers

        parse_loggers(self.logger)  # raises ConfigError naming the choices
        if self.eval_envs < 1 or self.eval_workers < 0:
            bad("eval_envs must be >= 1 and eval_workers >= 0")
        if self.eval_episodes < 0:
            bad("eval_episodes must be >= 0")
        for name in ("log_every", "eval_every", "checkpoint_every"):
            if getattr(self, name) % self.chunk_size:
                bad(f"{name} ({getattr(self, name)}) must be a multiple of chunk_size ({self.chunk_size})")
        if self.target_divergence <= 0:
            bad("target_divergence must be > 0")
        if not self.hidden_dims:
            bad("hidden_dims must name at least one layer width")


# --- per-family values of method.md's table (OGBench singletask, state-based)
#: family regex -> (discount, q_agg, target_divergence (FD = DeFlow), fql_alpha)
FAMILY_TABLE: dict[str, tuple[float, str, float, float]] = {
    "antmaze-large-navigate": (0.99, "min", 0.01, 10.0),
    "antmaze-giant-navigate": (0.995, "min", 0.01, 10.0),
    "humanoidmaze-medium-navigate": (0.995, "mean", 0.001, 30.0),
    "humanoidmaze-large-navigate": (0.995, "mean", 0.001, 30.0),
    "antsoccer-arena-navigate": (0.995, "mean", 0.01, 10.0),
    "cube-single-play": (0.99, "mean", 0.001, 300.0),
    "cube-double-play": (0.99, "mean", 0.001, 300.0),
    "scene-play": (0.99, "mean", 0.001, 300.0),
    "puzzle-3x3-play": (0.99, "mean", 0.005, 1000.0),
    "puzzle-4x4-play": (0.99, "mean", 0.005, 1000.0),
}


def task_family(env: str) -> str | None:
    """The method.md table row for an OGBench singletask name, e.g. 'cube-single-play-singletask-task2-v0'
    -> 'cube-single-play'; None for families the table does not list (e.g. point mazes)."""
    base = re.sub(r"-singletask(-task\d+)?-v\d+$", "", env)
    return base if base in FAMILY_TABLE else None


def _preset_values(preset: str, env: str) -> dict:
    vals: dict = {}
    fam = task_family(env)
    if fam is not None:
        discount, q_agg, eps, fql_alpha = FAMILY_TABLE[fam]
        vals.update(discount=discount, q_agg=q_agg, target_divergence=eps, fql_alpha=fql_alpha)
    vals["family"] = fam
    if preset == "cpu":
        # A reduced budget for 2-core CPUs (the `cpu` benchmark suite); the method's math is unchanged.
        vals.update(
            hidden_dims=(256, 256, 256),
            eval_episodes=20,
            log_every=1000,
            chunk_size=500,
            eval_every=5000,
            checkpoint_every=5000,
        )
    elif preset == "tiny":
        # Seconds, for tests: tiny networks and budget; same code paths.
        vals.update(
            hidden_dims=(32, 32),
            batch_size=32,
            flow_steps=3,
            fisher_samples=4,
            steps=40,
            chunk_size=10,
            log_every=10,
            eval_every=20,
            checkpoint_every=20,
            eval_episodes=2,
        )
    return vals


def resolve(overrides: dict | None = None) -> Config:
    """A Config from defaults, then the preset named in ``overrides`` (default paper), then ``overrides``."""
    overrides = dict(overrides or {})
    names = {f.name for f in fields(Config)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ConfigError(f"unknown config field(s): {', '.join(unknown)}; see 'fidec train --help'")
    preset = overrides.get("preset", Config.preset)
    env = overrides.get("env", Config.env)
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    values = _preset_values(preset, env)
    values.update(overrides)
    if "hidden_dims" in values:
        values["hidden_dims"] = tuple(values["hidden_dims"])
    cfg = Config(**values)
    cfg.validate()
    return cfg


#: The built-in default job (`fidec quickstart`, the README's first command), chosen by measurement (README):
#: FD with the per-action Fisher (method.md, "Locality"; the fast option, a third of the per-state cost) on
#: a point-maze task whose goal flow BC never reaches from the navigate data, small networks for a 2-D
#: state, and a budget that fits a 2-core CPU. Everything else is the published configuration.
QUICKSTART = {
    "dataset": "pointmaze-medium-navigate-v0",
    "dataset_episodes": 300,
    "overrides": {
        "env": "pointmaze-medium-navigate-singletask-task3-v0",
        "preset": "paper",
        "fisher_locality": "per-action",
        "hidden_dims": (128, 128, 128),
        "steps": 40_000,
        "chunk_size": 500,
        "log_every": 2500,
        "eval_every": 5000,
        "checkpoint_every": 5000,
        "eval_episodes": 20,
    },
}
