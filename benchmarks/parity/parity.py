"""Parity harness: fidec's `--preset paper` against the authors' release and FQL's release, update by update.

For each agent (fd, deflow, fql) it builds fidec's agent from ``resolve({'preset': 'paper', ...})`` and the
release's agent from the release's own ``get_config()`` plus the flags its run scripts pass, copies fidec's
initial parameters into the release's agent, then for ``--updates`` steps feeds both the same batch and the
same noise and compares

- every loss term both sides log (mapped by name),
- the gradient of every parameter,
- every parameter after the update (target critic and log alpha included),
- the configuration itself (each release setting against fidec's resolved field).

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
import importlib
import json
import sys
import time
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from fidec.agents import make_agent
from fidec.config import resolve

ENV = "cube-single-play-singletask-task2-v0"  # method.md's cube row: discount 0.99, mean, eps 0.001, FQL alpha 300
OBS_DIM, ACTION_DIM = 28, 5  # cube-single's observation and action sizes

# fidec's top-level networks -> the release's ModuleDict names
NETWORKS = {
    "flow": "actor_bc_flow",
    "critic": "critic",
    "refine": "refine_onestep_flow",
    "onestep": "actor_onestep_flow",
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
    """(module, agent class) of ``agent`` in the releases: FQL's FQLAgent, the FD release's FiDecAgent/DeFlowAgent."""
    if agent == "fql":
        mod = import_release(fql, "agents.fql")
        return mod, mod.FQLAgent
    mod = import_release(release, "agents.fidec" if agent == "fd" else "agents.deflow")
    return mod, (mod.FiDecAgent if agent == "fd" else mod.DeFlowAgent)


def release_config(agent: str, cfg, module):
    """The release's config as its run scripts set it, from fidec's resolved paper config."""
    rc = module.get_config()
    rc.lr, rc.batch_size = cfg.lr, cfg.batch_size
    rc.actor_hidden_dims = rc.value_hidden_dims = tuple(cfg.hidden_dims)
    rc.discount, rc.tau, rc.q_agg, rc.flow_steps = cfg.discount, cfg.tau, cfg.q_agg, cfg.flow_steps
    if agent == "fql":
        rc.alpha = cfg.fql_alpha  # FQL's README: --agent.alpha=300 for cube; no normalize_q_loss
        return rc
    # scripts/ogbench_env_flags.sh + VARIANT_EXTRA of scripts/run_ogbench_state5_baseline_variant.sh
    rc.normalize_q_loss = True
    rc.target_divergence = 0.001
    if agent == "fd":
        rc.num_fisher_samples, rc.fisher_t, rc.fisher_t_width, rc.fisher_damping = 8, 0.90, 0.05, 1e-3
    return rc


def config_rows(agent: str, cfg, rc) -> list[dict]:
    """Each release setting beside fidec's resolved value."""
    pairs = [
        ("lr", "lr", cfg.lr),
        ("batch_size", "batch_size", cfg.batch_size),
        ("actor_hidden_dims", "hidden_dims", tuple(cfg.hidden_dims)),
        ("value_hidden_dims", "hidden_dims", tuple(cfg.hidden_dims)),
        ("layer_norm", "critic LayerNorm (always on)", True),
        ("actor_layer_norm", "flow/actor LayerNorm (always off)", False),
        ("discount", "discount", cfg.discount),
        ("tau", "tau", cfg.tau),
        ("q_agg", "q_agg", cfg.q_agg),
        ("flow_steps", "flow_steps", cfg.flow_steps),
        ("normalize_q_loss", "normalize_q", cfg.normalize_q),
    ]
    if agent == "fql":
        pairs += [("alpha", "fql_alpha", cfg.fql_alpha)]
        # FQL's TrainState has no clip: fidec's grad_clip = 0 means none
        pairs += [("(no grad_clip in FQL)", "grad_clip (0 = none)", None if cfg.grad_clip == 0 else cfg.grad_clip)]
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
    rows = []
    for rkey, fkey, fval in pairs:
        if rkey.startswith("("):
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


