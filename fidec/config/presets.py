"""Presets: the values a run takes from its task and its preset, each with its source.

Resolution order (later wins): the dataclass defaults of :mod:`fidec.config.schema` (the authors' release, as
its run scripts ran it) -> the per-family values of docs/presets.md ("Per-family hyperparameters"), chosen from
the task name -> the preset's parts -> explicit overrides (command line, suite file or keyword arguments).

A preset is one recipe and at most one budget, joined by ``+``:

- recipes: ``paper`` (the authors' release, github ARC0127/Fisher-Decorator at 8c90736, and FQL's release for
  FQL; proven by ``benchmarks/parity``) and ``fidec`` (fidec's own choices, each a named field; see
  :data:`FIDEC_CHOICES` and docs/presets.md, "fidec's own recipe");
- budgets: ``cpu`` (smaller networks and evaluation schedule) and ``tiny`` (seconds, for tests):
  :data:`BUDGET_VALUES`.

``cpu`` alone means ``paper+cpu``; ``fidec+cpu`` is fidec's recipe at the cpu budget.
"""

from __future__ import annotations

import re
from dataclasses import fields

from fidec.config.coerce import coerce_all
from fidec.config.schema import AGENTS, PRESETS, Config, preset_parts
from fidec.errors import ConfigError
from fidec.tasknames import canonical_env, d4rl_dataset, is_visual, ogbench_family, source_of

# --- per-family values: docs/presets.md, "Per-family hyperparameters" (the paper's table; OGBench singletask)
#: family -> (discount, q_agg, target_divergence (FD = DeFlow), fql_alpha)
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
    # Pixels (docs/presets.md, the visual rows): eps from the release's scripts/fql_scope_registry.sh L117-129,
    # FQL's alpha from FQL's README (visual-cube-single 300, visual-cube-double/scene 100, visual-puzzle 300).
    "visual-cube-single-play": (0.99, "mean", 0.001, 300.0),
    "visual-cube-double-play": (0.99, "mean", 0.001, 100.0),
    "visual-scene-play": (0.99, "mean", 0.001, 100.0),
    "visual-puzzle-3x3-play": (0.99, "mean", 0.005, 300.0),
    "visual-puzzle-4x4-play": (0.99, "mean", 0.005, 300.0),
    # D4RL through Minari (minari:D4RL/antmaze/..., minari:D4RL/pen/...): docs/presets.md's D4RL rows; the release's
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
#: IQL's AWR temperature and ReBRAC's two BC weights per family: family -> (iql_alpha, rebrac_alpha_actor,
#: rebrac_alpha_critic). Cited rows are FQL's README commands (github seohongpark/fql at 719d044, "IQL, ReBRAC, and
#: IFQL (examples)"): humanoidmaze-medium-navigate (IQL --agent.alpha=10; ReBRAC --agent.alpha_actor=0.01
#: --agent.alpha_critic=0.01) and visual-cube-single-play (IQL --agent.alpha=1; ReBRAC --agent.alpha_actor=1
#: --agent.alpha_critic=0). The FQL paper's appendix tables (arXiv 2502.02538) hold the other rows; they were not
#: retrievable here, so every other family takes a stand-in (docs/presets.md, "IQL and ReBRAC"): the cited
#: humanoidmaze-medium row for state tasks (its IQL alpha is also FQL's code default), the cited visual-cube-single
#: row for pixel tasks.
BASELINE_TABLE: dict[str, tuple[float, float, float]] = {
    "humanoidmaze-medium-navigate": (10.0, 0.01, 0.01),
    "visual-cube-single-play": (1.0, 1.0, 0.0),
}
#: The stand-in rows for families BASELINE_TABLE does not cite (state tasks, pixel tasks).
BASELINE_STANDIN = BASELINE_TABLE["humanoidmaze-medium-navigate"]
BASELINE_STANDIN_VISUAL = BASELINE_TABLE["visual-cube-single-play"]


