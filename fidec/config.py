"""Typed configuration: one dataclass, per-task presets from the paper, command-line overrides.

Resolution order (later wins): dataclass defaults (the authors' release, as its run scripts ran it) ->
the per-family values of method.md's table, chosen from the task name -> the preset's parts -> explicit
overrides (command line or keyword arguments).

A preset is one recipe and at most one budget, joined by ``+``:

- recipes: ``paper`` (the authors' release, github ARC0127/Fisher-Decorator at 8c90736, and FQL's release for
  FQL; proven by ``benchmarks/parity``) and ``fidec`` (fidec's own choices, each a named field; see
  ``FIDEC_CHOICES`` and the README's "Presets" table);
- budgets: ``cpu`` (smaller networks and evaluation schedule) and ``tiny`` (seconds, for tests).

``cpu`` alone means ``paper+cpu``; ``fidec+cpu`` is fidec's recipe at the cpu budget.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field, fields

from fidec.errors import ConfigError

AGENTS = ("fd", "deflow", "fql", "bc")
RECIPES = ("paper", "fidec")
BUDGETS = ("cpu", "tiny")
PRESETS = RECIPES + BUDGETS  # the parts a preset is made of, e.g. 'fidec+cpu'
INITS = ("glorot", "lecun")
CLIP_SCOPES = ("joint", "per-network")
TARGET_UPDATES = ("pre-update", "post-update")
DATA_PLACEMENTS = ("auto", "device", "host")
#: Config.encoder's choices (architectures in fidec/encoders.py)
ENCODERS = ("none", "impala_small", "impala", "impala_debug")
#: FD and DeFlow are one refinement agent; this is the metric each one uses.
AGENT_METRIC = {"fd": "fisher", "deflow": "isotropic"}


@dataclass
class Config:
    """Every hyperparameter of a run. Defaults are the authors' published configuration (method.md)."""

    # --- what to run
    agent: str = "fd"
    env: str = "cube-single-play-singletask-task2-v0"  # or minari:ID, or npz:PATH (fidec/data/sources)
    env_id: str | None = None  # Gymnasium env to evaluate in: needed for npz data, overrides Minari's record
    preset: str = "paper"
    seed: int = 0
    num_seeds: int = 1  # seeds seed..seed+num_seeds-1 trained together in one process (vmap)
    steps: int = 1_000_000

    # --- optimisation (all networks)
    batch_size: int = 256
    lr: float = 3e-4
    hidden_dims: tuple[int, ...] = (512, 512, 512, 512)
    grad_clip: float = 5.0  # global-norm clip (0 = none; the paper preset sets 0 for fql/bc, as FQL's release)
    clip_scope: str = "joint"  # 'joint' (release: one clip over all parameters, log alpha included), 'per-network'
    weight_init: str = "glorot"  # 'glorot' (release/FQL: Xavier uniform on every layer) or 'lecun' (Flax's default)

    # --- critic
    discount: float = 0.99
    tau: float = 0.005
    q_agg: str = "mean"  # 'mean' or 'min' over the 2-critic ensemble in the TD target
    target_update: str = "pre-update"  # Polyak from the critic before ('pre-update', release/FQL) or after the step

    # --- behaviour flow
    flow_steps: int = 10  # K Euler steps

    # --- refinement (fd / deflow)
    target_divergence: float = 0.001  # epsilon: the budget on E[D(delta; s)]
    target_divergences: tuple[float, ...] = ()  # several epsilons vmapped in one process (sub-run folder per epsilon)
    alpha_init: float = 10.0
    lagrangian: bool = True  # False: alpha stays at alpha_init
    normalize_q: bool = False  # divide the Q term by stopgrad(mean |Q|); the paper preset turns it on for fd/deflow
    refiner_zero_init: bool = False  # fidec's option: the refinement's output layer starts at zero (delta = 0)
    act_samples: int = 1  # best-of-N acting: N base actions, keep the highest-Q one, refine it
    act_refine_steps: int = 0  # > 0: the release's iterative-refinement acting (refine K times, best Q of K + 1)

    # --- Fisher metric (fd)
    fisher_samples: int = 8  # N behaviour samples per state
    fisher_t_max: float = 0.90  # t_f
    fisher_t_width: float = 0.05  # w: t ~ U[t_f - w, t_f]
    fisher_damping: float = 1e-3
    score_estimator: str = "velocity"  # 'velocity' (v/(1-t), paper default) or 'exact' ((t v - x)/(1-t))
    fisher_locality: str = "per-state"  # 'per-state' (paper default) or 'per-action' (method.md, Locality)
    fisher_reuse_base: bool = False  # fidec's option: per-state, the base action is one of the N samples (N-1 solves)

    # --- FQL
    fql_alpha: float = 10.0

    # --- pixel observations (fidec/encoders.py, fidec/data/frames.py; the paper preset sets them for visual-* tasks)
    encoder: str = "none"  # 'none' (states) or an IMPALA encoder per network: 'impala_small' (FQL/release visual runs)
    frame_stack: int = 1  # frames stacked on the channel axis (visual runs: 3)
    p_aug: float = 0.0  # probability that a minibatch gets random-shift augmentation (visual runs: 0.5)
    data_placement: str = "auto"  # 'device' (whole dataset on the accelerator), 'host' (streamed), 'auto'
    data_memory_budget_gb: float = 0.0  # 'auto': the dataset goes to the device if it fits this (0: 60% of it)
    stream_updates: int = 50  # host streaming: updates per prefetched minibatch chunk

    # --- offline-to-online fine-tuning (fidec/online; FQL's main.py semantics)
    online_steps: int = 0  # environment steps per seed after the offline steps (0: offline only)
    online_updates_per_step: int = 1  # gradient updates per environment step (FQL: 1)
    online_collect: int = 10  # environment steps collected between compiled update calls (k)
    buffer_size: int = 2_000_000  # replay buffer capacity (FQL's default)
    balanced_sampling: bool = False  # half of each batch from the dataset, half from a separate online buffer
    online_freeze_flow: bool = False  # hold the behaviour flow fixed online (the release's fix_bc_flow_online)

    # --- training loop, evaluation and logging
    chunk_size: int = 1000  # updates per compiled call (lax.scan)
    log_every: int = 5000
    eval_every: int = 100_000
    eval_episodes: int = 50
    eval_from: int = 0  # no evaluation before this step (the last step is always evaluated)
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

    def member_config(self, eps: float) -> Config:
        """The configuration of one target divergence of a ``target_divergences`` run (its sub-run folder)."""
        return dataclasses.replace(self, target_divergence=float(eps), target_divergences=())

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["hidden_dims"] = list(self.hidden_dims)
        d["target_divergences"] = list(self.target_divergences)
        d["metric"] = self.metric
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> Config:
        names = {f.name for f in fields(cls)}
        # A run folder written before a field existed ran with that field's earlier behaviour.
        kw = {k: v for k, v in LEGACY_DEFAULTS.items() if k not in d}
        kw.update({k: v for k, v in d.items() if k in names})
        _tuples(kw)
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
        preset_parts(self.preset)  # raises ConfigError for an unknown or ill-formed preset
        if not (
            0.0 <= self.fisher_t_max - self.fisher_t_width and 0.0 <= self.fisher_t_width and self.fisher_t_max < 1.0
        ):
            bad("need 0 <= fisher_t_max - fisher_t_width <= fisher_t_max < 1 (the score divides by 1 - t)")
        from fidec.loggers import parse_loggers

        parse_loggers(self.logger)  # raises ConfigError naming the choices
        if self.target_divergences:
            if self.agent not in AGENT_METRIC:
                bad(f"target_divergences (several epsilons in one process) is for fd and deflow, not {self.agent}")
            if not self.lagrangian:
                bad("target_divergences needs the Lagrangian (--lagrangian): without it epsilon changes nothing")
            if self.online_steps:
                bad("target_divergences trains offline only; run each epsilon's online phase as its own run")
            if len(set(self.target_divergences)) != len(self.target_divergences):
                bad(f"target_divergences has repeated values: {','.join(map(str, self.target_divergences))}")
        for name in ("log_every", "eval_every", "checkpoint_every"):
            if getattr(self, name) % self.chunk_size:
                bad(f"{name} ({getattr(self, name)}) must be a multiple of chunk_size ({self.chunk_size})")
        self._validate_online(bad)
        if self.data_placement == "host" and self.chunk_size % self.stream_updates:
            bad(f"stream_updates ({self.stream_updates}) must divide chunk_size ({self.chunk_size})")

    def _validate_online(self, bad) -> None:
        """The rules of the online phase (fidec/online)."""
        if not self.online_steps:
            for name in ("balanced_sampling", "online_freeze_flow"):
                if getattr(self, name):
                    flag = "--" + name.replace("_", "-")
                    bad(f"{flag} applies to the online phase; add --online-steps N (N > 0) or drop {flag}")
            return
        if self.encoder != "none":
            bad(
                "the online phase is not supported for pixel observations (as in FQL and the release: main.py asserts "
                "'visual' not in env_name); drop --online-steps"
            )
        if self.agent == "bc":
            bad(
                "flow BC (--agent bc) has no online phase (no critic, no reward); use fd, deflow or fql with "
                "--online-steps"
            )
        if self.balanced_sampling and self.batch_size < 2:
            bad(
                "--balanced-sampling takes batch_size // 2 from each source; batch_size must be >= 2, got "
                f"{self.batch_size}"
            )
        u = self.online_updates_per_step
        for name in ("steps", "log_every", "eval_every", "checkpoint_every"):
            if getattr(self, name) % u:
                bad(f"{name} ({getattr(self, name)}) must be a multiple of online_updates_per_step ({u})")

    def evaluates_at(self, step: int, end: int) -> bool:
        """Whether the training loop evaluates after ``step`` in a phase ending at ``end``: every eval_every steps
        from eval_from on, and always at the end; never with eval_episodes = 0."""
        if not self.eval_episodes:
            return False
        return step == end or (step % self.eval_every == 0 and step >= self.eval_from)

    @property
    def total_steps(self) -> int:
        """Gradient updates of the whole run: the offline steps, then online_steps x online_updates_per_step."""
        return total_updates(self.steps, self.online_steps, self.online_updates_per_step)


