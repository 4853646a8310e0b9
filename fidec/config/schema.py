"""The configuration schema: the :class:`Config` dataclass, each field's help and rule beside it.

Every field is declared with :func:`option`: its default (the authors' release, as its run scripts ran it), its
``--help`` text and the values it takes (a :class:`Rule`). :data:`FIELDS` is read off the dataclass, so a
field cannot be added without its rule; :meth:`Config.validate` checks every field against its type and rule,
then the rules that tie fields together. The presets that change the defaults live in
:mod:`fidec.config.presets`; reading a field's value from text in :mod:`fidec.config.coerce`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from dataclasses import dataclass, field, fields

from fidec.errors import ConfigError

AGENTS = ("fd", "deflow", "fql", "bc", "iql", "rebrac")
RECIPES = ("paper", "fidec")
BUDGETS = ("cpu", "tiny")
PRESETS = RECIPES + BUDGETS  # the parts a preset is made of, e.g. 'fidec+cpu'
INITS = ("glorot", "lecun")
CLIP_SCOPES = ("joint", "per-network")
TARGET_UPDATES = ("pre-update", "post-update")
DATA_PLACEMENTS = ("auto", "device", "host")
#: Config.data_convention's choices (fidec/data/sources/conventions.py)
DATA_CONVENTIONS = ("episodes", "d4rl")
#: Config.success_timing's choices: OGBench's own names (ogbench.make_env_and_datasets(..., success_timing=...))
SUCCESS_TIMINGS = ("pre", "post")
#: Config.encoder's choices (architectures in fidec/encoders.py)
ENCODERS = ("none", "impala_small", "impala", "impala_debug")
#: FD and DeFlow are one refinement agent; this is the metric each one uses.
AGENT_METRIC = {"fd": "fisher", "deflow": "isotropic"}
#: The optional record sinks ``Config.logger`` names (fidec/loggers.py writes them).
LOGGERS = ("tensorboard", "wandb")
#: Config.matmul_precision's choices (the JAX setting each stands for: fidec/precision.py)
MATMUL_PRECISIONS = ("highest", "tf32", "bf16")


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


def option(default, help: str, choices: tuple = (), *, derived: bool = False, **bounds):
    """A Config field with its help text and allowed values beside it (``bounds``: low, low_open, high,
    high_open of :class:`Rule`); ``derived`` marks a field that resolution fills, not a setting."""
    metadata = {"rule": Rule(help, tuple(choices), **bounds)}
    if derived:
        metadata["derived"] = True
    return field(default=default, metadata=metadata)


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


def parse_loggers(text: str | None) -> tuple[str, ...]:
    """``'none'``/``''`` -> (); ``'tensorboard,wandb'`` -> ('tensorboard', 'wandb'); unknown names raise."""
    names = [n.strip() for n in (text or "").split(",") if n.strip() and n.strip() != "none"]
    unknown = [n for n in names if n not in LOGGERS]
    if unknown:
        raise ConfigError(
            f"unknown logger {unknown[0]!r}; choose 'none', {', '.join(repr(n) for n in LOGGERS)} or a comma list"
        )
    return tuple(dict.fromkeys(names))


@dataclass
class Config:
    """Every hyperparameter of a run. Defaults are the authors' published configuration (docs/method.md)."""

    # --- what to run
    agent: str = option(
        "fd",
        "agent to train: fd (Fisher Decorator), deflow (isotropic metric), fql, bc (flow BC), iql, rebrac",
        AGENTS,
    )
    env: str = option(
        "cube-single-play-singletask-task2-v0",
        "the task: an OGBench singletask name (cube-single-play-singletask-task2-v0), minari:DATASET_ID, or "
        "npz:PATH (set by --dataset); datasets: 'fidec data list'",
    )
    env_id: str | None = option(
        None,
        "Gymnasium environment id to evaluate in (needed for .npz data; overrides Minari's recorded env)",
    )
    preset: str = option(
        "paper",
        "one recipe and at most one budget joined by '+': paper (the authors' release plus the per-family values of "
        "docs/presets.md) or fidec (fidec's own choices, docs/presets.md); cpu (3x256 networks, a CPU-sized "
        "schedule) or tiny (seconds, for tests). e.g. paper, fidec, cpu (= paper+cpu), fidec+cpu",
    )
    seed: int = option(0, "first random seed", low=0)
    num_seeds: int = option(1, "seeds seed..seed+N-1 trained together in one process (vmapped)", low=1)
    steps: int = option(1_000_000, "gradient updates per seed", low=1)

    # --- optimisation (all networks)
    batch_size: int = option(256, "transitions per minibatch", low=1)
    lr: float = option(3e-4, "Adam learning rate of every network", low=0, low_open=True, high=1)
    hidden_dims: tuple[int, ...] = option(
        (512, 512, 512, 512),
        "hidden layer widths of every MLP, comma-separated (e.g. 256,256)",
        low=1,
    )
    grad_clip: float = option(
        5.0,
        "global-norm gradient clip; 0 = none (the paper preset's fql/bc/iql/rebrac, as FQL's release)",
        low=0,
    )
    clip_scope: str = option(
        "joint",
        "joint: one clip over every parameter, log alpha included (the release); per-network: each network alone",
        CLIP_SCOPES,
    )
    weight_init: str = option(
        "glorot",
        "kernel initialisation: glorot = Xavier uniform on every layer (release/FQL); lecun = Flax's default",
        INITS,
    )

    # --- critic
    discount: float = option(0.99, "discount factor of the TD target", low=0, low_open=True, high=1)
    tau: float = option(0.005, "target-critic update rate (Polyak averaging)", low=0, low_open=True, high=1)
    q_agg: str = option("mean", "aggregation of the 2-critic ensemble in the TD target", ("mean", "min"))
    target_update: str = option(
        "pre-update",
        "the target critic moves towards the critic before (pre-update: release/FQL) or after this step's update",
        TARGET_UPDATES,
    )

    # --- behaviour flow
    flow_steps: int = option(10, "Euler steps K of the behaviour flow", low=1)

    # --- refinement (fd / deflow)
    target_divergence: float = option(0.001, "epsilon: the budget on E[D(delta; s)] (fd, deflow)", low=0, low_open=True)
    target_divergences: tuple[float, ...] = option(
        (),
        "several epsilons trained together in one process, vmapped like the seeds (fd/deflow; e.g. a whole "
        "frontier on one GPU): each epsilon's records go to the sub-run folder 'target_divergence=EPS/'; empty: "
        "one epsilon",
        low=0,
        low_open=True,
    )
    alpha_init: float = option(10.0, "initial Lagrange multiplier alpha_0 (fd, deflow)", low=0, low_open=True)
    lagrangian: bool = option(True, "adapt alpha to hold the budget; --no-lagrangian keeps alpha at alpha_init")
    normalize_q: bool = option(
        False, "divide the Q term by stopgrad(mean |Q|) (the paper preset: on for fd/deflow on OGBench state tasks)"
    )
    refiner_zero_init: bool = option(
        False,
        "start the refinement's output layer at zero, so delta = 0 at first (fidec's option)",
    )
    act_samples: int = option(1, "best-of-N acting: N base actions, keep the highest-Q one, refine it", low=1)
    act_refine_steps: int = option(
        0,
        "0: plain acting; K > 0: the release's iterative refinement (refine K times, act with the best-Q one)",
        low=0,
    )

    # --- Fisher metric (fd)
    fisher_samples: int = option(8, "N behaviour samples per Fisher estimate (fd)", low=1)
    fisher_t_max: float = option(
        0.90,
        "t_f: the Fisher score is taken at t ~ U[t_f - w, t_f] (fd)",
        low=0,
        high=1,
        high_open=True,
    )
    fisher_t_width: float = option(0.05, "w: the width of that interval, with 0 <= t_f - w (fd)", low=0)
    fisher_damping: float = option(1e-3, "damping added to the Fisher matrix (fd)", low=0)
    score_estimator: str = option(
        "velocity",
        "score from velocity: velocity = v/(1-t) (released), exact = (t v - x)/(1-t)",
        ("velocity", "exact"),
    )
    fisher_locality: str = option(
        "per-state",
        "per-state: one Fisher per state from N behaviour samples (released); per-action: N points around the "
        "action being refined (docs/method.md, Locality)",
        ("per-state", "per-action"),
    )
    fisher_reuse_base: bool = option(
        False,
        "per-state Fisher: the base action is one of the N samples, N-1 solves (fidec's option; release: N fresh)",
    )

    # --- FQL
    fql_alpha: float = option(10.0, "weight of FQL's distillation term (fql)", low=0)

    # --- IQL (FQL's agents/iql.py; docs/method.md, "IQL")
    iql_expectile: float = option(
        0.9, "tau: the expectile of V(s) under Q(s, a) (iql)", low=0, low_open=True, high=1, high_open=True
    )
    iql_alpha: float = option(
        10.0, "AWR inverse temperature: weights min(exp(alpha * (Q - V)), 100) (iql; per task: docs/presets.md)", low=0
    )
    iql_const_std: bool = option(
        True, "the Gaussian actor's std is fixed at 1 (FQL's const_std); --no-iql-const-std learns one per dimension"
    )

    # --- ReBRAC (FQL's agents/rebrac.py; docs/method.md, "ReBRAC")
    rebrac_alpha_actor: float = option(
        0.0, "weight of the actor's BC penalty ||pi(s) - a||^2 (rebrac; per task: docs/presets.md)", low=0
    )
    rebrac_alpha_critic: float = option(
        0.0, "weight of the critic target's BC penalty ||a' - a_next||^2 (rebrac; per task: docs/presets.md)", low=0
    )
    rebrac_actor_freq: int = option(
        2, "the actor and the target networks are updated every N-th update (rebrac; TD3's delayed update)", low=1
    )
    rebrac_actor_noise: float = option(
        0.2, "std of the target policy smoothing noise, also the online exploration noise (rebrac)", low=0
    )
    rebrac_actor_noise_clip: float = option(0.5, "the smoothing noise is clipped to [-c, c] (rebrac)", low=0)

    # --- data and evaluation conventions of the source
    data_convention: str = option(
        "episodes",
        "how Minari data become transitions: episodes (per episode, Dict observations flattened with their goals) "
        "or d4rl (d4rl.qlearning_dataset and the release's processing: no goal keys, timeout transitions dropped); "
        "D4RL .hdf5 files are always read the d4rl way. The paper preset's D4RL rows use d4rl",
        DATA_CONVENTIONS,
    )
    success_timing: str = option(
        "pre",
        "OGBench singletask tasks: success, reward and termination computed before the step (pre: OGBench >= 1.2) "
        "or after it (post: OGBench 1.1, which FQL's published numbers used)",
        SUCCESS_TIMINGS,
    )

    # --- pixel observations (fidec/encoders.py, fidec/data/frames.py; the paper preset sets them for visual-* tasks)
    encoder: str = option(
        "none",
        "image encoder of each network for pixel observations (FQL's utils/encoders.py): none (state "
        "observations), impala_small (FQL's and the release's visual runs), impala, impala_debug (tiny, for "
        "tests)",
        ENCODERS,
    )
    frame_stack: int = option(
        1,
        "pixel observations: the last K frames stacked on the channel axis (visual runs: 3)",
        low=1,
    )
    p_aug: float = option(
        0.0,
        "pixel observations: probability that a minibatch gets random-shift augmentation (pad 3, FQL's "
        "utils/datasets.py; visual runs: 0.5)",
        low=0,
        high=1,
    )
    data_placement: str = option(
        "auto",
        "where the training data lives: device (whole dataset on the accelerator), host (host memory, minibatches "
        "streamed to the device in prefetched chunks), auto (device when it fits data_memory_budget_gb)",
        DATA_PLACEMENTS,
    )
    data_memory_budget_gb: float = option(
        0.0,
        "auto placement: the most device memory (GiB) the dataset may take; 0 = 60% of the accelerator's memory",
        low=0,
    )
    stream_updates: int = option(
        50,
        "host placement: updates per prefetched minibatch chunk (a divisor of chunk_size)",
        low=1,
    )

    # --- offline-to-online fine-tuning (fidec/online; FQL's main.py semantics)
    online_steps: int = option(
        0,
        "offline-to-online: environment steps per seed after the offline --steps, each seed in its own "
        "environment (fd, deflow, fql, iql, rebrac); 0 = offline only",
        low=0,
    )
    online_updates_per_step: int = option(1, "online: gradient updates per environment step (FQL: 1)", low=1)
    online_collect: int = option(
        10,
        "online: environment steps collected (one batched policy call each) before their updates run as one "
        "compiled call; 1 = FQL's act-update alternation",
        low=1,
    )
    buffer_size: int = option(
        2_000_000,
        "online replay capacity (FQL's buffer_size): the dataset plus online transitions, oldest overwritten "
        "first; with --balanced-sampling the online buffer's own capacity",
        low=1,
    )
    balanced_sampling: bool = option(
        False,
        "online: half of each batch from the dataset, half from a separate online buffer (FQL's balanced_sampling)",
    )
    online_freeze_flow: bool = option(
        False,
        "online: hold the behaviour flow's parameters fixed (the release's fix_bc_flow_online; fd, deflow, fql)",
    )

    # --- training loop, evaluation and logging
    chunk_size: int = option(
        1000,
        "updates per compiled call (lax.scan); log/eval/checkpoint intervals are multiples",
        low=1,
    )
    log_every: int = option(5000, "steps between training records (a multiple of chunk_size)", low=1)
    eval_every: int = option(100_000, "steps between evaluations (a multiple of chunk_size)", low=1)
    eval_episodes: int = option(50, "episodes per evaluation and seed; 0 turns evaluation off", low=0)
    eval_from: int = option(
        0,
        "skip the eval_every evaluations before this step (the last step is always evaluated); saves time where "
        "only the final evaluations count",
        low=0,
    )
    checkpoint_every: int = option(100_000, "steps between checkpoints (a multiple of chunk_size)", low=1)
    dataset_dir: str | None = option(None, "dataset directory (default $FIDEC_DATASET_DIR, else ~/.ogbench/data)")
    eval_mode: str = option(
        "vectorised",
        "vectorised: all episodes and seeds in lockstep, one batched policy call per step; sequential: one by one",
        ("vectorised", "sequential"),
    )
    eval_envs: int = option(
        20,
        "vectorised evaluation: most environments alive at once (a cube env takes ~150 MB)",
        low=1,
    )
    eval_workers: int = option(
        0,
        "vectorised evaluation: worker processes stepping the environments (0: in-process)",
        low=0,
    )
    matmul_precision: str | None = option(
        None,
        "precision of every matrix product and convolution of the update, the policy and evaluation: highest "
        "(float32), tf32 (TensorFloat-32 on NVIDIA GPUs from Ampere on), bf16 (bfloat16 operands, float32 "
        "accumulation); unset: JAX's default (TF32 on such GPUs, float32 on CPU, where all three are float32); "
        "a resumed run keeps its own",
        MATMUL_PRECISIONS,
    )
    logger: str = option("none", "extra sinks beside metrics.jsonl/csv: none, tensorboard, wandb, or tensorboard,wandb")

    # --- informational, filled by resolution
    family: str | None = option(
        None,
        "derived from env: the row of docs/presets.md 'Per-family hyperparameters' the presets used (not settable)",
        derived=True,
    )

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
        """Every field against its type and rule (:data:`FIELDS`), then the rules that tie fields together;
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
                "flow BC (--agent bc) has no online phase (no critic, no reward); use fd, deflow, fql, iql or rebrac "
                "with --online-steps"
            )
        if self.online_freeze_flow and self.agent in ("iql", "rebrac"):
            bad(f"--online-freeze-flow holds the behaviour flow fixed; {self.agent} has no flow: drop it")
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


#: Every Config field's help text and allowed values, read off the dataclass (tests ask every field for one).
FIELDS: dict[str, Rule] = {f.name: f.metadata["rule"] for f in fields(Config) if "rule" in f.metadata}

#: The rule of a field declared without :func:`option`: its type is still checked, and a test asks for a rule.
UNDOCUMENTED = Rule("(undocumented: declare this field with fidec.config.schema.option)")


def _hints() -> dict:
    return typing.get_type_hints(Config)


def field_types() -> dict:
    """Each Config field's type (``int``, ``tuple[int, ...]``, ``str | None``, ...), by name."""
    return _hints()


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def expected(typ) -> str:
    """What a value of a field of type ``typ`` must be, in words (the end of every type error)."""
    if typ is bool:
        return "true or false"
    if typ is int:
        return "an integer"
    if typ is float:
        return "a finite number"
    if typ == tuple[int, ...]:
        return "a non-empty list of integers (e.g. 256,256)"
    if typ == tuple[float, ...]:
        return "a list of finite numbers (e.g. 0.001,0.01)"
    return "a string"


