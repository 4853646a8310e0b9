"""Parity harness: fidec's `--preset paper` against the authors' release and FQL's release, update by update.

For each agent (fd and deflow against the FD release; fql, iql and rebrac against FQL's ``agents/``; flow bc
against the behaviour flow inside FQL's agent, whose gradient is the flow-matching loss's alone; state
observations, and with ``--pixels`` the visual agents) it builds fidec's agent from ``resolve({'preset': 'paper',
...})`` and the release's agent from the release's own ``get_config()`` plus the flags its run scripts (for IQL and
ReBRAC: FQL's README commands) pass, and

- compares the two agents' initial parameters layer by layer, each side drawn by its own initialisers
  (:func:`init_figures`: mean and std of every kernel in units of its Glorot bound, its excess over the bound
  and its fraction of zeros; every bias, LayerNorm and log alpha exactly);
- copies fidec's initial parameters into the release's agent, then for ``--updates`` steps feeds both the same
  batch and the same noise and compares, in units of the update (:func:`update_figures`): every loss term both
  sides log (relative), every parameter's gradient (relative to its norm), Adam's first moment after the step
  (it holds the clipped gradient), each parameter's step Delta theta (relative to the release's step) and the
  target critic's step (in units of tau times the critic's step);
- checks the configuration itself (each release setting against fidec's resolved field);
- with ``--mutations``, runs fidec with one setting changed (:data:`MUTATIONS`) against the same release
  update (update 1; ReBRAC's first actor update, update 2, after replaying update 1) and records by how much
  each exceeds the unmodified run's worst figure;
- with ``--pixels``, stacks frames and shifts images with FQL's ``Dataset`` and with fidec's pipeline from the
  same rows and offsets, then runs the visual agents (an encoder per network) as above;
- with ``--online``, feeds FQL's ``ReplayBuffer`` (as FQL's ``main.py`` fills it) and fidec's online buffer
  the same transitions and compares what they hold and the batches they return for the same rows.

The release draws its noise with ``jax.random.normal``/``uniform`` inside its losses; the harness replaces
those two functions (under ``jax.disable_jit``) by a queue that hands out fidec's noise in the order the
release's code draws it, checking every shape. Nothing of the release is copied into fidec: it is imported
from the checkouts given on the command line.

    python benchmarks/parity/parity.py --release PATH/Fisher-Decorator --fql PATH/fql --out benchmarks/parity/result

Needs ``ml_collections`` and ``distrax`` (the release's imports): ``pip install -r benchmarks/parity/requirements.txt``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import json
import math
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fidec.agents import make_agent
from fidec.config import resolve

ENV = "cube-single-play-singletask-task2-v0"  # method.md's cube row: discount 0.99, mean, eps 0.001, FQL alpha 300
VISUAL_ENV = "visual-cube-single-play-singletask-task2-v0"  # the same task from pixels (FQL alpha 300)
#: IQL's and ReBRAC's state task: the one whose flags FQL's README gives ("IQL, ReBRAC, and IFQL (examples)");
#: from pixels they run on VISUAL_ENV, whose flags the same README section gives too.
BASELINE_ENV = "humanoidmaze-medium-navigate-singletask-task1-v0"
#: Those README commands' flags, set on FQL's get_config() (not taken from fidec: the config rows compare them).
README_FLAGS = {
    ("iql", False): {"discount": 0.995, "alpha": 10.0},
    ("rebrac", False): {"discount": 0.995, "alpha_actor": 0.01, "alpha_critic": 0.01},
    ("iql", True): {"alpha": 1.0},
    ("rebrac", True): {"alpha_actor": 1.0, "alpha_critic": 0.0},
}
AGENTS = ("fd", "deflow", "fql", "bc", "iql", "rebrac")
OBS_DIM, ACTION_DIM = 28, 5  # cube-single's observation and action sizes
IMAGE = (16, 16, 3)  # pixel harness: a tiny frame (the tasks' frames are 64x64x3); impala_small runs on any size
FRAME_STACK = 3
# fidec's top-level networks -> the release's ModuleDict names
NETWORKS = {
    "flow": "actor_bc_flow",
    "critic": "critic",
    "refine": "refine_onestep_flow",
    "onestep": "actor_onestep_flow",
    "value": "value",  # IQL
    "actor": "actor",  # IQL's and ReBRAC's Gaussian actor (FQL's Actor)
}

# fidec loss-term name -> the release's logged name (values compared at every update)
TERMS = {
    "fd": {
        "critic_loss": "critic/critic_loss",
        "q_data": "critic/q_mean",
        "flow_loss": "actor/bc_flow_loss",
        "divergence": "actor/distill_loss",
        "q_policy": "actor/q",
        "alpha": "actor/alpha_value",
        "alpha_loss": "actor/alpha_loss",
        "sq_displacement": "actor/refinement_mse",
        "fidec_actor_total": "actor/actor_loss",
    },
    "fql": {
        "critic_loss": "critic/critic_loss",
        "q_data": "critic/q_mean",
        "flow_loss": "actor/bc_flow_loss",
        "distill_loss": "actor/distill_loss",
        "q_policy": "actor/q",
        "fidec_actor_total": "actor/actor_loss",
    },
}
TERMS["deflow"] = {k: v for k, v in TERMS["fd"].items() if k != "sq_displacement"}
TERMS["bc"] = {"flow_loss": "actor/bc_flow_loss"}
TERMS["iql"] = {
    "value_loss": "value/value_loss",
    "v_mean": "value/v_mean",
    "critic_loss": "critic/critic_loss",
    "td_target": "critic/q_mean",  # FQL's critic 'q_mean' is the mean TD target
    "actor_loss": "actor/actor_loss",
    "adv": "actor/adv",
    "bc_log_prob": "actor/bc_log_prob",
    "std": "actor/std",
}
TERMS["rebrac"] = {  # the actor's terms are logged on its updates only (every actor_freq-th)
    "critic_loss": "critic/critic_loss",
    "q_data": "critic/q_mean",
    "actor_q_loss": "actor/actor_loss",  # FQL's 'actor_loss' is the normalised Q term alone
    "actor_bc_loss": "actor/bc_loss",
    "actor_loss": "actor/total_loss",
}
FLOW_AGENTS = ("fd", "deflow", "fql")  # the agents whose actor total adds the flow-matching loss


# ----------------------------------------------------------------------------- importing the releases
def import_release(path: Path, module: str):
    """Import ``module`` (e.g. 'agents.fidec') from a checkout; both releases name their packages agents/utils."""
    for name in list(sys.modules):
        if name.split(".")[0] in ("agents", "utils", "envs"):
            del sys.modules[name]
    sys.path.insert(0, str(path))
    try:
        return importlib.import_module(module)
    finally:
        sys.path.remove(str(path))


def release_agent(agent: str, release: Path, fql: Path):
    """(module, agent class) of ``agent`` in the releases: FQL's FQLAgent (fql; bc, whose flow is FQL's behaviour
    flow), IQLAgent, ReBRACAgent; the FD release's FiDecAgent/DeFlowAgent."""
    if agent in ("fql", "bc"):
        mod = import_release(fql, "agents.fql")
        return mod, mod.FQLAgent
    if agent in ("iql", "rebrac"):
        mod = import_release(fql, f"agents.{agent}")
        return mod, (mod.IQLAgent if agent == "iql" else mod.ReBRACAgent)
    mod = import_release(release, "agents.fidec" if agent == "fd" else "agents.deflow")
    return mod, (mod.FiDecAgent if agent == "fd" else mod.DeFlowAgent)


def release_config(agent: str, cfg, module):
    """The release's config as its run scripts set it, from fidec's resolved paper config (pixels: the encoder
    FQL's README and the release's ``scripts/fql_scope_registry.sh`` pass, ``--agent.encoder=impala_small``)."""
    rc = module.get_config()
    visual = cfg.encoder != "none"
    if visual:
        rc.encoder = "impala_small"
    rc.lr, rc.batch_size = cfg.lr, cfg.batch_size
    rc.actor_hidden_dims = rc.value_hidden_dims = tuple(cfg.hidden_dims)
    if agent in ("iql", "rebrac"):
        for k, v in README_FLAGS[(agent, visual)].items():
            rc[k] = v
        return rc
    rc.discount, rc.tau, rc.q_agg, rc.flow_steps = cfg.discount, cfg.tau, cfg.q_agg, cfg.flow_steps
    if agent in ("fql", "bc"):
        rc.alpha = cfg.fql_alpha  # FQL's README: --agent.alpha=300 for cube; no normalize_q_loss
        return rc
    # scripts/ogbench_env_flags.sh + VARIANT_EXTRA of scripts/run_ogbench_state5_baseline_variant.sh
    rc.normalize_q_loss = not visual  # the visual rows of the registry pass no normalize_q_loss: its default, off
    rc.target_divergence = 0.001
    if agent == "fd":
        rc.num_fisher_samples, rc.fisher_t, rc.fisher_t_width, rc.fisher_damping = 8, 0.90, 0.05, 1e-3
    return rc