def total_updates(steps: int, online_steps: int = 0, online_updates_per_step: int = 1) -> int:
    """Gradient updates of a run (Config.total_steps; reports call it on saved config dicts)."""
    return steps + online_steps * online_updates_per_step


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
    "env": Rule(
        "the task: an OGBench singletask name (cube-single-play-singletask-task2-v0), minari:DATASET_ID, or "
        "npz:PATH (set by --dataset); datasets: 'fidec data list'"
    ),
    "env_id": Rule("Gymnasium environment id to evaluate in (needed for .npz data; overrides Minari's recorded env)"),
    "preset": Rule(
        "one recipe and at most one budget joined by '+': paper (the authors' release plus method.md's per-family "
        "values) or fidec (fidec's own choices, README 'Presets'); cpu (3x256 networks, a CPU-sized schedule) or "
        "tiny (seconds, for tests). e.g. paper, fidec, cpu (= paper+cpu), fidec+cpu"
    ),
    "seed": Rule("first random seed", low=0),
    "num_seeds": Rule("seeds seed..seed+N-1 trained together in one process (vmapped)", low=1),
    "steps": Rule("gradient updates per seed", low=1),
    "batch_size": Rule("transitions per minibatch", low=1),
    "lr": Rule("Adam learning rate of every network", low=0, low_open=True, high=1),
    "hidden_dims": Rule("hidden layer widths of every MLP, comma-separated (e.g. 256,256)", low=1),
    "grad_clip": Rule("global-norm gradient clip; 0 = none (the paper preset's fql/bc, as FQL's release)", low=0),
    "clip_scope": Rule(
        "joint: one clip over every parameter, log alpha included (the release); per-network: each network alone",
        CLIP_SCOPES,
    ),
    "weight_init": Rule(
        "kernel initialisation: glorot = Xavier uniform on every layer (release/FQL); lecun = Flax's default", INITS
    ),
    "target_update": Rule(
        "the target critic moves towards the critic before (pre-update: release/FQL) or after this step's update",
        TARGET_UPDATES,
    ),
    "refiner_zero_init": Rule("start the refinement's output layer at zero, so delta = 0 at first (fidec's option)"),
    "act_refine_steps": Rule(
        "0: plain acting; K > 0: the release's iterative refinement (refine K times, act with the best-Q one)", low=0
    ),
    "fisher_reuse_base": Rule(
        "per-state Fisher: the base action is one of the N samples, N-1 solves (fidec's option; release: N fresh)"
    ),
    "discount": Rule("discount factor of the TD target", low=0, low_open=True, high=1),
    "tau": Rule("target-critic update rate (Polyak averaging)", low=0, low_open=True, high=1),
    "q_agg": Rule("aggregation of the 2-critic ensemble in the TD target", ("mean", "min")),
    "flow_steps": Rule("Euler steps K of the behaviour flow", low=1),
    "target_divergences": Rule(
        "several epsilons trained together in one process, vmapped like the seeds (fd/deflow; issue 10's frontier on "
        "a GPU): each epsilon's records go to the sub-run folder 'target_divergence=EPS/'; empty: one epsilon",
        low=0,
        low_open=True,
    ),
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
    "encoder": Rule(
        "image encoder of each network for pixel observations (FQL's utils/encoders.py): none (state observations), "
        "impala_small (FQL's and the release's visual runs), impala, impala_debug (tiny, for tests)",
        ENCODERS,
    ),
    "frame_stack": Rule("pixel observations: the last K frames stacked on the channel axis (visual runs: 3)", low=1),
    "p_aug": Rule(
        "pixel observations: probability that a minibatch gets random-shift augmentation (pad 3, FQL's "
        "utils/datasets.py; visual runs: 0.5)",
        low=0,
        high=1,
    ),
    "data_placement": Rule(
        "where the training data lives: device (whole dataset on the accelerator), host (host memory, minibatches "
        "streamed to the device in prefetched chunks), auto (device when it fits data_memory_budget_gb)",
        DATA_PLACEMENTS,
    ),
    "data_memory_budget_gb": Rule(
        "auto placement: the most device memory (GiB) the dataset may take; 0 = 60% of the accelerator's memory",
        low=0,
    ),
    "stream_updates": Rule("host placement: updates per prefetched minibatch chunk (a divisor of chunk_size)", low=1),
    "online_steps": Rule(
        "offline-to-online: environment steps per seed after the offline --steps, each seed in its own "
        "environment (fd, deflow, fql); 0 = offline only",
        low=0,
    ),
    "online_updates_per_step": Rule("online: gradient updates per environment step (FQL: 1)", low=1),
    "online_collect": Rule(
        "online: environment steps collected (one batched policy call each) before their updates run as one "
        "compiled call; 1 = FQL's act-update alternation",
        low=1,
    ),
    "buffer_size": Rule(
        "online replay capacity (FQL's buffer_size): the dataset plus online transitions, oldest overwritten "
        "first; with --balanced-sampling the online buffer's own capacity",
        low=1,
    ),
    "balanced_sampling": Rule(
        "online: half of each batch from the dataset, half from a separate online buffer (FQL's balanced_sampling)"
    ),
    "online_freeze_flow": Rule(
        "online: hold the behaviour flow's parameters fixed (the release's fix_bc_flow_online; fd, deflow, fql)"
    ),
    "chunk_size": Rule("updates per compiled call (lax.scan); log/eval/checkpoint intervals are multiples", low=1),
    "log_every": Rule("steps between training records (a multiple of chunk_size)", low=1),
    "eval_every": Rule("steps between evaluations (a multiple of chunk_size)", low=1),
    "eval_episodes": Rule("episodes per evaluation and seed; 0 turns evaluation off", low=0),
    "eval_from": Rule(
        "skip the eval_every evaluations before this step (the last step is always evaluated); saves time where "
        "only the final evaluations count",
        low=0,
    ),
    "checkpoint_every": Rule("steps between checkpoints (a multiple of chunk_size)", low=1),
    "dataset_dir": Rule("dataset directory (default $FIDEC_DATASET_DIR, else ~/.ogbench/data)"),
    "eval_mode": Rule(
        "vectorised: all episodes and seeds in lockstep, one batched policy call per step; sequential: one by one",
        ("vectorised", "sequential"),
    ),
    "eval_envs": Rule("vectorised evaluation: most environments alive at once (a cube env takes ~150 MB)", low=1),
    "eval_workers": Rule("vectorised evaluation: worker processes stepping the environments (0: in-process)", low=0),
    "logger": Rule("extra sinks beside metrics.jsonl/csv: none, tensorboard, wandb, or tensorboard,wandb"),
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
    elif typ == tuple[float, ...]:
        ok = isinstance(value, tuple) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value
        )
        want = "a list of finite numbers (e.g. 0.001,0.01)"
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