def check_field(name: str, value, typ) -> str | None:
    """Why ``value`` is not acceptable for field ``name`` of type ``typ`` (a one-line reason), or None."""
    rule = FIELDS.get(name) or UNDOCUMENTED  # tests/test_hardening.py fails for a field without a rule
    if value is None and typ == str | None:
        return None
    want = expected(typ)
    if typ is bool:
        ok = isinstance(value, bool)
    elif typ is int:
        ok = _is_int(value)
    elif typ is float:
        ok = _is_number(value)
    elif typ == tuple[int, ...]:
        ok = isinstance(value, tuple) and len(value) > 0 and all(_is_int(v) for v in value)
    elif typ == tuple[float, ...]:
        ok = isinstance(value, tuple) and all(_is_number(v) for v in value)
    else:
        ok = isinstance(value, str)
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
    """The JSON lists of a saved config's tuple-typed fields become tuples (in place)."""
    for name in ("hidden_dims", "target_divergences"):
        if isinstance(values.get(name), list):
            values[name] = tuple(values[name])


#: Fields added in fidec 0.2, with the behaviour fidec 0.1 had: run folders written by 0.1 resume as they ran.
LEGACY_DEFAULTS: dict = {
    "weight_init": "lecun",
    "refiner_zero_init": True,
    "clip_scope": "per-network",
    "target_update": "post-update",
    "fisher_reuse_base": True,
    "act_refine_steps": 0,
}