def baseline_values(family: str | None, visual: bool) -> dict:
    """IQL's and ReBRAC's per-family values (:data:`BASELINE_TABLE`, else the stand-in of its kind)."""
    default = BASELINE_STANDIN_VISUAL if visual else BASELINE_STANDIN
    iql_alpha, alpha_actor, alpha_critic = BASELINE_TABLE.get(family or "", default)
    return {"iql_alpha": iql_alpha, "rebrac_alpha_actor": alpha_actor, "rebrac_alpha_critic": alpha_critic}


#: D4RL families offline: 500k gradient steps, one evaluation at the end (release: OFFLINE_STEPS=500000,
#: PAPER_EVAL_STEPS="500000" in scripts/fql_scope_registry.sh L132-146). Applied by the paper preset.
D4RL_STEPS = 500_000
#: D4RL offline-to-online: the offline phase is 1M steps, evaluated every 100k. FQL's README runs its online commands
#: without --offline_steps (main.py's default, 1000000); the release's online grid restores the offline checkpoint
#: of step 1M (scripts/run_fqlscope_online_grid_2x4090.sh L38 RESTORE_EPOCH=1000000, L155, and start_steps
#: "1000000" in its manifest, L210) with EVAL_INTERVAL=100000 (L54).
D4RL_ONLINE_VALUES = {"steps": 1_000_000, "eval_every": 100_000}
#: Pixel tasks (visual-*): FQL's README and the release's registry (L117-129) run 500k steps with
#: --agent.encoder=impala_small --p_aug=0.5 --frame_stack=3, evaluated at 300k/400k/500k.
VISUAL_VALUES = {"steps": 500_000, "encoder": "impala_small", "p_aug": 0.5, "frame_stack": 3}

#: The default task of each OGBench state family: the task the release's paper-table flags name
#: (scripts/ogbench_env_flags.sh L7-35: its case arms match only these tasks and the bare '-singletask-v0' names,
#: which OGBench maps to them; FQL's README says the same). The paper preset turns Q normalisation on for these
#: tasks only: ogbench_env_flags.sh L5 passes --agent.normalize_q_loss=True, while the release's 50-task grid, the
#: only script that runs the other tasks, passes --agent.normalize_q_loss=${NORMALIZE_Q:-false}
#: (scripts/run_fqlscope_offline_grid_2x4090.sh L24, L124).
OGBENCH_DEFAULT_TASK: dict[str, int] = {
    "antmaze-large-navigate": 1,
    "antmaze-giant-navigate": 1,
    "humanoidmaze-medium-navigate": 1,
    "humanoidmaze-large-navigate": 1,
    "antsoccer-arena-navigate": 4,
    "cube-single-play": 2,
    "cube-double-play": 2,
    "scene-play": 2,
    "puzzle-3x3-play": 4,
    "puzzle-4x4-play": 4,
}

#: FQL's alpha for offline-to-online runs, per task, from FQL's README ("Offline-to-online RL", the FQL commands: one
#: --agent.alpha for the offline and the online phase of the run): the OGBench default tasks it runs online (keyed by
#: family) and the D4RL datasets (keyed as D4RL_FQL_ALPHA).
FQL_ONLINE_ALPHA: dict[str, float] = {
    "humanoidmaze-medium-navigate": 100.0,
    "antsoccer-arena-navigate": 30.0,
    "cube-double-play": 300.0,
    "scene-play": 300.0,
    "puzzle-4x4-play": 1000.0,
    "antmaze-umaze": 10.0,
    "antmaze-umaze-diverse": 10.0,
    "antmaze-medium-play": 10.0,
    "antmaze-medium-diverse": 10.0,
    "antmaze-large-play": 3.0,
    "antmaze-large-diverse": 3.0,
    "pen-cloned": 1000.0,
    "door-cloned": 1000.0,
    "hammer-cloned": 1000.0,
    "relocate-cloned": 10_000.0,
}