def _tuples(values: dict) -> None:
    """JSON/TOML lists of the tuple-typed fields become tuples (in place)."""
    for name in ("hidden_dims", "target_divergences"):
        if isinstance(values.get(name), list):
            values[name] = tuple(values[name])


#: Fields added in fidec 0.2 (issue 15) with the behaviour fidec 0.1 had, for run folders written by 0.1.
LEGACY_DEFAULTS: dict = {
    "weight_init": "lecun",
    "refiner_zero_init": True,
    "clip_scope": "per-network",
    "target_update": "post-update",
    "fisher_reuse_base": True,
    "act_refine_steps": 0,
}

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
    # Pixels (method.md's visual rows): eps from the release's scripts/fql_scope_registry.sh L117-129, FQL's alpha
    # from FQL's README (visual-cube-single 300, visual-cube-double/scene 100, visual-puzzle 300).
    "visual-cube-single-play": (0.99, "mean", 0.001, 300.0),
    "visual-cube-double-play": (0.99, "mean", 0.001, 100.0),
    "visual-scene-play": (0.99, "mean", 0.001, 100.0),
    "visual-puzzle-3x3-play": (0.99, "mean", 0.005, 300.0),
    "visual-puzzle-4x4-play": (0.99, "mean", 0.005, 300.0),
    # D4RL through Minari (minari:D4RL/antmaze/..., minari:D4RL/pen/...): method.md's D4RL rows; the release's
    # scripts/fql_scope_registry.sh L132-146 (eps 0.001; adroit q_agg min).
    "d4rl-antmaze": (0.99, "mean", 0.001, 10.0),
    "d4rl-adroit": (0.99, "min", 0.001, 10_000.0),
}