def _shared_pairs(cfg, actor: str) -> list[tuple]:
    """The settings every release agent has (release config key, fidec field, fidec value); ``actor`` names the
    network whose LayerNorm ``actor_layer_norm`` switches."""
    return [
        ("lr", "lr", cfg.lr),
        ("batch_size", "batch_size", cfg.batch_size),
        ("actor_hidden_dims", "hidden_dims", tuple(cfg.hidden_dims)),
        ("value_hidden_dims", "hidden_dims", tuple(cfg.hidden_dims)),
        ("layer_norm", "critic LayerNorm (always on)", True),
        ("actor_layer_norm", f"{actor} LayerNorm (always off)", False),
        ("discount", "discount", cfg.discount),
        ("tau", "tau", cfg.tau),
        ("encoder", "encoder (none: state)", None if cfg.encoder == "none" else cfg.encoder),
    ]


def _no_clip_pair(cfg) -> tuple:
    """FQL's TrainState has no clip: fidec's grad_clip = 0 means none."""
    return ("(no grad_clip in FQL)", "grad_clip (0 = none)", None if cfg.grad_clip == 0 else cfg.grad_clip)


def _baseline_pairs(agent: str, cfg) -> list[tuple]:
    """IQL's and ReBRAC's settings (FQL's config key, fidec field, fidec value)."""
    pairs = _shared_pairs(cfg, "actor") + [("(min of the two critics)", "q_agg", cfg.q_agg), _no_clip_pair(cfg)]
    if agent == "iql":
        return pairs + [
            ("expectile", "iql_expectile", cfg.iql_expectile),
            ("alpha", "iql_alpha", cfg.iql_alpha),
            ("actor_loss", "AWR actor (always)", "awr"),
            ("const_std", "iql_const_std", cfg.iql_const_std),
        ]
    return pairs + [
        ("alpha_actor", "rebrac_alpha_actor", cfg.rebrac_alpha_actor),
        ("alpha_critic", "rebrac_alpha_critic", cfg.rebrac_alpha_critic),
        ("actor_freq", "rebrac_actor_freq", cfg.rebrac_actor_freq),
        ("actor_noise", "rebrac_actor_noise", cfg.rebrac_actor_noise),
        ("actor_noise_clip", "rebrac_actor_noise_clip", cfg.rebrac_actor_noise_clip),
        ("tanh_squash", "tanh policy (always)", True),
        ("actor_fc_scale", "GaussianActor.final_init_scale (0.01)", 0.01),
    ]


def config_rows(agent: str, cfg, rc) -> list[dict]:
    """Each release setting beside fidec's resolved value."""
    if agent in ("iql", "rebrac"):
        return _rows(_baseline_pairs(agent, cfg), rc)
    pairs = _shared_pairs(cfg, "flow/actor") + [
        ("q_agg", "q_agg", cfg.q_agg),
        ("flow_steps", "flow_steps", cfg.flow_steps),
        ("normalize_q_loss", "normalize_q", cfg.normalize_q),
    ]
    if agent == "fql":
        pairs += [("alpha", "fql_alpha", cfg.fql_alpha)]
    if agent in ("fql", "bc"):
        pairs += [_no_clip_pair(cfg)]
    else:
        pairs += [
            ("grad_clip", "grad_clip", cfg.grad_clip),
            ("alpha", "alpha_init", cfg.alpha_init),
            ("use_lagrange", "lagrangian", cfg.lagrangian),
            ("target_divergence", "target_divergence", cfg.target_divergence),
        ]
        if agent == "fd":
            pairs += [
                ("num_fisher_samples", "fisher_samples", cfg.fisher_samples),
                ("fisher_t", "fisher_t_max", cfg.fisher_t_max),
                ("fisher_t_width", "fisher_t_width", cfg.fisher_t_width),
                ("fisher_damping", "fisher_damping", cfg.fisher_damping),
                (
                    "score v/(1-t) (the 'alternative' exact score is commented out)",
                    "score_estimator",
                    cfg.score_estimator,
                ),
            ]
    return _rows(pairs, rc)


def _rows(pairs: list[tuple], rc) -> list[dict]:
    rows = []
    for rkey, fkey, fval in pairs:
        if rkey == "(min of the two critics)":  # FQL's iql.py/rebrac.py take the min, fixed in the code
            rval = "min"
        elif rkey.startswith("("):
            rval = None
        elif rkey.startswith("score"):
            rval = "velocity"
        else:
            rval = rc[rkey]
            if isinstance(rval, list | tuple):
                rval = tuple(rval)
        rows.append({"release": rkey, "fidec": fkey, "release_value": rval, "fidec_value": fval, "same": rval == fval})
    return rows


# ----------------------------------------------------------------------------- parameters both ways
def _mlp(tree: dict) -> dict:
    """Descend through single-child wrappers (MLP_0, VmapMLP_0, mlp, value_net) to the dict of Dense/LayerNorm."""
    while len(tree) == 1 and not any(k.startswith(("Dense", "LayerNorm")) for k in tree):
        tree = next(iter(tree.values()))
    return tree


def enc_from_release(tree: dict) -> dict:
    """The release's/FQL's ImpalaEncoder tree (``stack_blocks_i``, ``MLP_0/Dense_0``) in fidec's names
    (``ResnetStack_i``, ``Dense_0``)."""
    out = {}
    for k, v in tree.items():
        if k.startswith("stack_blocks_"):
            out["ResnetStack_" + k.removeprefix("stack_blocks_")] = v
        elif k == "MLP_0":
            out.update(v)
        else:
            raise KeyError(f"unexpected encoder entry {k!r}")
    return out


def enc_to_release(tree: dict, template: dict) -> dict:
    """fidec's encoder tree in the release's names, shapes checked against the release's ``template``."""
    out = {}
    for k, v in template.items():
        src = tree["ResnetStack_" + k.removeprefix("stack_blocks_")] if k.startswith("stack_blocks_") else tree
        if k == "MLP_0":
            src = {d: tree[d] for d in v}
        _check_shapes(v, src)
        out[k] = jax.tree_util.tree_map(jnp.asarray, src)
    return out


def _check_shapes(a: dict, b: dict) -> None:
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b), (a.keys(), b.keys())
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        assert x.shape == y.shape, (x.shape, y.shape)


def canon_net(tree: dict) -> dict:
    """One fidec network in the layout both sides are compared in: its Dense/LayerNorm dict (a Gaussian actor's
    also holds ``log_stds`` where it learns one), or with pixels ``{"encoder": ..., "net": ...}``."""
    if "encoder" in tree and "net" in tree:
        return {"encoder": tree["encoder"], "net": _mlp(tree["net"])}
    return _mlp(tree)


def has_actor_target(target) -> bool:
    """Whether a target tree is ReBRAC's ``{"critic": ..., "actor": ...}`` (the others': one target critic)."""
    return isinstance(target, dict) and set(target) == {"critic", "actor"}


def canon_target(target):
    """fidec's target parameters in the compared layout: the target critic's network, or ReBRAC's
    ``{"critic": ..., "actor": ...}``; None for agents without targets (bc)."""
    if target is None:
        return None
    if has_actor_target(target):
        return {k: canon_net(v) for k, v in target.items()}
    return canon_net(target)


def actor_from_release(rtree: dict) -> dict:
    """FQL's ``Actor`` (``actor_net`` MLP, ``mean_net``, optional ``log_stds``) as fidec's GaussianActor
    (``Dense_0..n``, the last the mean layer, and ``log_stds``)."""
    body = _mlp(rtree["actor_net"])
    n = sum(k.startswith("Dense_") for k in body)
    out = {**body, f"Dense_{n}": rtree["mean_net"]}
    if "log_stds" in rtree:
        out["log_stds"] = rtree["log_stds"]
    return out


def actor_to_release(actor: dict, template: dict) -> dict:
    """fidec's GaussianActor parameters in FQL's ``Actor`` layout, shapes checked against ``template``."""
    n = sum(k.startswith("Dense_") for k in actor) - 1
    body = {f"Dense_{i}": actor[f"Dense_{i}"] for i in range(n)}
    out = {"mean_net": actor[f"Dense_{n}"]}
    if "log_stds" in template:
        out["log_stds"] = actor["log_stds"]
    net = template["actor_net"]
    flat = any(k.startswith(("Dense", "LayerNorm")) for k in net)
    out["actor_net"] = body if flat else {next(iter(net)): body}  # the MLP's layers, or under one wrapper
    out = {k: out[k] for k in template if k != "encoder"}
    _check_shapes({k: v for k, v in template.items() if k != "encoder"}, out)
    return jax.tree_util.tree_map(jnp.asarray, out)