def to_release(params: dict, target: dict | None, template: dict) -> dict:
    """fidec's parameters in the release's tree layout (``template`` is the release's own initial tree)."""

    def graft(rtree: dict, mlp: dict) -> dict:
        if any(k.startswith(("Dense", "LayerNorm")) for k in rtree):
            assert set(rtree) == set(mlp), (set(rtree), set(mlp))
            for k in rtree:  # same layer names, same shapes
                for leaf in rtree[k]:
                    assert rtree[k][leaf].shape == mlp[k][leaf].shape, (k, leaf)
            return jax.tree_util.tree_map(jnp.asarray, mlp)
        ((key, child),) = rtree.items()
        return {key: graft(child, mlp)}

    out = {}
    for rname, rtree in template.items():
        mod = rname.removeprefix("modules_")
        if mod == "log_alpha":
            out[rname] = {"value": jnp.reshape(params["log_alpha"], (1,))}
        elif mod == "target_critic":
            out[rname] = graft(rtree, _mlp(target))
        else:
            out[rname] = graft(rtree, _mlp(params[_fidec_name(mod)]))
    return out


def _fidec_name(release_module: str) -> str:
    return {v: k for k, v in NETWORKS.items()}[release_module]


def from_release(rparams: dict) -> tuple[dict, dict]:
    """The release's tree as (fidec params, fidec target critic) for comparison."""
    params, target = {}, None
    for rname, rtree in rparams.items():
        mod = rname.removeprefix("modules_")
        if mod == "log_alpha":
            params["log_alpha"] = jnp.reshape(rtree["value"], ())
        elif mod == "target_critic":
            target = _mlp(rtree)
        else:
            params[_fidec_name(mod)] = _mlp(rtree)
    return params, target


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