#: FQL's alpha per D4RL dataset (FQL's README, "FQL on D4RL ..." commands); overrides the family row's.
D4RL_FQL_ALPHA: dict[str, float] = {
    "antmaze-large-play": 3.0,
    "antmaze-large-diverse": 3.0,
    "pen-human": 10_000.0,
    "pen-cloned": 10_000.0,
    "pen-expert": 3_000.0,
    "door-human": 30_000.0,
    "door-cloned": 30_000.0,
    "door-expert": 30_000.0,
    "hammer-human": 30_000.0,
    "hammer-cloned": 10_000.0,
    "hammer-expert": 30_000.0,
    "relocate-human": 10_000.0,
    "relocate-cloned": 30_000.0,
    "relocate-expert": 30_000.0,
}
#: D4RL families: 500k gradient steps, one evaluation at the end (release: OFFLINE_STEPS=500000,
#: PAPER_EVAL_STEPS="500000" in scripts/fql_scope_registry.sh L132-146). Applied by the paper preset.
D4RL_STEPS = 500_000
ADROIT_ENVS = ("pen", "door", "hammer", "relocate")
#: Pixel tasks (visual-*): FQL's README and the release's registry (L117-129) run 500k steps with
#: --agent.encoder=impala_small --p_aug=0.5 --frame_stack=3, evaluated at 300k/400k/500k.
VISUAL_VALUES = {"steps": 500_000, "encoder": "impala_small", "p_aug": 0.5, "frame_stack": 3}