def to_release(params: dict, target: dict | None, template: dict) -> dict:
    """fidec's parameters in the release's tree layout (``template`` is the release's own initial tree)."""

    def graft(rtree: dict, mlp: dict) -> dict:
        if any(k.startswith(("Dense", "LayerNorm")) for k in rtree):
            assert set(rtree) == set(mlp), (set(rtree), set(mlp))
            _check_shapes(rtree, mlp)  # same layer names, same shapes
            return jax.tree_util.tree_map(jnp.asarray, mlp)
        ((key, child),) = rtree.items()
        return {key: graft(child, mlp)}

    def network(rtree: dict, fidec_net: dict) -> dict:
        net = canon_net(fidec_net)
        if "mean_net" in rtree:  # FQL's Actor
            if "encoder" not in rtree:
                return actor_to_release(net, rtree)
            return {"encoder": enc_to_release(net["encoder"], rtree["encoder"]), **actor_to_release(net["net"], rtree)}
        if "encoder" not in rtree:
            return graft(rtree, net["net"] if "net" in net and "encoder" in net else net)
        ((other, child),) = ((k, v) for k, v in rtree.items() if k != "encoder")
        return {"encoder": enc_to_release(net["encoder"], rtree["encoder"]), other: graft(child, net["net"])}

    targets = target if has_actor_target(target) else {"critic": target}
    out = {}
    for rname, rtree in template.items():
        mod = rname.removeprefix("modules_")
        net = "log_alpha" if mod == "log_alpha" else _fidec_name(mod.removeprefix("target_").removesuffix("_encoder"))
        if net not in params:  # bc: FQL's networks other than its behaviour flow keep their own values
            out[rname] = rtree
        elif mod == "log_alpha":
            out[rname] = {"value": jnp.reshape(params["log_alpha"], (1,))}
        elif mod.startswith("target_"):
            out[rname] = network(rtree, targets[net])
        elif mod.endswith("_encoder"):  # the flow's encoder, a module of its own in the release and FQL
            out[rname] = enc_to_release(params[net]["encoder"], rtree)
        else:
            out[rname] = network(rtree, params[net])
    return out


def _fidec_name(release_module: str) -> str | None:
    return {v: k for k, v in NETWORKS.items()}.get(release_module)


def from_release(rparams: dict) -> tuple[dict, dict]:
    """The release's tree as (fidec params, fidec targets), each network as :func:`canon_net` lays it out; the
    targets as :func:`canon_target` lays them out (the target critic, or ReBRAC's critic and actor)."""

    def network(rtree: dict) -> dict:
        if "mean_net" in rtree:  # FQL's Actor
            actor = actor_from_release(rtree)
            return {"encoder": enc_from_release(rtree["encoder"]), "net": actor} if "encoder" in rtree else actor
        if "encoder" not in rtree:
            return _mlp(rtree)
        ((other, child),) = ((k, v) for k, v in rtree.items() if k != "encoder")
        return {"encoder": enc_from_release(rtree["encoder"]), "net": _mlp(child)}

    params, targets, encoders = {}, {}, {}
    for rname, rtree in rparams.items():
        mod = rname.removeprefix("modules_")
        if mod == "log_alpha":
            params["log_alpha"] = jnp.reshape(rtree["value"], ())
        elif mod.startswith("target_"):
            targets[_fidec_name(mod.removeprefix("target_"))] = network(rtree)
        elif mod.endswith("_encoder"):
            encoders[_fidec_name(mod.removesuffix("_encoder"))] = enc_from_release(rtree)
        else:
            params[_fidec_name(mod)] = network(rtree)
    for name, enc in encoders.items():
        params[name] = {"encoder": enc, "net": params[name]}
    target = targets if has_actor_target(targets) else targets.get("critic")
    return params, target


def strip(fidec_params: dict) -> dict:
    """fidec's params with each network in :func:`canon_net`'s layout (the layout from_release returns)."""
    return {k: (v if k == "log_alpha" else canon_net(v)) for k, v in fidec_params.items()}


def max_rel_diff(a, b) -> tuple[float, float]:
    """(max |a - b| / max(|b|, 1e-6) over elements whose |b| > 1e-5 * max|b|, max |a - b|) over two pytrees."""
    rel, absd = 0.0, 0.0
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        assert x.shape == y.shape, (x.shape, y.shape)
        d = np.abs(x - y)
        absd = max(absd, float(d.max(initial=0.0)))
        scale = np.abs(y).max(initial=0.0)
        mask = np.abs(y) > 1e-5 * max(scale, 1e-12)
        if mask.any():
            rel = max(rel, float((d[mask] / np.maximum(np.abs(y[mask]), 1e-6)).max()))
    return rel, absd


# ----------------------------------------------------------------------------- figures in units of the update
def leaves(tree) -> dict[str, np.ndarray]:
    """``{'critic/Dense_0/kernel': array, ...}``: every leaf of a pytree by its path, as float64."""
    flat, _ = jax.tree_util.tree_flatten_with_path(tree)
    return {
        "/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path): np.asarray(x, np.float64)
        for path, x in flat
    }


def _ratio(num: float, den: float) -> float:
    if den > 0:
        return num / den
    return 0.0 if num == 0 else math.inf


def leaf_figure(a, b, unit=None) -> tuple[float, str]:
    """(max over leaves of ||a - b|| / ||unit||, that leaf); ``unit`` defaults to ``b``: the difference of the
    two sides relative to the reference side's own size, leaf by leaf (a layer's kernel, a bias, log alpha).
    With ``unit`` given, a leaf's unit is the larger of ||unit|| and ||b||."""
    la, lb = leaves(a), leaves(b)
    lu = lb if unit is None else leaves(unit)
    assert set(la) == set(lb) == set(lu), sorted(set(la) ^ set(lb))
    worst, where = 0.0, ""
    for k in sorted(la):
        assert la[k].shape == lb[k].shape, (k, la[k].shape, lb[k].shape)
        den = max(float(np.linalg.norm(lu[k])), float(np.linalg.norm(lb[k])))
        r = _ratio(float(np.linalg.norm(la[k] - lb[k])), den)
        if r > worst or not where:
            worst, where = r, k
    return worst, where


def terms_figure(a: dict, b: dict) -> tuple[float, str]:
    """(max over the loss terms both sides log of |a - b| / |b|, that term)."""
    worst, where = 0.0, ""
    for k in sorted(b):
        r = _ratio(abs(a[k] - b[k]), abs(b[k]))
        if r > worst or not where:
            worst, where = r, k
    return worst, where


#: The figures compared at every update, each in units of its own size (the release's side is the unit):
#: name -> what it is (the report's rows).
QUANTITIES = {
    "init": "initial parameters, own initialisers: kernels' mean and std difference in units of the Glorot bound; "
    "biases, LayerNorm, log alpha: max |difference|",
    "init_support": "initial kernels: difference of max |w| beyond the Glorot bound and of the fraction of zeros",
    "terms": "loss terms: |fidec - release| / |release|",
    "grads": "gradients: ||g_fidec - g_release|| / ||g_release||, per parameter leaf",
    "adam_mu": "Adam's first moment after the step (the clipped gradient): relative, per leaf",
    "step": "parameter step Delta theta = theta_after - theta_before: ||Dtheta_fidec - Dtheta_release|| / "
    "||Dtheta_release||, per leaf",
    "target": "target step: ||Dtarget_fidec - Dtarget_release|| / max(tau ||Dcritic_release||, ||Dtarget_release||), "
    "per leaf",
}

#: Pass/fail limit of each figure: about 3x the worst float32 difference of the unmodified run (result/worst.json
#: records that run's figures; tests/test_parity_mutations.py asserts each mutation exceeds 10x them).
TOLERANCES = {
    "init": 0.3,  # two independent draws: sampling noise, up to 0.12 on a 64x1 layer
    "init_support": 1e-6,  # no noise: any kernel value beyond its Glorot bound, or a zeroed kernel, fails
    "terms": 5e-5,  # a Q term near 0 carries float32 noise of up to 1.8e-5 relative within 10 updates
    "grads": 1e-5,
    "adam_mu": 1e-5,
    "step": 2e-3,  # Adam's step is ~lr sign(m): an element whose gradient is ~0 may flip
    "target": 5e-3,  # float32 differences of a target's lag behind its network: up to 1.5e-3 by update 10
}
#: A figure below float32's resolution counts as this in a margin (an exact 0 is no yardstick).
NOISE_FLOOR = 1e-7


def update_figures(a: dict, b: dict, tau: float) -> dict:
    """The figures of one update, side ``a`` (fidec) against side ``b`` (the release): name -> (value, where).
    ``a``/``b`` are :func:`fidec_record`/:func:`release_record` records. The target figure's unit is tau times
    the step of the network each target follows (ReBRAC: the critic's and the actor's), or the release's target
    step where that is larger (after a few updates a target lags its network by more than one step, and float32
    differences of that lag are noise); bc has no target."""
    figs = {
        "terms": terms_figure(a["terms"], b["terms"]),
        "grads": leaf_figure(a["grads"], b["grads"]),
        "adam_mu": leaf_figure(a["adam_mu"], b["adam_mu"]),
        "step": leaf_figure(a["step"], b["step"]),
    }
    if b["target_step"] is not None:
        pair = has_actor_target(b["target_step"])
        followed = {k: b["step"][k] for k in ("critic", "actor")} if pair else b["step"]["critic"]
        unit = jax.tree_util.tree_map(lambda x: tau * x, followed)
        figs["target"] = leaf_figure(a["target_step"], b["target_step"], unit)
    return figs


