"""Typed configuration: one dataclass, per-task presets from the paper, command-line overrides.

Resolution order (later wins): dataclass defaults (the published configuration) -> preset
(``paper`` adds the per-family values of method.md's table, chosen from the task name; ``tiny`` and
``cpu`` shrink the budget) -> explicit overrides (command line or keyword arguments).
"""

from __future__ import annotations

import dataclasses
import json
import math
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
        if isinstance(kw.get("hidden_dims"), list):
            kw["hidden_dims"] = tuple(kw["hidden_dims"])
        cfg = cls(**kw)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Every field against its type and :data:`FIELDS` rule, then the rules that tie fields together;
        the first problem is a one-line ``ConfigError``."""

        def bad(msg):
            raise ConfigError(msg)

        hints = _hints()
        for f in fields(self):
            problem = check_field(f.name, getattr(self, f.name), hints[f.name])
            if problem:
                bad(problem)
        if not (
            0.0 <= self.fisher_t_max - self.fisher_t_width and 0.0 <= self.fisher_t_width and self.fisher_t_max < 1.0
        ):
            bad("need 0 <= fisher_t_max - fisher_t_width <= fisher_t_max < 1 (the score divides by 1 - t)")
        for name in ("log_every", "eval_every", "checkpoint_every"):
            if getattr(self, name) % self.chunk_size:
                bad(f"{name} ({getattr(self, name)}) must be a multiple of chunk_size ({self.chunk_size})")


@dataclass(frozen=True)
class Rule:
    """What a config field means and which values it takes: the one source of its ``--help`` text and of its
    check in :meth:`Config.validate`. Bounds apply to numbers and to each element of a tuple."""

    help: str
    choices: tuple = ()
    low: float | None = None
    low_open: bool = False  # True: value > low; False: value >= low
    high: float | None = None
    high_open: bool = False

    def allowed(self) -> str:
        """The allowed values in words, e.g. ``0 < x <= 1`` or ``one of mean, min``."""
        if self.choices:
            return "one of " + ", ".join(map(str, self.choices))
        lo = None if self.low is None else f"{self.low:g} {'<' if self.low_open else '<='} "
        hi = None if self.high is None else f" {'<' if self.high_open else '<='} {self.high:g}"
        if lo and hi:
            return f"{lo}x{hi}"
        if lo:
            return f"x {'>' if self.low_open else '>='} {self.low:g}"
        if hi:
            return "x" + hi
        return ""

    def violated(self, x) -> bool:
        if self.choices and x not in self.choices:
            return True
        if self.low is not None and (x <= self.low if self.low_open else x < self.low):
            return True
        return self.high is not None and (x >= self.high if self.high_open else x > self.high)


#: Every Config field: its help text and allowed values (tests fail for a field without an entry).
FIELDS: dict[str, Rule] = {
    "agent": Rule("agent to train: fd (Fisher Decorator), deflow (isotropic metric), fql, bc (flow BC)", AGENTS),
    "env": Rule("OGBench singletask task, e.g. cube-single-play-singletask-task2-v0 (datasets: 'fidec data list')"),
    "preset": Rule(
        "paper: the published configuration plus method.md's per-family values; cpu: 3x256 networks and a "
        "CPU-sized schedule; tiny: seconds, for tests",
        PRESETS,
    ),
    "seed": Rule("first random seed", low=0),
    "num_seeds": Rule("seeds seed..seed+N-1 trained together in one process (vmapped)", low=1),
    "steps": Rule("gradient updates per seed", low=1),
    "batch_size": Rule("transitions per minibatch", low=1),
    "lr": Rule("Adam learning rate of every network", low=0, low_open=True, high=1),
    "hidden_dims": Rule("hidden layer widths of every MLP, comma-separated (e.g. 256,256)", low=1),
    "grad_clip": Rule("global-norm gradient clip, applied to each network's gradient separately", low=0, low_open=True),
    "discount": Rule("discount factor of the TD target", low=0, low_open=True, high=1),
    "tau": Rule("target-critic update rate (Polyak averaging)", low=0, low_open=True, high=1),
    "q_agg": Rule("aggregation of the 2-critic ensemble in the TD target", ("mean", "min")),
    "flow_steps": Rule("Euler steps K of the behaviour flow", low=1),
    "target_divergence": Rule("epsilon: the budget on E[D(delta; s)] (fd, deflow)", low=0, low_open=True),
    "alpha_init": Rule("initial Lagrange multiplier alpha_0 (fd, deflow)", low=0, low_open=True),
    "lagrangian": Rule("adapt alpha to hold the budget; --no-lagrangian keeps alpha at alpha_init"),
    "normalize_q": Rule("divide the Q term by stopgrad(mean |Q|)"),
    "act_samples": Rule("best-of-N acting: N base actions, keep the highest-Q one, refine it", low=1),
    "fisher_samples": Rule("N behaviour samples per Fisher estimate (fd)", low=1),
    "fisher_t_max": Rule("t_f: the Fisher score is taken at t ~ U[t_f - w, t_f] (fd)", low=0, high=1, high_open=True),
    "fisher_t_width": Rule("w: the width of that interval, with 0 <= t_f - w (fd)", low=0),
    "fisher_damping": Rule("damping added to the Fisher matrix (fd)", low=0),
    "score_estimator": Rule(
        "score from velocity: velocity = v/(1-t) (released), exact = (t v - x)/(1-t)", ("velocity", "exact")
    ),
    "fisher_locality": Rule(
        "per-state: one Fisher per state from N behaviour samples (released); per-action: N points around the "
        "action being refined",
        ("per-state", "per-action"),
    ),
    "fql_alpha": Rule("weight of FQL's distillation term (fql)", low=0),
    "chunk_size": Rule("updates per compiled call (lax.scan); log/eval/checkpoint intervals are multiples", low=1),
    "log_every": Rule("steps between training records (a multiple of chunk_size)", low=1),
    "eval_every": Rule("steps between evaluations (a multiple of chunk_size)", low=1),
    "eval_episodes": Rule("episodes per evaluation and seed; 0 turns evaluation off", low=0),
    "checkpoint_every": Rule("steps between checkpoints (a multiple of chunk_size)", low=1),
    "dataset_dir": Rule("dataset directory (default $FIDEC_DATASET_DIR, else ~/.ogbench/data)"),
    "family": Rule("derived from env: the method.md table row used by the paper preset (not settable)"),
}


#: The rule of a field missing from FIELDS: its type is still checked, and a test asks for an entry.
UNDOCUMENTED = Rule("(undocumented: add this field to fidec.config.FIELDS)")


def _hints() -> dict:
    import typing

    return typing.get_type_hints(Config)


def check_field(name: str, value, typ) -> str | None:
    """Why ``value`` is not acceptable for field ``name`` of type ``typ`` (a one-line reason), or None."""
    rule = FIELDS.get(name) or UNDOCUMENTED  # tests/test_hardening.py fails for a field without an entry
    if value is None and typ == str | None:
        return None
    if typ is bool:
        ok = isinstance(value, bool)
        want = "true or false"
    elif typ is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        want = "an integer"
    elif typ is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        want = "a finite number"
    elif typ == tuple[int, ...]:
        ok = isinstance(value, tuple) and len(value) > 0
        ok = ok and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        want = "a non-empty list of integers (e.g. 256,256)"
    else:
        ok = isinstance(value, str)
        want = "a string"
    if not ok:
        return f"{name} must be {want}, got {value!r}"
    if typ is bool or not isinstance(value, (int, float, tuple)) and not rule.choices:
        return None
    values = value if isinstance(value, tuple) else (value,)
    if any(rule.violated(v) for v in values):
        shown = ",".join(map(str, value)) if isinstance(value, tuple) else repr(value)
        each = "each width " if isinstance(value, tuple) else ""
        return f"{name} must be {each}{rule.allowed()}, got {shown}"
    return None


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


def preset_fields() -> set[str]:
    """The fields some preset (for some task family) sets."""
    out: set[str] = set()
    for preset in PRESETS:
        out |= set(_preset_values(preset, "cube-single-play-singletask-task1-v0")) - {"family"}
    return out


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
    if not isinstance(env, str):
        raise ConfigError(f"env must be a string, got {env!r}")
    values = _preset_values(preset, env)
    values.update(overrides)
    if isinstance(values.get("hidden_dims"), list):
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