def is_visual(env: str) -> bool:
    """An OGBench pixel task (its name starts with ``visual-``)."""
    return env.startswith("visual-")


def d4rl_dataset(env: str) -> tuple[str, str] | None:
    """(family, dataset) of a Minari task named like D4RL's: 'minari:D4RL/antmaze/large-diverse-v1' ->
    ('d4rl-antmaze', 'antmaze-large-diverse'); the environment part of the id decides (antmaze or an adroit
    hand). None for every other name."""
    m = re.fullmatch(r"(?:minari:)?(?:[^/:]+/)?([^/:]+)/([^/:]+?)(?:-v\d+)?", env)
    if not m:
        return None
    env_part, name = m.groups()
    if env_part == "antmaze":
        return "d4rl-antmaze", f"antmaze-{name}"
    if env_part in ADROIT_ENVS:
        return "d4rl-adroit", f"{env_part}-{name}"
    return None


def task_family(env: str) -> str | None:
    """The method.md table row for an OGBench singletask name, e.g. 'cube-single-play-singletask-task2-v0'
    -> 'cube-single-play'; None for families the table does not list (e.g. point mazes)."""
    d4rl = d4rl_dataset(env)
    if d4rl is not None:
        return d4rl[0]
    base = re.sub(r"-singletask(-task\d+)?-v\d+$", "", env)
    return base if base in FAMILY_TABLE else None