# ----------------------------------------------------------------------------- initialisation
def glorot_bound(shape: tuple[int, ...]) -> float:
    """sqrt(6 / (fan_in + fan_out)) of a Dense kernel (..., in, out) or a convolution (kh, kw, in, out)."""
    if len(shape) == 4:
        rf = shape[0] * shape[1]
        fan_in, fan_out = shape[2] * rf, shape[3] * rf
    else:
        fan_in, fan_out = shape[-2], shape[-1]
    return math.sqrt(6.0 / (fan_in + fan_out))


def init_stats(params: dict, target: dict) -> dict:
    """Per layer: kernels' mean, std and max |w| in units of the Glorot bound (an ensemble's members pooled),
    how far max |w| exceeds the bound and the fraction of exact zeros; every other leaf (bias, LayerNorm,
    log alpha) as its values."""
    out = {}
    tree = params if target is None else {**params, "target_critic": target}
    for k, x in leaves(tree).items():
        if k.endswith("kernel"):
            bound = glorot_bound(x.shape)
            top = float(np.abs(x).max() / bound)
            out[k] = {
                "mean": float(x.mean() / bound),
                "std": float(x.std() / bound),
                "max": top,
                "excess": max(0.0, top - 1.0),
                "zeros": float(np.mean(x == 0)),
            }
        else:
            out[k] = {"values": x}
    return out


def init_figures(a: dict, b: dict) -> dict:
    """Two figures of :func:`init_stats` a against b, each (value, layer):

    - ``init``: the largest difference of a kernel's mean or std (bound units; sampling noise of two
      independent draws) or of a bias, LayerNorm or log alpha value (constants: exact);
    - ``init_support``: the largest difference of a kernel's excess over its Glorot bound or of its fraction of
      exact zeros; both are 0 for every Glorot-uniform draw, so this one has no sampling noise.
    """
    assert set(a) == set(b), sorted(set(a) ^ set(b))
    out = {"init": (0.0, ""), "init_support": (0.0, "")}
    for k in sorted(a):
        if "values" in a[k]:
            moment = float(np.abs(a[k]["values"] - b[k]["values"]).max(initial=0.0))
            support = 0.0
        else:
            moment = max(abs(a[k][s] - b[k][s]) for s in ("mean", "std"))
            support = max(abs(a[k][s] - b[k][s]) for s in ("excess", "zeros"))
        for q, d in (("init", moment), ("init_support", support)):
            if d > out[q][0] or not out[q][1]:
                out[q] = (d, k)
    return out


def init_table(a: dict, b: dict) -> list[dict]:
    """The per-layer rows of the report: fidec's and the release's kernel statistics side by side."""
    rows = []
    for k in sorted(a):
        if "values" in a[k]:
            rows.append({"layer": k, "max_abs_diff": float(np.abs(a[k]["values"] - b[k]["values"]).max(initial=0))})
        else:
            rows.append({"layer": k, "fidec": a[k], "release": b[k]})
    return rows


# ----------------------------------------------------------------------------- the noise queue
class NoiseQueue:
    """Replaces jax.random.normal/uniform: each call returns the next queued array (shape checked)."""

    def __init__(self):
        self.queue: list[tuple[str, np.ndarray]] = []
        self.normal, self.uniform = jax.random.normal, jax.random.uniform

    def put(self, kind: str, arr) -> None:
        self.queue.append((kind, np.asarray(arr, np.float32)))

    @contextlib.contextmanager
    def active(self):
        def normal(key, shape=(), dtype=jnp.float32, *a, **k):
            return self._take("normal", shape)

        def uniform(key, shape=(), dtype=jnp.float32, minval=0.0, maxval=1.0, *a, **k):
            x = self._take("uniform", shape)
            assert float(x.min()) >= float(minval) - 1e-6 and float(x.max()) <= float(maxval) + 1e-6, (minval, maxval)
            return x

        jax.random.normal, jax.random.uniform = normal, uniform
        try:
            with jax.disable_jit():
                yield self
        finally:
            jax.random.normal, jax.random.uniform = self.normal, self.uniform
        assert not self.queue, f"{len(self.queue)} queued draws were not used by the release"

    def _take(self, kind: str, shape):
        assert self.queue, f"the release drew an unexpected {kind} {tuple(shape)}"
        k, x = self.queue.pop(0)
        assert k == kind and x.shape == tuple(shape), f"release drew {kind}{tuple(shape)}, queue had {k}{x.shape}"
        return jnp.asarray(x)


def queue_release_order(agent: str, noise: dict, q: NoiseQueue, cfg) -> None:
    """fidec's noise in the order the release's total_loss draws it: critic_loss first (the policy's noise at
    s'), then actor_loss (flow matching x0, t; then the agent's own draws), then the 'mse' diagnostic action.
    IQL draws nothing; ReBRAC only its target policy smoothing; bc's flow draws go where FQL's flow takes them,
    and FQL's other draws (which move only FQL's other networks, not compared for bc) get zeros."""
    if agent == "iql":
        return
    if agent == "rebrac":
        q.put("normal", noise["next"])
        return
    if agent == "bc":
        b, d = noise["fm"]["x0"].shape
        noise = {**noise, "next": np.zeros((b, d)), "z": np.zeros((b, d))}
    b, d = noise["next"].shape
    q.put("normal", noise["next"])
    q.put("normal", noise["fm"]["x0"])
    q.put("uniform", noise["fm"]["t"])
    if agent in ("fql", "bc"):
        q.put("normal", noise["z"])
    else:
        q.put("normal", noise["base"])
        if agent == "fd":
            n = cfg.fisher_samples
            q.put("normal", np.reshape(noise["fisher"]["samples"], (b * n, d)))  # obs repeated N times per row
            q.put("normal", np.reshape(noise["fisher"]["x0"], (b * n, d)))
            q.put("uniform", np.reshape(noise["fisher"]["t"], (b * n, 1)))
    q.put("normal", np.zeros((b, d)))  # the release's logged 'mse' samples an action; it changes no loss


# ----------------------------------------------------------------------------- one update, each side
def adam_mu(opt_state) -> dict:
    """Adam's first moment by top-level entry, from optax.adam's state or from a multi_transform of them
    (fidec's ``clip_scope='per-network'``: each network's moment sits in its own state, the others masked)."""
    states = [
        s
        for s in jax.tree_util.tree_leaves(opt_state, is_leaf=lambda x: isinstance(x, optax.ScaleByAdamState))
        if isinstance(s, optax.ScaleByAdamState)
    ]
    out = {}
    for s in states:
        out.update({k: v for k, v in s.mu.items() if not isinstance(v, optax.MaskedNode)})
    return out


def tree_sub(a, b):
    return jax.tree_util.tree_map(lambda x, y: jnp.asarray(x, jnp.float32) - jnp.asarray(y, jnp.float32), a, b)


def fidec_terms(agent: str, info: dict) -> dict:
    info = {k: float(v) for k, v in info.items()}
    if agent in FLOW_AGENTS:
        info["fidec_actor_total"] = info["actor_loss"] + info["flow_loss"] + info.get("alpha_loss", 0.0)
    return {k: info[k] for k in TERMS[agent]}


def fidec_record(fd_agent, state, batch: dict, noise: dict):
    """One fidec update (its own ``losses`` differentiated and ``apply_update``: ``update_with_noise`` without
    frozen networks) and its record: loss terms, gradients, Adam's first moment, the steps of the parameters and
    of the target critic, each network in :func:`canon_net`'s layout."""
    grads, info = jax.grad(fd_agent.losses, has_aux=True)(state.params, state, batch, noise)
    new = fd_agent.apply_update(state, grads, state.rng)
    return new, {
        "terms": fidec_terms(fd_agent.config.agent, info),
        "grads": strip(grads),
        "adam_mu": strip(adam_mu(new.opt_state)),
        "step": tree_sub(strip(new.params), strip(state.params)),
        "target_step": None
        if state.target_params is None
        else tree_sub(canon_target(new.target_params), canon_target(state.target_params)),
    }


@contextlib.contextmanager
def capture_grads(template):
    """While active, every ``jax.grad(...)(...)`` call records its gradient whose tree is ``template``'s (the
    release's ``TrainState.apply_loss_fn`` differentiates its loss once per update)."""
    got, original = [], jax.grad
    structure = jax.tree_util.tree_structure(template)

    def grad(fun, *args, **kwargs):
        g = original(fun, *args, **kwargs)

        def wrapped(*a, **k):
            out = g(*a, **k)
            value = out[0] if kwargs.get("has_aux") else out
            if jax.tree_util.tree_structure(value) == structure:
                got.append(value)
            return out

        return wrapped

    jax.grad = grad
    try:
        yield got
    finally:
        jax.grad = original