def strip(fidec_params: dict) -> dict:
    """fidec's params with each network reduced to its Dense/LayerNorm dict (the layout from_release returns)."""
    return {k: (v if k == "log_alpha" else _mlp(v)) for k, v in fidec_params.items()}


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
    s'), then actor_loss (flow matching x0, t; then the agent's own draws), then the 'mse' diagnostic action."""
    b, d = noise["next"].shape
    q.put("normal", noise["next"])
    q.put("normal", noise["fm"]["x0"])
    q.put("uniform", noise["fm"]["t"])
    if agent == "fql":
        q.put("normal", noise["z"])
    else:
        q.put("normal", noise["base"])
        if agent == "fd":
            n = cfg.fisher_samples
            q.put("normal", np.reshape(noise["fisher"]["samples"], (b * n, d)))  # obs repeated N times per row
            q.put("normal", np.reshape(noise["fisher"]["x0"], (b * n, d)))
            q.put("uniform", np.reshape(noise["fisher"]["t"], (b * n, 1)))
    q.put("normal", np.zeros((b, d)))  # the release's logged 'mse' samples an action; it changes no loss


# ----------------------------------------------------------------------------- one agent
def release_loss(rel, batch, grad_params):
    return rel.total_loss(batch, grad_params, rng=rel.rng)


def compare_agent(agent: str, release_path: Path, fql_path: Path, updates: int, hidden, batch_size: int, seed: int):
    overrides = {"agent": agent, "env": ENV, "preset": "paper", "batch_size": batch_size}
    if hidden:
        overrides["hidden_dims"] = tuple(hidden)
    cfg = resolve(overrides)
    fd_agent = make_agent(cfg, OBS_DIM, ACTION_DIM)
    state = fd_agent.init(jax.random.PRNGKey(seed))

    mod, cls = release_agent(agent, release_path, fql_path)
    rc = release_config(agent, cfg, mod)
    rows = config_rows(agent, cfg, rc)
    ex_obs = np.zeros((1, OBS_DIM), np.float32)
    ex_act = np.zeros((1, ACTION_DIM), np.float32)
    rel = cls.create(seed, ex_obs, ex_act, rc)
    rparams = to_release(state.params, state.target_params, rel.network.params)
    rel = rel.replace(network=rel.network.replace(params=rparams, opt_state=rel.network.tx.init(rparams)))

    data_key = jax.random.PRNGKey(1000 + seed)
    history = []
    for u in range(updates):
        k = jax.random.split(jax.random.fold_in(data_key, u), 6)
        batch = {
            "observations": jax.random.normal(k[0], (batch_size, OBS_DIM)),
            "next_observations": jax.random.normal(k[1], (batch_size, OBS_DIM)),
            "actions": jnp.clip(0.6 * jax.random.normal(k[2], (batch_size, ACTION_DIM)), -1, 1),
            "rewards": -(jax.random.uniform(k[3], (batch_size,)) < 0.9).astype(jnp.float32),
            "masks": (jax.random.uniform(k[4], (batch_size,)) < 0.95).astype(jnp.float32),
        }
        noise = fd_agent.draw_noise(k[5], batch)
        np_batch = {kk: np.asarray(v) for kk, v in batch.items()}

        # gradients, both sides
        f_grads, f_info = jax.grad(fd_agent.losses, has_aux=True)(state.params, state, batch, noise)
        q = NoiseQueue()
        queue_release_order(agent, noise, q, cfg)
        with q.active():
            r_grads, _ = jax.grad(partial(release_loss, rel, np_batch), has_aux=True)(rel.network.params)
        r_grads_f, _ = from_release(r_grads)

        # one update, both sides
        new_state, f_info = fd_agent.update_with_noise(state, batch, noise)
        q = NoiseQueue()
        queue_release_order(agent, noise, q, cfg)
        with q.active():
            rel, r_info = rel.update(np_batch)
        r_params, r_target = from_release(rel.network.params)

        f_info = {kk: float(v) for kk, v in f_info.items()}
        f_info["fidec_actor_total"] = f_info["actor_loss"] + f_info["flow_loss"] + f_info.get("alpha_loss", 0.0)
        terms = {}
        for fk, rk in TERMS[agent].items():
            a, b = f_info[fk], float(np.asarray(r_info[rk]).reshape(()))
            terms[fk] = {"fidec": a, "release": b, "abs_diff": abs(a - b), "rel_diff": abs(a - b) / max(abs(b), 1e-6)}
        g_rel, g_abs = max_rel_diff(strip(f_grads), r_grads_f)
        p_rel, p_abs = max_rel_diff(strip(new_state.params), r_params)
        t_rel, t_abs = max_rel_diff(_mlp(new_state.target_params), r_target)
        history.append(
            {
                "update": u + 1,
                "terms": terms,
                "grads": {"max_rel": g_rel, "max_abs": g_abs},
                "params": {"max_rel": p_rel, "max_abs": p_abs},
                "target_critic": {"max_rel": t_rel, "max_abs": t_abs},
                "grad_norm": {
                    "fidec": f_info["grad_norm"],
                    "release_clipped_to": float(r_info.get("grad/norm_clipped", np.nan)),
                },
            }
        )
        state = new_state
    return {
        "agent": agent,
        "config": rows,
        "updates": history,
        "sizes": {"hidden": list(cfg.hidden_dims), "batch": batch_size},
    }


# ----------------------------------------------------------------------------- report
def summarize(results: list[dict], tol_rel: float, tol_abs: float) -> tuple[str, bool]:
    lines = ["# Parity: fidec `--preset paper` vs the authors' release (fd, deflow) and FQL's release (fql)", ""]
    ok_all = True
    for r in results:
        h = r["updates"]
        worst_terms = max(t["rel_diff"] for u in h for t in u["terms"].values())
        worst_terms_abs = max(t["abs_diff"] for u in h for t in u["terms"].values())
        worst_g = max(u["grads"]["max_rel"] for u in h)
        worst_g_abs = max(u["grads"]["max_abs"] for u in h)
        worst_p_abs = max(u["params"]["max_abs"] for u in h)
        worst_p = max(u["params"]["max_rel"] for u in h)
        worst_t_abs = max(u["target_critic"]["max_abs"] for u in h)
        cfg_ok = all(row["same"] for row in r["config"])
        ok = (
            cfg_ok
            and (worst_terms < tol_rel or worst_terms_abs < tol_abs)
            and worst_p_abs < tol_abs
            and worst_t_abs < tol_abs
            and worst_g_abs < 10 * tol_abs
        )
        ok_all &= ok
        lines += [
            f"## {r['agent']}: {'AGREES' if ok else 'DIFFERS'} over {len(h)} updates "
            f"(networks {r['sizes']['hidden']}, batch {r['sizes']['batch']})",
            "",
            "| quantity | worst relative difference | worst absolute difference |",
            "|---|---|---|",
            f"| loss terms ({', '.join(h[0]['terms'])}) | {worst_terms:.2e} | {worst_terms_abs:.2e} |",
            f"| gradients (every parameter) | {worst_g:.2e} | {worst_g_abs:.2e} |",
            f"| parameters after each update | {worst_p:.2e} | {worst_p_abs:.2e} |",
            f"| target critic after each update | – | {worst_t_abs:.2e} |",
            "",
            "| release setting | value | fidec field | value | same |",
            "|---|---|---|---|---|",
        ]
        for c in r["config"]:
            same = "yes" if c["same"] else "**NO**"
            lines.append(f"| `{c['release']}` | {c['release_value']} | `{c['fidec']}` | {c['fidec_value']} | {same} |")
        lines += ["", "Per update (relative difference of each loss term):", ""]
        names = list(h[0]["terms"])
        lines += ["| update | " + " | ".join(names) + " | params max abs |", "|---" * (len(names) + 2) + "|"]
        for u in h:
            lines.append(
                f"| {u['update']} | "
                + " | ".join(f"{u['terms'][n]['rel_diff']:.1e}" for n in names)
                + f" | {u['params']['max_abs']:.1e} |"
            )
        lines.append("")
    lines.append(
        f"Tolerance: relative {tol_rel:g} on loss terms (or absolute {tol_abs:g}), absolute {tol_abs:g} on "
        f"parameters, {10 * tol_abs:g} on gradients (float32 on both sides)."
    )
    return "\n".join(lines), ok_all


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--release", type=Path, required=True, help="checkout of github.com/ARC0127/Fisher-Decorator")
    ap.add_argument("--fql", type=Path, required=True, help="checkout of github.com/seohongpark/fql")
    ap.add_argument("--agents", default="fd,deflow,fql")
    ap.add_argument("--updates", type=int, default=10)
    ap.add_argument("--hidden", default="", help="e.g. 256,256 (default: the paper's 4x512)")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tol-rel", type=float, default=1e-4)
    ap.add_argument("--tol-abs", type=float, default=1e-5)
    ap.add_argument("--out", type=Path, default=None, help="folder for parity.md and parity.json")
    args = ap.parse_args(argv)
    jax.config.update("jax_default_matmul_precision", "highest")
    hidden = [int(x) for x in args.hidden.split(",") if x]
    t0 = time.time()
    results = [
        compare_agent(a, args.release, args.fql, args.updates, hidden, args.batch_size, args.seed)
        for a in args.agents.split(",")
    ]
    md, ok = summarize(results, args.tol_rel, args.tol_abs)
    cmd = " ".join(argv or sys.argv[1:])
    md += f"\n\nCommand: `python benchmarks/parity/parity.py {cmd}` ({time.time() - t0:.0f} s wall)\n"
    print(md)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "parity.md").write_text(md)
        (args.out / "parity.json").write_text(json.dumps(results, indent=1, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