#: fidec's own choices: the ``fidec`` recipe. Each is a named field the paper preset sets the release's way;
#: README "Presets" lists them with the reason and the measurement behind each.
FIDEC_CHOICES: dict = {
    "weight_init": "lecun",  # Flax's default initialisation (larger initial outputs than Glorot)
    "refiner_zero_init": True,  # training starts from the behaviour policy (delta = 0)
    "clip_scope": "per-network",  # a large critic gradient does not shrink the actor's step
    "target_update": "post-update",  # the target follows the critic after its step
    "fisher_reuse_base": True,  # per-state: the base action is a behaviour sample (one solve fewer)
    "fisher_locality": "per-action",  # method.md "Locality": curvature at the action being refined
    "score_estimator": "exact",  # the exact score; the proxy v/(1-t) is not a score (README, Presets)
    "normalize_q": False,
}


def preset_parts(preset: str) -> tuple[str, str | None]:
    """('paper' | 'fidec', None | 'cpu' | 'tiny') from a preset such as 'fidec+cpu'; 'cpu' means 'paper+cpu'."""
    parts = [p.strip() for p in str(preset).split("+") if p.strip()]
    recipes = [p for p in parts if p in RECIPES]
    budgets = [p for p in parts if p in BUDGETS]
    unknown = [p for p in parts if p not in PRESETS]
    if unknown or not parts or len(recipes) > 1 or len(budgets) > 1:
        raise ConfigError(
            f"unknown preset {preset!r}: use one recipe ({' or '.join(RECIPES)}) and at most one budget "
            f"({' or '.join(BUDGETS)}) joined by '+', e.g. 'paper', 'fidec', 'cpu' (= paper+cpu), 'fidec+tiny'"
        )
    return (recipes[0] if recipes else "paper"), (budgets[0] if budgets else None)