def full_update(agent: str, actor_freq: int, update: int) -> bool:
    """FQL's ``main.py``: ``agent.update(batch, full_update=(i % actor_freq == 0))``, ``i`` counted from 1;
    only ReBRAC's ``update`` takes the argument."""
    return agent != "rebrac" or update % actor_freq == 0


def first_full_update(agent: str, actor_freq: int) -> int:
    """The first update that trains every network (ReBRAC: its first actor update; the others: update 1)."""
    return next(u for u in range(1, 100) if full_update(agent, actor_freq, u))


def release_record(rel, agent: str, batch: dict, noise: dict, cfg, update: int = 1, rc=None):
    """Update ``update`` (from 1) of the release's own ``update`` fed fidec's noise, and its record in fidec's
    layout (bc: the behaviour flow's leaves alone, the part of FQL's update that is flow BC's)."""
    before, before_t = from_release(rel.network.params)
    q = NoiseQueue()
    queue_release_order(agent, noise, q, cfg)
    kwargs = {"full_update": full_update(agent, rc.actor_freq, update)} if agent == "rebrac" else {}
    with q.active(), capture_grads(rel.network.params) as got:
        rel, info = rel.update({k: np.asarray(v) for k, v in batch.items()}, **kwargs)
    assert len(got) == 1, f"the release's update took {len(got)} gradients of its parameters, expected 1"
    after, after_t = from_release(rel.network.params)
    pick = (lambda t: {"flow": t["flow"]}) if agent == "bc" else (lambda t: t)
    return rel, {
        # ReBRAC logs its actor's terms on the actor's updates only
        "terms": {fk: float(np.asarray(info[rk]).reshape(())) for fk, rk in TERMS[agent].items() if rk in info},
        "grads": pick(from_release(got[0])[0]),
        "adam_mu": pick(from_release(adam_mu(rel.network.opt_state))[0]),
        "step": pick(tree_sub(after, before)),
        "target_step": None if agent == "bc" else tree_sub(after_t, before_t),
    }


def release_loss(rel, batch, grad_params):
    return rel.total_loss(batch, grad_params, rng=rel.rng)


# ----------------------------------------------------------------------------- batches
def fidec_config(agent: str, hidden=(), batch_size: int = 256, pixels: bool = False, **overrides):
    """fidec's resolved paper config of the harness's task (``pixels``: its visual twin, impala_small); IQL and
    ReBRAC from state on :data:`BASELINE_ENV`."""
    env = VISUAL_ENV if pixels else BASELINE_ENV if agent in ("iql", "rebrac") else ENV
    ov = {"agent": agent, "env": env, "preset": "paper", "batch_size": batch_size}
    if hidden:
        ov["hidden_dims"] = tuple(hidden)
    ov.update(overrides)
    return resolve(ov)


def obs_shape_of(pixels: bool):
    return (IMAGE[0], IMAGE[1], IMAGE[2] * FRAME_STACK) if pixels else OBS_DIM


def state_batch(key, batch_size: int) -> dict:
    """A synthetic minibatch of cube-single's shapes: N(0, 1) observations, actions in [-1, 1], rewards in
    {-1, 0} (OGBench's), masks mostly 1."""
    k = jax.random.split(key, 5)
    next_key = jax.random.fold_in(key, 5)  # ReBRAC's next_actions (a key of their own: the others' batches stay)
    return {
        "observations": jax.random.normal(k[0], (batch_size, OBS_DIM)),
        "next_observations": jax.random.normal(k[1], (batch_size, OBS_DIM)),
        "actions": jnp.clip(0.6 * jax.random.normal(k[2], (batch_size, ACTION_DIM)), -1, 1),
        "rewards": -(jax.random.uniform(k[3], (batch_size,)) < 0.9).astype(jnp.float32),
        "masks": (jax.random.uniform(k[4], (batch_size,)) < 0.95).astype(jnp.float32),
        "next_actions": jnp.clip(0.6 * jax.random.normal(next_key, (batch_size, ACTION_DIM)), -1, 1),
    }


def batch_keys(seed: int, u: int):
    """(batch key, noise key) of update ``u`` (0-based)."""
    k = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(1000 + seed), u), 2)
    return k[0], k[1]


# ----------------------------------------------------------------------------- pixels: frames, stacking, shifts
def frame_dataset(seed: int, episodes: int = 6) -> dict:
    """A synthetic pixel dataset in OGBench's compact layout (one row per frame, ``valids = 0`` on each episode's
    last row): random uint8 frames of :data:`IMAGE`, episodes of 2-9 transitions (short ones exercise the
    frame stack's episode-start padding)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, 10, episodes)
    rows = int(lengths.sum() + episodes)
    valids = np.concatenate([np.r_[np.ones(n), 0.0] for n in lengths]).astype(np.float32)
    return {
        "observations": rng.integers(0, 256, (rows, *IMAGE), dtype=np.uint8),
        "valids": valids,
        "actions": np.clip(0.6 * rng.standard_normal((rows, ACTION_DIM)), -1, 1).astype(np.float32),
        "rewards": -(rng.random(rows) < 0.9).astype(np.float32),
        "masks": (rng.random(rows) < 0.95).astype(np.float32),
    }


class PixelBatches:
    """Minibatches of stacked, shifted frames made twice from the same rows and offsets: by FQL's ``Dataset``
    (``sample(idxs=...)`` with ``frame_stack``, then ``augment``) and by fidec's pipeline
    (:func:`fidec.data.frames.stacked_observations`, then ``shift_images``, which ``random_shift`` applies);
    each batch is checked identical (uint8, exactly) and fidec's goes to both agents."""

    def __init__(self, fql_path: Path, seed: int, next_actions: bool = False):
        from fidec.data.frames import from_compact
        from fidec.data.loading import with_next_actions

        raw = frame_dataset(seed)
        self.data = from_compact(raw["observations"], raw["valids"], raw["rewards"], raw["masks"], raw["actions"])
        if next_actions:  # ReBRAC: fidec's next row's action, FQL's return_next_actions
            self.data = with_next_actions(self.data)
        idx = self.data.index
        fql_datasets = import_release(fql_path, "utils.datasets")
        self.fql = fql_datasets.Dataset.create(
            freeze=False,
            observations=raw["observations"][idx],
            next_observations=raw["observations"][idx + 1],
            terminals=(raw["valids"][idx + 1] == 0).astype(np.float32),
            actions=self.data.actions,
            rewards=self.data.rewards,
            masks=self.data.masks,
        )
        self.fql.frame_stack = FRAME_STACK
        self.fql.return_next_actions = next_actions
        self.keys = ("observations", "next_observations", "actions", "rewards", "masks")
        self.keys += ("next_actions",) if next_actions else ()
        self.checked = 0

    def __call__(self, key, batch_size: int) -> dict:
        from fidec.data.frames import AUG_PAD, shift_images, stacked_observations

        seed = int(jax.random.randint(key, (), 0, 2**31 - 1))
        rows = np.random.default_rng(seed).integers(0, len(self.data), batch_size)
        ours = stacked_observations(self.data, rows, FRAME_STACK)
        theirs = self.fql.sample(batch_size, idxs=rows)
        for k in self.keys:
            assert np.array_equal(np.asarray(ours[k]), np.asarray(theirs[k])), f"frame stacking differs in {k}"
        np.random.seed(seed)  # FQL's augment draws its crop offsets from numpy's global generator
        self.fql.augment(theirs, ["observations", "next_observations"])
        np.random.seed(seed)
        offsets = np.random.randint(0, 2 * AUG_PAD + 1, (batch_size, 2))
        for k in ("observations", "next_observations"):
            ours[k] = np.asarray(shift_images(jnp.asarray(ours[k]), jnp.asarray(offsets)))
            assert np.array_equal(ours[k], np.asarray(theirs[k])), f"the random shift differs in {k}"
        self.checked += 1
        return {k: jnp.asarray(v) for k, v in ours.items()}


# ----------------------------------------------------------------------------- the online loop
class _ToyEnv:
    """A deterministic 3-d task (Gymnasium's API) that ends both ways: terminated when x[0] > 1.2 (masks 0),
    truncated after 5 steps (masks 1), so resets follow both kinds of episode end."""

    def reset(self, seed=None, options=None):
        rng = np.random.default_rng(seed)
        self.x, self.t = rng.normal(size=3).astype(np.float32), 0
        return self.x.copy(), {}

    def step(self, action):
        self.t += 1
        self.x = (0.8 * self.x + np.r_[action, action[:1]]).astype(np.float32)
        terminated = bool(self.x[0] > 1.2)
        return self.x.copy(), float(self.x.sum()), terminated, self.t >= 5, {}

    def close(self):
        pass


class _ToyTask:
    env_name, obs_dim, action_dim, info = "toy", 3, 2, {}

    def make_env(self):
        return _ToyEnv()