def is_default_task(env: str) -> bool:
    """An OGBench state task that is its family's default task (OGBENCH_DEFAULT_TASK), or the bare
    '-singletask-v0' name of one."""
    fam = ogbench_family(env)
    if fam not in OGBENCH_DEFAULT_TASK or is_visual(env):
        return False
    m = re.search(r"-singletask(?:-task(\d+))?-v\d+$", env)
    return bool(m) and (m.group(1) is None or int(m.group(1)) == OGBENCH_DEFAULT_TASK[fam])


def preset_family(env: str) -> str | None:
    """The row of docs/presets.md's per-family table for a task: the OGBench dataset family
    ('cube-single-play-singletask-task2-v0' -> 'cube-single-play') or the D4RL family of a Minari id
    ('d4rl-antmaze', 'd4rl-adroit'); None for tasks the table does not list (e.g. point mazes)."""
    d4rl = d4rl_dataset(env)
    if d4rl is not None:
        return d4rl[0]
    base = ogbench_family(env)
    return base if base in FAMILY_TABLE else None


#: fidec's own choices: the ``fidec`` recipe. Each is a named field the paper preset sets the release's way;
#: docs/presets.md ("fidec's own recipe") lists them with the reason and the measurement behind each.
FIDEC_CHOICES: dict = {
    "weight_init": "lecun",  # Flax's default initialisation (larger initial outputs than Glorot)
    "refiner_zero_init": True,  # training starts from the behaviour policy (delta = 0)
    "clip_scope": "per-network",  # a large critic gradient does not shrink the actor's step
    "target_update": "post-update",  # the target follows the critic after its step
    "fisher_reuse_base": True,  # per-state: the base action is a behaviour sample (one solve fewer)
    "fisher_locality": "per-action",  # docs/method.md, "Locality": curvature at the action being refined
    "score_estimator": "exact",  # the proxy v/(1-t) is not a score (docs/presets.md, "The proxy is not a score")
    "normalize_q": False,
}


#: The budgets. ``cpu``: a reduced budget for 2-core CPUs (the `cpu` benchmark suite), the method's math
#: unchanged. ``tiny``: seconds, for tests: tiny networks and budget, the same code paths (pixel tasks also get
#: the tiny ``impala_debug`` encoder).
BUDGET_VALUES: dict[str, dict] = {
    "cpu": {
        "hidden_dims": (256, 256, 256),
        "eval_episodes": 20,
        "log_every": 1000,
        "chunk_size": 500,
        "eval_every": 5000,
        "checkpoint_every": 5000,
    },
    "tiny": {
        "hidden_dims": (32, 32),
        "batch_size": 32,
        "flow_steps": 3,
        "fisher_samples": 4,
        "steps": 40,
        "chunk_size": 10,
        "log_every": 10,
        "eval_every": 20,
        "checkpoint_every": 20,
        "eval_episodes": 2,
    },
}