def _preset_values(preset: str, env: str, agent: str) -> dict:
    recipe, budget = preset_parts(preset)
    vals: dict = {}
    fam = task_family(env)
    if fam is not None:
        discount, q_agg, eps, fql_alpha = FAMILY_TABLE[fam]
        vals.update(discount=discount, q_agg=q_agg, target_divergence=eps, fql_alpha=fql_alpha)
    d4rl = d4rl_dataset(env)
    if d4rl is not None:
        vals["fql_alpha"] = D4RL_FQL_ALPHA.get(d4rl[1], vals["fql_alpha"])
        vals.update(steps=D4RL_STEPS, eval_every=D4RL_STEPS)
    vals["family"] = fam
    visual = is_visual(env)
    if visual:
        vals.update(VISUAL_VALUES)
    if recipe == "paper":
        if agent in ("fql", "bc"):
            # FQL's release (seohongpark/fql, utils/flax_utils.py) has no gradient clipping; its README runs
            # OGBench without Q normalisation. Flow BC is trained as FQL trains its flow.
            vals.update(grad_clip=0.0)
        elif d4rl is None and not visual and not env.startswith(("minari:", "npz:")):
            # (visual-*: the release's registry passes no normalize_q_loss, so its code default, off.)
            # The release's OGBench state runs (scripts/ogbench_env_flags.sh, used by its paper-table scripts)
            # pass --agent.normalize_q_loss=True for every family; its code default and its D4RL/grid scripts
            # (scripts/run_fqlscope_offline_grid_2x4090.sh, NORMALIZE_Q=false) leave it off.
            vals.update(normalize_q=True)
    else:
        vals.update(FIDEC_CHOICES)
    if budget == "cpu":
        # A reduced budget for 2-core CPUs (the `cpu` benchmark suite); the method's math is unchanged.
        vals.update(
            hidden_dims=(256, 256, 256),
            eval_episodes=20,
            log_every=1000,
            chunk_size=500,
            eval_every=5000,
            checkpoint_every=5000,
        )
    elif budget == "tiny":
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
        if visual:
            vals.update(encoder="impala_debug")
    return vals


def preset_fields() -> set[str]:
    """The fields some preset (for some task family) sets."""
    out: set[str] = set()
    for preset in PRESETS:
        for agent in AGENTS:
            for env in ("cube-single-play-singletask-task1-v0", "visual-cube-single-play-singletask-task1-v0"):
                out |= set(_preset_values(preset, env, agent)) - {"family"}
    return out


def resolve(overrides: dict | None = None) -> Config:
    """A Config from defaults, then the preset named in ``overrides`` (default paper), then ``overrides``."""
    overrides = dict(overrides or {})
    names = {f.name for f in fields(Config)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ConfigError(f"unknown config field(s): {', '.join(unknown)}; see 'fidec train --help'")
    preset = overrides.get("preset", Config.preset)
    from fidec.data.sources import canonical_env

    env = overrides.get("env", Config.env)
    if not isinstance(env, str):
        raise ConfigError(f"env must be a string, got {env!r}")
    env = overrides["env"] = canonical_env(env)
    values = _preset_values(preset, env, overrides.get("agent", Config.agent))
    values.update(overrides)
    _tuples(values)
    cfg = Config(**values)
    cfg.validate()
    return cfg


#: The built-in default job (`fidec quickstart`, the README's first command), chosen by measurement (README):
#: FD with fidec's recipe (per-action Fisher, method.md "Locality"; a third of the per-state cost) and the
#: velocity score proxy, i.e. fidec 0.1's defaults, which the README's quickstart figures measured, on a
#: point-maze task whose goal flow BC never reaches from the navigate data, small networks for a 2-D
#: state, and a budget that fits a 2-core CPU.
QUICKSTART = {
    "dataset": "pointmaze-medium-navigate-v0",
    "dataset_episodes": 300,
    "overrides": {
        "env": "pointmaze-medium-navigate-singletask-task3-v0",
        "preset": "fidec",  # fidec's recipe (README, Presets): per-action Fisher, zero-init refiner, ...
        "score_estimator": "velocity",  # ... with the score proxy: the configuration the README's figures measured
        "hidden_dims": (128, 128, 128),
        "steps": 40_000,
        "chunk_size": 500,
        "log_every": 2500,
        "eval_every": 5000,
        "checkpoint_every": 5000,
        "eval_episodes": 20,
    },
}