def compare_online(fql_path: Path, steps: int = 14, n_data: int = 6, seed: int = 0) -> list[dict]:
    """One seed's online phase fed the same actions twice: FQL's ``main.py`` loop (reset when done, add
    ``observations, actions, rewards, terminals = done, masks = 1 - terminated, next_observations`` to FQL's own
    ``ReplayBuffer``, then sample) and fidec's (:class:`fidec.online.collect.OnlineCollector`, its rings and
    sampler), with a buffer that wraps over the dataset and with ``balanced_sampling``. Environment resets use
    fidec's reset seeds on both sides (FQL resets unseeded). Returns one row per check."""
    from types import SimpleNamespace

    from fidec.data.loading import TRANSITION_KEYS
    from fidec.online import buffer as ob
    from fidec.online.collect import OnlineCollector, reset_seed

    fql_datasets = import_release(fql_path, "utils.datasets")
    rng = np.random.default_rng(seed)
    data = {
        "observations": rng.normal(size=(n_data, 3)).astype(np.float32),
        "actions": rng.uniform(-1, 1, (n_data, 2)).astype(np.float32),
        "rewards": rng.normal(size=n_data).astype(np.float32),
        "masks": np.ones(n_data, np.float32),
        "next_observations": rng.normal(size=(n_data, 3)).astype(np.float32),
    }
    actions = rng.uniform(-1, 1, (steps, 2)).astype(np.float32)
    rows = []
    for balanced, buffer_size in ((False, n_data + 5), (False, 10_000), (True, 8)):
        cfg = SimpleNamespace(batch_size=64, buffer_size=buffer_size, balanced_sampling=balanced, online_steps=steps)
        # FQL's main.py
        example = {k: v[0] for k, v in data.items()}
        example["terminals"] = np.float32(0)
        if balanced:
            fql_buf = fql_datasets.ReplayBuffer.create(example, size=buffer_size)
        else:
            fql_buf = fql_datasets.ReplayBuffer.create_from_initial_dataset(
                {**data, "terminals": np.zeros(n_data, np.float32)}, buffer_size
            )
        env, done, episode = _ToyEnv(), True, 0
        # fidec's loop
        col = OnlineCollector(_ToyTask(), [seed])
        col.reset_all()
        ring = ob.ring_size(cfg, n_data)
        bufs = ob.empty_ring(1, ring, data)
        sample = ob.make_sampler(cfg, n_data, ring)
        same_rows, support_ok, counts_ok, quirk_at = True, True, True, None
        for t in range(steps):
            if done:
                ob_, _ = env.reset(seed=reset_seed(seed, episode))
                episode += 1
            next_ob, reward, terminated, truncated, _ = env.step(actions[t].copy())
            done = terminated or truncated
            fql_buf.add_transition(
                dict(
                    observations=ob_,
                    actions=actions[t],
                    rewards=reward,
                    terminals=float(done),
                    masks=1.0 - terminated,
                    next_observations=next_ob,
                )
            )
            ob_ = next_ob
            new, _ = col.step(actions[t][None])
            bufs = ob.push(bufs, {k: v[:, None] for k, v in new.items()}, t, ring)
            m = t + 1
            # what each holds: FQL's buffer[:size] against fidec's surviving dataset rows plus its ring
            held_fql = np.concatenate(
                [np.asarray(fql_buf[k][: fql_buf.size]).reshape(fql_buf.size, -1) for k in TRANSITION_KEYS], axis=1
            )
            counts = ob.buffer_counts(cfg, n_data, m)
            ring_rows = [(m - 1 - j) % ring for j in range(counts["online"])]
            ours = {k: np.asarray(bufs[k][0])[ring_rows] for k in TRANSITION_KEYS}
            if balanced:
                held_ours = np.concatenate([ours[k].reshape(len(ring_rows), -1) for k in TRANSITION_KEYS], axis=1)
            else:
                keep = np.arange(n_data - counts["dataset"], n_data)
                held_ours = np.concatenate(
                    [np.concatenate([data[k][keep], ours[k]]).reshape(counts["size"], -1) for k in TRANSITION_KEYS],
                    axis=1,
                )
            fql_held = fql_buf.size
            if (0 if balanced else n_data) + m >= fql_buf.max_size:
                # FQL's pointer has wrapped: its `size = max(pointer, size)` stops at capacity - 1, so the
                # transition in its last slot is written but never sampled; fidec samples it
                last = np.concatenate([np.asarray(fql_buf[k][-1]).reshape(1, -1) for k in TRANSITION_KEYS], axis=1)
                held_fql = np.concatenate([held_fql, last])
                fql_held += 1
                quirk_at = m if quirk_at is None else quirk_at
            counts_ok &= (counts["online"] if balanced else counts["size"]) == fql_held
            same_rows &= np.array_equal(np.sort(held_fql, axis=0), np.sort(held_ours, axis=0))
            # every row fidec's sampler draws is a row FQL's buffer (balanced: dataset half, buffer half) holds
            batch = sample(
                {k: jnp.asarray(v) for k, v in data.items()},
                {k: v[0] for k, v in bufs.items()},
                jax.random.PRNGKey(t),
                jnp.int32(m),
            )
            drawn = np.concatenate([np.asarray(batch[k]).reshape(cfg.batch_size, -1) for k in TRANSITION_KEYS], 1)
            pool = held_fql  # (with FQL's unsampled last slot: fidec may draw it)
            if balanced:
                full = np.concatenate([data[k].reshape(n_data, -1) for k in TRANSITION_KEYS], axis=1)
                half = cfg.batch_size // 2
                support_ok &= _rows_in(drawn[:half], full) and _rows_in(drawn[half:], pool)
            else:
                support_ok &= _rows_in(drawn, pool)
        rows.append(
            {
                "buffer": "balanced (dataset + online buffer)" if balanced else "dataset + online, one buffer",
                "buffer_size": buffer_size,
                "online_steps": steps,
                "episodes": episode,
                "same_transitions_held": bool(same_rows),
                "same_size": bool(counts_ok),
                "samples_from_what_fql_holds": bool(support_ok),
                "fql_last_slot_unsampled_from_step": quirk_at,
            }
        )
    return rows


def _rows_in(rows: np.ndarray, pool: np.ndarray) -> bool:
    return all(np.any(np.all(pool == r, axis=1)) for r in rows)


# ----------------------------------------------------------------------------- mutations
#: Known single-setting differences from the release: (name, agents it applies to, fidec overrides of the
#: reference config, what it is). Each must fail at the compared update by at least 10x the unmodified run's worst
#: figure.
ALL, CRITICS = AGENTS, ("fd", "deflow", "fql", "iql", "rebrac")
MUTATIONS = [
    ("weight_init", ALL, lambda c: {"weight_init": "lecun"}, "Flax's LeCun-normal kernels"),
    ("refiner_zero_init", ("fd", "deflow"), lambda c: {"refiner_zero_init": True}, "refiner output layer at zero"),
    ("clip_scope", ("fd", "deflow"), lambda c: {"clip_scope": "per-network"}, "a clip per network, not joint"),
    (
        "grad_clip",
        CRITICS,  # bc's flow gradient stays under 5 at the first update: that clip changes nothing there
        lambda c: {"grad_clip": 0.0 if c.grad_clip else 5.0},
        "FQL's agents with the release's clip of 5 / FD, DeFlow unclipped",
    ),
    ("fisher_reuse_base", ("fd",), lambda c: {"fisher_reuse_base": True}, "base action reused as a Fisher sample"),
    ("fisher_samples", ("fd",), lambda c: {"fisher_samples": 4}, "N = 4 (the release's code default)"),
    (
        "fisher_t",
        ("fd",),
        lambda c: {"fisher_t_max": 0.95, "fisher_t_width": 0.0},
        "t = 0.95, no width (the release's code default)",
    ),
    ("target_update", CRITICS, lambda c: {"target_update": "post-update"}, "target after Adam"),
    ("normalize_q", ("fd", "deflow", "fql"), lambda c: {"normalize_q": not c.normalize_q}, "Q normalisation flipped"),
    ("fisher_damping", ("fd",), lambda c: {"fisher_damping": 10 * c.fisher_damping}, "damping x10"),
    ("target_divergence", ("fd", "deflow"), lambda c: {"target_divergence": 5 * c.target_divergence}, "eps x5"),
    ("q_agg", CRITICS, lambda c: {"q_agg": "min" if c.q_agg == "mean" else "mean"}, "q_agg flipped"),
    ("discount", CRITICS, lambda c: {"discount": 0.995 if c.discount != 0.995 else 0.99}, "0.995 <-> 0.99"),
    ("lr", ("bc",), lambda c: {"lr": c.lr / 3}, "learning rate / 3"),
    ("iql_expectile", ("iql",), lambda c: {"iql_expectile": 0.7}, "expectile 0.7 (IQL's locomotion value)"),
    ("iql_alpha", ("iql",), lambda c: {"iql_alpha": 3 * c.iql_alpha}, "AWR temperature x3"),
    ("rebrac_alpha_actor", ("rebrac",), lambda c: {"rebrac_alpha_actor": 3 * c.rebrac_alpha_actor}, "actor BC x3"),
    ("rebrac_alpha_critic", ("rebrac",), lambda c: {"rebrac_alpha_critic": 0.0}, "no critic BC penalty"),
    ("rebrac_actor_noise", ("rebrac",), lambda c: {"rebrac_actor_noise": 0.0}, "no target policy smoothing"),
    ("rebrac_actor_freq", ("rebrac",), lambda c: {"rebrac_actor_freq": 1}, "actor trained every update"),
]