def preset_values(preset: str, env: str, agent: str, online: bool = False) -> dict:
    """The values preset ``preset`` sets for a run of ``agent`` on ``env`` (before explicit overrides); ``online``:
    the run has an online phase (``online_steps > 0``)."""
    recipe, budget = preset_parts(preset)
    vals: dict = {}
    fam = preset_family(env)
    if fam is not None:
        discount, q_agg, eps, fql_alpha = FAMILY_TABLE[fam]
        vals.update(discount=discount, q_agg=q_agg, target_divergence=eps, fql_alpha=fql_alpha)
    d4rl = d4rl_dataset(env)
    if d4rl is not None:
        vals["fql_alpha"] = D4RL_FQL_ALPHA.get(d4rl[1], vals["fql_alpha"])
        vals.update(D4RL_ONLINE_VALUES if online else {"steps": D4RL_STEPS, "eval_every": D4RL_STEPS})
        # d4rl.qlearning_dataset and the release's processing (release envs/d4rl_utils.py, envs/env_utils.py)
        vals["data_convention"] = "d4rl"
    if source_of(env) == "hdf5":  # a D4RL-format file, whatever its name
        vals["data_convention"] = "d4rl"
    if online:
        # FQL's offline-to-online commands run both phases with one alpha, their own (FQL's README)
        key = d4rl[1] if d4rl is not None else (fam if is_default_task(env) else None)
        if key in FQL_ONLINE_ALPHA:
            vals["fql_alpha"] = FQL_ONLINE_ALPHA[key]
    vals["family"] = fam
    visual = is_visual(env)
    if visual:
        vals.update(VISUAL_VALUES)
    if agent in ("iql", "rebrac"):
        # FQL's agents/iql.py and agents/rebrac.py take the min of the two critics (clipped double Q) everywhere
        vals.update(baseline_values(fam, visual), q_agg="min")
    if recipe == "paper":
        if agent in ("fql", "bc", "iql", "rebrac"):
            # FQL's release (seohongpark/fql, utils/flax_utils.py) has no gradient clipping; its README runs
            # OGBench without Q normalisation (ReBRAC normalises its actor's Q term itself). Flow BC is trained as
            # FQL trains its flow.
            vals.update(grad_clip=0.0)
        elif is_default_task(env):
            # Each release script for the tasks it covers: the paper-table scripts (scripts/ogbench_env_flags.sh L5)
            # pass --agent.normalize_q_loss=True for the default task of each state family (OGBENCH_DEFAULT_TASK);
            # the 50-task grid, pixels, D4RL and the code default leave it off.
            vals.update(normalize_q=True)
    else:
        vals.update(FIDEC_CHOICES)
    if budget is not None:
        vals.update(BUDGET_VALUES[budget])
    if budget == "tiny" and visual:
        vals.update(encoder="impala_debug")
    return vals


def preset_fields() -> set[str]:
    """The fields some preset (for some task family) sets."""
    out: set[str] = set()
    for preset in PRESETS:
        for agent in AGENTS:
            for env in ("cube-single-play-singletask-task1-v0", "visual-cube-single-play-singletask-task1-v0"):
                out |= set(preset_values(preset, env, agent)) - {"family"}
    return out


def resolve(overrides: dict | None = None) -> Config:
    """A Config from defaults, then the preset named in ``overrides`` (default paper), then ``overrides``
    (each read by :func:`fidec.config.coerce.coerce`)."""
    overrides = dict(overrides or {})
    names = {f.name for f in fields(Config)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ConfigError(f"unknown config field(s): {', '.join(unknown)}; see 'fidec train --help'")
    overrides = coerce_all(overrides)
    preset = overrides.get("preset", Config.preset)
    env = overrides.get("env", Config.env)
    if not isinstance(env, str):
        raise ConfigError(f"env must be a string, got {env!r}")
    env = overrides["env"] = canonical_env(env)
    online = bool(overrides.get("online_steps", Config.online_steps))
    values = preset_values(preset, env, overrides.get("agent", Config.agent), online=online)
    values.update(overrides)
    cfg = Config(**values)
    cfg.validate()
    return cfg


#: The built-in default job (`fidec quickstart`, the README's first command), chosen by measurement
#: (docs/quickstart.md):
#: FD with fidec's recipe (per-action Fisher, docs/method.md "Locality"; 0.43x the per-state cost per update) and the
#: velocity score proxy, i.e. fidec 0.1's defaults, which the quickstart figures of docs/quickstart.md measured, on a
#: point-maze task whose goal flow BC never reaches from the navigate data, small networks for a 2-D
#: state, and a budget that fits a 2-core CPU.
QUICKSTART = {
    "dataset": "pointmaze-medium-navigate-v0",
    "dataset_episodes": 300,
    "overrides": {
        "env": "pointmaze-medium-navigate-singletask-task3-v0",
        "preset": "fidec",  # fidec's recipe (docs/presets.md): per-action Fisher, zero-init refiner, ...
        "score_estimator": "velocity",  # ... with the score proxy: the configuration the quickstart figures measured
        "hidden_dims": (128, 128, 128),
        "steps": 40_000,
        "chunk_size": 500,
        "log_every": 2500,
        "eval_every": 5000,
        "checkpoint_every": 5000,
        "eval_episodes": 20,
    },
}