@dataclasses.dataclass
class Reference:
    """The compared update of the reference side (update 1; ReBRAC's first actor update): the initial parameters
    fidec's side starts from, the batches and noise keys of the updates up to it, the reference's record of the
    compared update and its initial-parameter statistics."""

    agent: str
    cfg: object
    pixels: bool
    seed: int
    params: dict
    target: dict
    batches: list
    noise_keys: list
    record: dict
    init: dict


def replay(f_agent, state, batches: list, noise_keys: list):
    """fidec's updates over ``batches`` (each with its noise key) from ``state``: (last state, last record)."""
    rec = None
    for batch, key in zip(batches, noise_keys, strict=True):
        state, rec = fidec_record(f_agent, state, batch, f_agent.draw_noise(key, batch))
    return state, rec


def fidec_reference(agent: str, hidden=(), batch_size: int = 32, seed: int = 0) -> Reference:
    """fidec's own paper preset as the reference (tests/test_parity_mutations.py: no release checkout needed)."""
    cfg = fidec_config(agent, hidden, batch_size)
    f_agent = make_agent(cfg, OBS_DIM, ACTION_DIM)
    state = f_agent.init(jax.random.PRNGKey(seed))
    keys = [batch_keys(seed, u) for u in range(first_full_update(agent, cfg.rebrac_actor_freq))]
    batches = [state_batch(kb, batch_size) for kb, _ in keys]
    noise_keys = [kn for _, kn in keys]
    _, rec = replay(f_agent, state, batches, noise_keys)
    init = init_stats(strip(state.params), canon_target(state.target_params))
    return Reference(agent, cfg, False, seed, state.params, state.target_params, batches, noise_keys, rec, init)


def mutation_figures(ref: Reference, overrides: dict) -> dict:
    """fidec with ``overrides`` against the reference's compared update: its initialisation (its own draw) and its
    updates from the reference's initial parameters, batches and noise keys up to the compared one;
    name -> (value, where)."""
    base = {f.name: getattr(ref.cfg, f.name) for f in dataclasses.fields(ref.cfg) if f.name != "family"}
    cfg = resolve({**base, **overrides})
    m_agent = make_agent(cfg, obs_shape_of(ref.pixels), ACTION_DIM)
    own = m_agent.init(jax.random.PRNGKey(ref.seed))
    figs = init_figures(init_stats(strip(own.params), canon_target(own.target_params)), ref.init)
    state = own.replace(params=ref.params, target_params=ref.target, opt_state=m_agent.tx.init(ref.params))
    _, rec = replay(m_agent, state, ref.batches, ref.noise_keys)
    figs.update(update_figures(rec, ref.record, ref.cfg.tau))
    return figs


def margin(figs: dict, worst: dict) -> tuple[float, str]:
    """(max over quantities of figure / worst unmodified figure, that quantity); worst figures below
    :data:`NOISE_FLOOR` count as it."""
    best, which = 0.0, ""
    for q, (value, _) in figs.items():
        r = value / max(worst[q], NOISE_FLOOR)
        if r > best or not which:
            best, which = r, q
    return best, which


def exceeds(figs: dict) -> list[str]:
    """The quantities whose figure is over its tolerance."""
    return [q for q, (value, _) in figs.items() if not value <= TOLERANCES[q]]


# ----------------------------------------------------------------------------- one agent
def compare_agent(
    agent: str,
    release_path: Path,
    fql_path: Path,
    updates: int,
    hidden,
    batch_size: int,
    seed: int,
    pixels: bool = False,
) -> tuple[dict, Reference]:
    """fidec against the release for ``updates`` updates: the result dict and the :class:`Reference` of the first
    update that trains every network (the release's record) that :func:`mutation_figures` compares mutations
    against."""
    cfg = fidec_config(agent, hidden, batch_size, pixels)
    obs_shape = obs_shape_of(pixels)
    fd_agent = make_agent(cfg, obs_shape, ACTION_DIM)
    state = fd_agent.init(jax.random.PRNGKey(seed))

    mod, cls = release_agent(agent, release_path, fql_path)
    rc = release_config(agent, cfg, mod)
    rows = config_rows(agent, cfg, rc)
    shape = (1, *obs_shape) if pixels else (1, OBS_DIM)
    ex_obs = np.zeros(shape, np.uint8 if pixels else np.float32)
    ex_act = np.zeros((1, ACTION_DIM), np.float32)
    rel = cls.create(seed, ex_obs, ex_act, rc)  # the release's own initialisers

    f_init = init_stats(strip(state.params), canon_target(state.target_params))
    r_params, r_target = from_release(rel.network.params)
    if agent == "bc":  # FQL's behaviour flow alone
        r_params, r_target = {"flow": r_params["flow"]}, None
    r_init = init_stats(r_params, r_target)
    init = init_figures(f_init, r_init)
    rparams = to_release(state.params, state.target_params, rel.network.params)
    rel = rel.replace(network=rel.network.replace(params=rparams, opt_state=rel.network.tx.init(rparams)))
    pixel_batches = PixelBatches(fql_path, seed, next_actions=agent == "rebrac") if pixels else None
    compared = first_full_update(agent, cfg.rebrac_actor_freq)  # equal to FQL's actor_freq (config rows)
    if updates < compared:
        raise SystemExit(f"{agent} needs --updates >= {compared} (its first update that trains every network)")

    history, ref, batches, noise_keys = [], None, [], []
    start = state
    for u in range(updates):
        k_batch, k_noise = batch_keys(seed, u)
        batch = pixel_batches(k_batch, batch_size) if pixels else state_batch(k_batch, batch_size)
        noise = fd_agent.draw_noise(k_noise, batch)
        batches.append(batch)
        noise_keys.append(k_noise)
        state, f_rec = fidec_record(fd_agent, state, batch, noise)
        rel, r_rec = release_record(rel, agent, batch, noise, cfg, update=u + 1, rc=rc)
        figs = update_figures(f_rec, r_rec, cfg.tau)
        if u == 0:
            figs.update(init)
        if u + 1 == compared:
            ref = Reference(
                agent, cfg, pixels, seed, start.params, start.target_params, list(batches), list(noise_keys),
                r_rec, r_init,
            )  # fmt: skip
        history.append(
            {
                "update": u + 1,
                "figures": {q: {"value": v, "where": w} for q, (v, w) in figs.items()},
                "terms": {k: {"fidec": f_rec["terms"][k], "release": v} for k, v in r_rec["terms"].items()},
            }
        )
    out = {
        "agent": agent,
        "observations": "pixels" if pixels else "state",
        "config": rows,
        "updates": history,
        "init_layers": init_table(f_init, r_init),
        "sizes": {"hidden": list(cfg.hidden_dims), "batch": batch_size},
    }
    if pixels:
        out["pixels"] = {
            "image": list(IMAGE),
            "frame_stack": FRAME_STACK,
            "encoder": cfg.encoder,
            "batches_checked_identical": pixel_batches.checked,
        }
    return out, ref


def worst_figures(results: list[dict]) -> dict:
    """Each quantity's worst figure over every agent and update of the unmodified runs."""
    worst = {q: 0.0 for q in QUANTITIES}
    for r in results:
        for u in r["updates"]:
            for q, f in u["figures"].items():
                worst[q] = max(worst[q], f["value"])
    return worst


def run_mutations(refs: list[Reference], worst: dict) -> list[dict]:
    """Every applicable mutation against each reference's update 1, with its margin over ``worst``."""
    out = []
    for ref in refs:
        for name, agents, change, what in MUTATIONS:
            if ref.agent not in agents:
                continue
            overrides = change(ref.cfg)
            figs = mutation_figures(ref, overrides)
            m, q = margin(figs, worst)
            out.append(
                {
                    "agent": ref.agent,
                    "observations": "pixels" if ref.pixels else "state",
                    "mutation": name,
                    "overrides": overrides,
                    "what": what,
                    "figures": {k: {"value": v, "where": w} for k, (v, w) in figs.items()},
                    "margin": m,
                    "margin_quantity": q,
                    "fails": exceeds(figs),
                }
            )
    return out


# ----------------------------------------------------------------------------- report
def source_commit(path: Path, given: str | None) -> str:
    """The commit of a checkout: ``given`` (--release-commit/--fql-commit), else ``git rev-parse HEAD`` of a
    git checkout, else the first word of a COMMIT file in it, else 'unknown'."""
    if given:
        return given
    try:
        git = partial(subprocess.run, capture_output=True, text=True, check=True)
        top = git(["git", "-C", str(path), "rev-parse", "--show-toplevel"]).stdout.strip()
        if top and Path(top).resolve() == path.resolve():  # the checkout itself, not a repository around it
            return git(["git", "-C", str(path), "rev-parse", "HEAD"]).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    commit_file = path / "COMMIT"
    if commit_file.is_file():
        return commit_file.read_text().split()[0]
    return "unknown"


def summarize(
    results: list[dict], mutations: list[dict] | None = None, sources: dict | None = None, online=None
) -> tuple[str, bool]:
    lines = [
        "# Parity: fidec `--preset paper` vs the authors' release (fd, deflow) and FQL's release (fql, bc, iql, "
        "rebrac)",
        "",
    ]
    if sources:
        lines += [
            f"Release: `{sources['release']['commit']}`; FQL: `{sources['fql']['commit']}`.",
            "",
        ]
    ok_all = True
    for r in results:
        h = r["updates"]
        worst = {
            q: max((u["figures"][q] for u in h if q in u["figures"]), key=lambda f: f["value"])
            for q in QUANTITIES
            if any(q in u["figures"] for u in h)
        }
        cfg_ok = all(row["same"] for row in r["config"])
        over = [q for q, f in worst.items() if not f["value"] <= TOLERANCES[q]]
        ok = cfg_ok and not over
        ok_all &= ok
        lines += [
            f"## {r['agent']} ({r['observations']}): {'AGREES' if ok else 'DIFFERS'} over {len(h)} updates "
            f"(networks {r['sizes']['hidden']}, batch {r['sizes']['batch']})",
            "",
        ]
        if "pixels" in r:
            p = r["pixels"]
            lines += [
                f"Pixels: {p['image'][0]}x{p['image'][1]}x{p['image'][2]} frames, {p['frame_stack']} stacked, encoder "
                f"`{p['encoder']}` per network; {p['batches_checked_identical']} minibatches stacked and shifted by "
                "FQL's `Dataset` and by fidec's pipeline from the same rows and offsets, identical.",
                "",
            ]
        lines += ["| quantity | worst figure | at | update | tolerance |", "|---|---|---|---|---|"]
        for q, f in worst.items():
            at = next(u["update"] for u in h if q in u["figures"] and u["figures"][q] is f)
            lines.append(f"| {QUANTITIES[q]} | {f['value']:.2e} | `{f['where']}` | {at} | {TOLERANCES[q]:g} |")
        lines += [
            "",
            "| release setting | value | fidec field | value | same |",
            "|---|---|---|---|---|",
        ]
        for c in r["config"]:
            same = "yes" if c["same"] else "**NO**"
            lines.append(f"| `{c['release']}` | {c['release_value']} | `{c['fidec']}` | {c['fidec_value']} | {same} |")
        lines += ["", "Per update (each figure in units of the update, as above):", ""]
        qs = [q for q in QUANTITIES if not q.startswith("init")]
        lines += ["| update | " + " | ".join(qs) + " |", "|---" * (len(qs) + 1) + "|"]
        for u in h:
            cells = (f"{u['figures'][q]['value']:.1e}" if q in u["figures"] else "–" for q in qs)
            lines.append(f"| {u['update']} | " + " | ".join(cells) + " |")
        lines.append("")
    if mutations:
        lines += [
            "## Mutations: one setting changed, against the same release update (update 1; ReBRAC: update 2, its "
            "first actor update, replaying update 1)",
            "",
            "Margin: the largest figure divided by that quantity's worst figure in the unmodified runs above "
            f"(at least {NOISE_FLOOR:g}); it must be >= 10.",
            "",
            "| agent | mutation | overrides | margin | via | figure | over tolerance |",
            "|---|---|---|---|---|---|---|",
        ]
        for m in mutations:
            f = m["figures"][m["margin_quantity"]]
            good = m["margin"] >= 10 and bool(m["fails"])
            ok_all &= good
            lines.append(
                f"| {m['agent']} ({m['observations']}) | {m['mutation']} | `{m['overrides']}` | "
                f"{'' if good else '**'}{m['margin']:.3g}x{'' if good else '**'} | {m['margin_quantity']} "
                f"(`{f['where']}`) | {f['value']:.2e} | {', '.join(m['fails']) or '**none**'} |"
            )
        lines.append("")
    if online:
        lines += [
            "## Online loop against FQL's main.py (the same actions, both sides)",
            "",
            "| buffer | capacity | online steps | episodes | same transitions held | same size | samples from "
            "what FQL holds | FQL's last slot unsampled from step |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for o in online:
            good = o["same_transitions_held"] and o["same_size"] and o["samples_from_what_fql_holds"]
            ok_all &= good
            lines.append(
                f"| {o['buffer']} | {o['buffer_size']} | {o['online_steps']} | {o['episodes']} | "
                f"{o['same_transitions_held']} | {o['same_size']} | {o['samples_from_what_fql_holds']} | "
                f"{o['fql_last_slot_unsampled_from_step'] or '–'} |"
            )
        lines.append("")
    lines.append(
        "Tolerances: "
        + ", ".join(f"{q} {t:g}" for q, t in TOLERANCES.items())
        + " (float32 on both sides; about 3x the worst figure of the unmodified run, result/worst.json)."
    )
    return "\n".join(lines), ok_all


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--release", type=Path, required=True, help="checkout of github.com/ARC0127/Fisher-Decorator")
    ap.add_argument("--fql", type=Path, required=True, help="checkout of github.com/seohongpark/fql")
    ap.add_argument("--release-commit", default=None, help="the release checkout's commit (default: git rev-parse)")
    ap.add_argument("--fql-commit", default=None, help="the FQL checkout's commit (default: git rev-parse)")
    ap.add_argument("--agents", default=",".join(AGENTS))
    ap.add_argument("--updates", type=int, default=10)
    ap.add_argument("--hidden", default="", help="e.g. 256,256 (default: the paper's 4x512)")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mutations", action="store_true", help="also run every MUTATIONS entry against update 1")
    ap.add_argument("--pixels", action="store_true", help="also run the visual agents (impala_small, tiny frames)")
    ap.add_argument("--pixel-hidden", default="64,64", help="MLP widths of the pixel agents")
    ap.add_argument("--pixel-batch-size", type=int, default=16)
    ap.add_argument("--pixel-updates", type=int, default=2)
    ap.add_argument("--online", action="store_true", help="also compare the online loop with FQL's main.py")
    ap.add_argument("--out", type=Path, default=None, help="folder for parity.md, parity.json and worst.json")
    args = ap.parse_args(argv)
    jax.config.update("jax_default_matmul_precision", "highest")
    hidden = [int(x) for x in args.hidden.split(",") if x]
    sources = {
        "release": {"path": str(args.release), "commit": source_commit(args.release, args.release_commit)},
        "fql": {"path": str(args.fql), "commit": source_commit(args.fql, args.fql_commit)},
    }
    t0 = time.time()
    results, refs = [], []
    runs = [(a, False) for a in args.agents.split(",")]
    if args.pixels:
        runs = [(a, True) for a in args.agents.split(",")] + runs
    p_hidden = [int(x) for x in args.pixel_hidden.split(",") if x]
    for a, pixels in runs:
        size = (
            (args.pixel_updates, p_hidden, args.pixel_batch_size) if pixels else (args.updates, hidden, args.batch_size)
        )
        r, ref = compare_agent(a, args.release, args.fql, *size, args.seed, pixels=pixels)
        results.append(r)
        if not pixels:
            refs.append(ref)
        print(f"{a} ({r['observations']}): done at {time.time() - t0:.0f} s", flush=True)
    worst = worst_figures(results)
    online = compare_online(args.fql, seed=args.seed) if args.online else None
    mutations = run_mutations(refs, worst) if args.mutations else None
    md, ok = summarize(results, mutations, sources, online)
    cmd = " ".join(argv or sys.argv[1:])
    md += f"\n\nCommand: `python benchmarks/parity/parity.py {cmd}` ({time.time() - t0:.0f} s wall)\n"
    print(md)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "parity.md").write_text(md)
        payload = {"sources": sources, "results": results, "worst": worst, "tolerances": TOLERANCES}
        if mutations is not None:
            payload["mutations"] = mutations
        if online is not None:
            payload["online"] = online
        (args.out / "parity.json").write_text(json.dumps(payload, indent=1, default=str))
        (args.out / "worst.json").write_text(
            json.dumps(
                {
                    "what": "worst figure of each quantity, fidec's paper preset vs the releases, unmodified "
                    "(benchmarks/parity/parity.py); tests/test_parity_mutations.py asserts every mutation exceeds "
                    "10x these",
                    "sources": sources,
                    "sizes": {"hidden": hidden or "paper", "batch": args.batch_size, "updates": args.updates},
                    "worst": worst,
                },
                indent=1,
            )
            + "\n"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
