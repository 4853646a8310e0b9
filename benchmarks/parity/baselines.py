"""Parity of fidec's IQL and ReBRAC with FQL's ``agents/iql.py`` and ``agents/rebrac.py``, update by update.

For each agent it builds fidec's agent from ``resolve({'preset': 'paper', 'env': humanoidmaze-medium ...})`` and
FQL's from FQL's own ``get_config()`` plus the flags of FQL's README command for that task (the one row both
README commands cite: ``--agent.discount=0.995 --agent.alpha=10`` for IQL, ``--agent.discount=0.995
--agent.alpha_actor=0.01 --agent.alpha_critic=0.01`` for ReBRAC), copies fidec's initial parameters into FQL's
agent, then for ``--updates`` steps feeds both the same batch (with ``next_actions``) and the same noise (ReBRAC's
target policy smoothing) and compares every loss term both log, the gradient of every parameter, every parameter
after the update and the target networks (critic; ReBRAC's actor too). ReBRAC's ``full_update`` follows FQL's
``main.py``: ``i % actor_freq == 0`` for update ``i`` counted from 1.

``--mutations`` repeats the comparison with one fidec setting wrong (IQL's expectile 0.7 instead of 0.9,
ReBRAC's critic penalty off, ReBRAC's target noise off) to show that the comparison sees such a change.

Helpers (importing a checkout, the noise queue, the tree descent, the difference measure) come from ``parity.py``
beside this file; FQL's code is imported from the checkout given by ``--fql``, nothing of it is copied.

    python benchmarks/parity/baselines.py --fql PATH/fql --hidden 64,64 --batch-size 32 --updates 10 \\
        --mutations --out benchmarks/parity/baselines
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from parity import ACTION_DIM, OBS_DIM, NoiseQueue, _mlp, import_release, max_rel_diff  # noqa: E402

from fidec.agents import make_agent  # noqa: E402
from fidec.config import resolve  # noqa: E402

#: FQL's README, "IQL, ReBRAC, and IFQL (examples)": the task whose IQL and ReBRAC flags it gives.
ENV = "humanoidmaze-medium-navigate-singletask-task1-v0"
README_FLAGS = {
    "iql": {"discount": 0.995, "alpha": 10.0},
    "rebrac": {"discount": 0.995, "alpha_actor": 0.01, "alpha_critic": 0.01},
}
#: fidec loss-term name -> FQL's logged name
TERMS = {
    "iql": {
        "value_loss": "value/value_loss",
        "v_mean": "value/v_mean",
        "critic_loss": "critic/critic_loss",
        "td_target": "critic/q_mean",
        "actor_loss": "actor/actor_loss",
        "adv": "actor/adv",
        "bc_log_prob": "actor/bc_log_prob",
        "std": "actor/std",
    },
    "rebrac": {
        "critic_loss": "critic/critic_loss",
        "q_data": "critic/q_mean",
        "actor_q_loss": "actor/actor_loss",  # FQL's actor 'actor_loss' is the normalised Q term alone
        "actor_bc_loss": "actor/bc_loss",
        "actor_loss": "actor/total_loss",
    },
}
#: One wrong fidec setting per agent: the comparison must see it.
MUTATIONS = {
    "iql": [("iql_expectile", 0.7)],
    "rebrac": [("rebrac_alpha_critic", 0.0), ("rebrac_actor_noise", 0.0)],
}
TOL_REL, TOL_ABS = 1e-4, 1e-5


# ----------------------------------------------------------------------------- parameters both ways
def _graft(template: dict, mlp: dict) -> dict:
    """``mlp`` (a dict of Dense/LayerNorm layers) under ``template``'s single-child wrappers, shapes checked."""
    if any(k.startswith(("Dense", "LayerNorm")) for k in template):
        assert set(template) == set(mlp), (set(template), set(mlp))
        for k in template:
            for leaf in template[k]:
                assert template[k][leaf].shape == mlp[k][leaf].shape, (k, leaf)
        return jax.tree_util.tree_map(jnp.asarray, mlp)
    ((key, child),) = template.items()
    return {key: _graft(child, mlp)}


def _actor_to_fql(actor: dict) -> dict:
    """fidec's GaussianActor (Dense_0..Dense_n, the last the mean) -> FQL's Actor (actor_net Dense_0..n-1, mean_net)."""
    n = sum(k.startswith("Dense_") for k in actor) - 1
    out = {"actor_net": {f"Dense_{i}": actor[f"Dense_{i}"] for i in range(n)}, "mean_net": actor[f"Dense_{n}"]}
    if "log_stds" in actor:
        out["log_stds"] = actor["log_stds"]
    return jax.tree_util.tree_map(jnp.asarray, out)


def _actor_from_fql(tree: dict) -> dict:
    n = len(tree["actor_net"])
    out = {**tree["actor_net"], f"Dense_{n}": tree["mean_net"]}
    if "log_stds" in tree:
        out["log_stds"] = tree["log_stds"]
    return out


def to_fql(params: dict, target, template: dict) -> dict:
    """fidec's parameters and targets in FQL's ModuleDict layout (``template``: FQL's own initial tree)."""
    targets = target if isinstance(target, dict) and "critic" in target else {"critic": target}
    out = {}
    for name, tree in template.items():
        mod = name.removeprefix("modules_")
        net, src = (mod.removeprefix("target_"), targets) if mod.startswith("target_") else (mod, params)
        out[name] = _actor_to_fql(src[net]) if net == "actor" else _graft(tree, _mlp(src[net]))
    return out


def from_fql(tree: dict) -> tuple[dict, dict]:
    """FQL's tree as (params, targets) in fidec's names, each network reduced as :func:`strip` reduces fidec's."""
    params, targets = {}, {}
    for name, sub in tree.items():
        mod = name.removeprefix("modules_")
        dest, net = (targets, mod.removeprefix("target_")) if mod.startswith("target_") else (params, mod)
        dest[net] = _actor_from_fql(sub) if net == "actor" else _mlp(sub)
    return params, targets


def strip(params: dict) -> dict:
    return {k: (v if k == "actor" else _mlp(v)) for k, v in params.items()}


def fidec_targets(agent_name: str, target) -> dict:
    return {k: strip({k: v})[k] for k, v in target.items()} if agent_name == "rebrac" else {"critic": _mlp(target)}


# ----------------------------------------------------------------------------- config
def fql_config(agent: str, cfg, module):
    """FQL's config: its get_config(), the sizes under test, and the README command's flags for ENV."""
    rc = module.get_config()
    rc.lr, rc.batch_size = cfg.lr, cfg.batch_size
    rc.actor_hidden_dims = rc.value_hidden_dims = tuple(cfg.hidden_dims)
    for k, v in README_FLAGS[agent].items():
        rc[k] = v
    return rc


def config_rows(agent: str, cfg, rc) -> list[dict]:
    """Each FQL setting beside fidec's resolved value (or fidec's fixed choice, in words)."""
    pairs = [
        ("lr", "lr", cfg.lr),
        ("batch_size", "batch_size", cfg.batch_size),
        ("actor_hidden_dims", "hidden_dims", tuple(cfg.hidden_dims)),
        ("value_hidden_dims", "hidden_dims", tuple(cfg.hidden_dims)),
        ("layer_norm", "critic LayerNorm (always on)", True),
        ("actor_layer_norm", "actor LayerNorm (always off)", False),
        ("discount", "discount", cfg.discount),
        ("tau", "tau", cfg.tau),
        ("(min of the two critics)", "q_agg", cfg.q_agg),
        ("(no gradient clip)", "grad_clip (0 = none)", None if cfg.grad_clip == 0 else cfg.grad_clip),
    ]
    if agent == "iql":
        pairs += [
            ("expectile", "iql_expectile", cfg.iql_expectile),
            ("alpha", "iql_alpha", cfg.iql_alpha),
            ("actor_loss", "AWR actor (always)", "awr"),
            ("const_std", "iql_const_std", cfg.iql_const_std),
        ]
    else:
        pairs += [
            ("alpha_actor", "rebrac_alpha_actor", cfg.rebrac_alpha_actor),
            ("alpha_critic", "rebrac_alpha_critic", cfg.rebrac_alpha_critic),
            ("actor_freq", "rebrac_actor_freq", cfg.rebrac_actor_freq),
            ("actor_noise", "rebrac_actor_noise", cfg.rebrac_actor_noise),
            ("actor_noise_clip", "rebrac_actor_noise_clip", cfg.rebrac_actor_noise_clip),
            ("tanh_squash", "tanh policy (always)", True),
            ("actor_fc_scale", "GaussianActor.final_init_scale", 0.01),
        ]
    rows = []
    for rkey, fkey, fval in pairs:
        if rkey == "(min of the two critics)":
            rval = "min"
        elif rkey.startswith("("):
            rval = None
        else:
            rval = rc[rkey]
            rval = tuple(rval) if isinstance(rval, list | tuple) else rval
        rows.append({"fql": rkey, "fidec": fkey, "fql_value": rval, "fidec_value": fval, "same": rval == fval})
    return rows


# ----------------------------------------------------------------------------- one agent
def compare_agent(agent: str, fql_path: Path, updates: int, hidden, batch_size: int, seed: int, mutation=None):
    overrides = {"agent": agent, "env": ENV, "preset": "paper", "batch_size": batch_size}
    if hidden:
        overrides["hidden_dims"] = tuple(hidden)
    cfg = resolve(overrides)
    fidec_cfg = resolve({**overrides, mutation[0]: mutation[1]}) if mutation else cfg
    fd_agent = make_agent(fidec_cfg, OBS_DIM, ACTION_DIM)
    state = fd_agent.init(jax.random.PRNGKey(seed))

    mod = import_release(fql_path, f"agents.{agent}")
    cls = mod.IQLAgent if agent == "iql" else mod.ReBRACAgent
    rc = fql_config(agent, cfg, mod)
    rows = config_rows(agent, cfg, rc)
    ex_obs, ex_act = np.zeros((1, OBS_DIM), np.float32), np.zeros((1, ACTION_DIM), np.float32)
    rel = cls.create(seed, ex_obs, ex_act, rc)
    rparams = to_fql(state.params, state.target_params, rel.network.params)
    rel = rel.replace(network=rel.network.replace(params=rparams, opt_state=rel.network.tx.init(rparams)))

    def fql_loss(rel, batch, full, grad_params):
        kw = {"full_update": full} if agent == "rebrac" else {}
        return rel.total_loss(batch, grad_params, rng=rel.rng, **kw)

    data_key = jax.random.PRNGKey(1000 + seed)
    history = []
    for u in range(updates):
        k = jax.random.split(jax.random.fold_in(data_key, u), 7)
        batch = {
            "observations": jax.random.normal(k[0], (batch_size, OBS_DIM)),
            "next_observations": jax.random.normal(k[1], (batch_size, OBS_DIM)),
            "actions": jnp.clip(0.6 * jax.random.normal(k[2], (batch_size, ACTION_DIM)), -1, 1),
            "next_actions": jnp.clip(0.6 * jax.random.normal(k[6], (batch_size, ACTION_DIM)), -1, 1),
            "rewards": -(jax.random.uniform(k[3], (batch_size,)) < 0.9).astype(jnp.float32),
            "masks": (jax.random.uniform(k[4], (batch_size,)) < 0.95).astype(jnp.float32),
        }
        noise = fd_agent.draw_noise(k[5], batch)
        np_batch = {kk: np.asarray(v) for kk, v in batch.items()}
        full = (u + 1) % rc.get("actor_freq", 1) == 0  # FQL's main.py: i % actor_freq == 0, i from 1

        def queued(noise=noise):
            q = NoiseQueue()
            if agent == "rebrac":
                q.put("normal", noise["next"])  # critic_loss: the target policy smoothing noise
            return q

        f_grads, _ = jax.grad(fd_agent.losses, has_aux=True)(state.params, state, batch, noise)
        with queued().active():
            r_grads, _ = jax.grad(partial(fql_loss, rel, np_batch, full), has_aux=True)(rel.network.params)
        r_grads_f, _ = from_fql(r_grads)

        new_state, f_info = fd_agent.update_with_noise(state, batch, noise)
        with queued().active():
            rel, r_info = rel.update(np_batch, full_update=full) if agent == "rebrac" else rel.update(np_batch)
        r_params, r_targets = from_fql(rel.network.params)

        terms = {}
        for fk, rk in TERMS[agent].items():
            if rk not in r_info:  # ReBRAC's actor terms: logged on the actor's updates only
                continue
            a, b = float(f_info[fk]), float(np.asarray(r_info[rk]).reshape(()))
            terms[fk] = {"fidec": a, "fql": b, "abs_diff": abs(a - b), "rel_diff": abs(a - b) / max(abs(b), 1e-6)}
        g_rel, g_abs = max_rel_diff(strip(f_grads), r_grads_f)
        p_rel, p_abs = max_rel_diff(strip(new_state.params), r_params)
        t_rel, t_abs = max_rel_diff(fidec_targets(agent, new_state.target_params), r_targets)
        history.append(
            {
                "update": u + 1,
                "full_update": bool(full),
                "terms": terms,
                "grads": {"max_rel": g_rel, "max_abs": g_abs},
                "params": {"max_rel": p_rel, "max_abs": p_abs},
                "targets": {"max_rel": t_rel, "max_abs": t_abs},
            }
        )
        state = new_state
    return {
        "agent": agent,
        "mutation": None if mutation is None else {"field": mutation[0], "value": mutation[1]},
        "config": rows,
        "updates": history,
        "sizes": {"hidden": list(cfg.hidden_dims), "batch": batch_size},
    }


# ----------------------------------------------------------------------------- report
def worst(r: dict) -> dict:
    h = r["updates"]
    return {
        "terms_rel": max(t["rel_diff"] for u in h for t in u["terms"].values()),
        "terms_abs": max(t["abs_diff"] for u in h for t in u["terms"].values()),
        "grads_rel": max(u["grads"]["max_rel"] for u in h),
        "grads_abs": max(u["grads"]["max_abs"] for u in h),
        "params_rel": max(u["params"]["max_rel"] for u in h),
        "params_abs": max(u["params"]["max_abs"] for u in h),
        "targets_abs": max(u["targets"]["max_abs"] for u in h),
    }


def agrees(r: dict) -> bool:
    w = worst(r)
    return (
        all(row["same"] for row in r["config"])
        and (w["terms_rel"] < TOL_REL or w["terms_abs"] < TOL_ABS)
        and w["params_abs"] < TOL_ABS
        and w["targets_abs"] < TOL_ABS
        and w["grads_abs"] < 10 * TOL_ABS
    )


def summarize(results: list[dict], mutations: list[dict], fql_commit: str) -> tuple[str, bool]:
    lines = [
        "# Parity: fidec's IQL and ReBRAC vs FQL's agents/iql.py and agents/rebrac.py",
        "",
        f"FQL checkout: commit `{fql_commit}`. Task presets: `{ENV}` (FQL's README flags for IQL and ReBRAC).",
        "",
    ]
    ok_all = True
    for r in results:
        h, w, ok = r["updates"], worst(r), agrees(r)
        ok_all &= ok
        names = sorted({n for u in h for n in u["terms"]}, key=list(TERMS[r["agent"]]).index)
        lines += [
            f"## {r['agent']}: {'AGREES' if ok else 'DIFFERS'} over {len(h)} updates "
            f"(networks {r['sizes']['hidden']}, batch {r['sizes']['batch']})",
            "",
            "| quantity | worst relative difference | worst absolute difference |",
            "|---|---|---|",
            f"| loss terms ({', '.join(names)}) | {w['terms_rel']:.2e} | {w['terms_abs']:.2e} |",
            f"| gradients (every parameter) | {w['grads_rel']:.2e} | {w['grads_abs']:.2e} |",
            f"| parameters after each update | {w['params_rel']:.2e} | {w['params_abs']:.2e} |",
            f"| target networks after each update | – | {w['targets_abs']:.2e} |",
            "",
            "| FQL setting | value | fidec field | value | same |",
            "|---|---|---|---|---|",
        ]
        for c in r["config"]:
            same = "yes" if c["same"] else "**NO**"
            lines.append(f"| `{c['fql']}` | {c['fql_value']} | `{c['fidec']}` | {c['fidec_value']} | {same} |")
        lines += ["", "Per update (relative difference of each loss term; '–': not logged by FQL that update):", ""]
        lines += ["| update | " + " | ".join(names) + " | params max abs |", "|---" * (len(names) + 2) + "|"]
        for u in h:
            cells = [f"{u['terms'][n]['rel_diff']:.1e}" if n in u["terms"] else "–" for n in names]
            lines.append(f"| {u['update']} | " + " | ".join(cells) + f" | {u['params']['max_abs']:.1e} |")
        lines.append("")
    if mutations:
        lines += [
            "## Mutation check: one wrong fidec setting against the same FQL agent",
            "",
            "| agent | fidec setting (FQL's) | verdict | worst param abs diff | x tolerance | worst grad abs diff |",
            "|---|---|---|---|---|---|",
        ]
        for r in mutations:
            w, m = worst(r), r["mutation"]
            fql_value = next((c["fidec_value"] for c in r["config"] if c["fidec"] == m["field"]), "?")
            verdict = "DIFFERS" if not agrees(r) else "**agrees (not seen)**"
            ok_all &= not agrees(r)
            lines.append(
                f"| {r['agent']} | `{m['field']}` = {m['value']} ({fql_value}) | {verdict} | {w['params_abs']:.2e} | "
                f"{w['params_abs'] / TOL_ABS:.0f}x | {w['grads_abs']:.2e} |"
            )
        lines.append("")
    lines.append(
        f"Tolerance: relative {TOL_REL:g} on loss terms (or absolute {TOL_ABS:g}), absolute {TOL_ABS:g} on "
        f"parameters and targets, {10 * TOL_ABS:g} on gradients (float32 on both sides)."
    )
    return "\n".join(lines), ok_all


def checkout_commit(path: Path, given: str | None) -> str:
    if given:
        return given
    try:
        out = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        return "unknown (pass --fql-commit)"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fql", type=Path, required=True, help="checkout of github.com/seohongpark/fql")
    ap.add_argument("--fql-commit", default=None, help="the checkout's commit, when it is not a git work tree")
    ap.add_argument("--agents", default="iql,rebrac")
    ap.add_argument("--updates", type=int, default=10)
    ap.add_argument("--hidden", default="", help="e.g. 64,64 (default: the paper's 4x512)")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mutations", action="store_true", help="also run each agent with one wrong setting")
    ap.add_argument("--out", type=Path, default=None, help="folder for baselines.md and baselines.json")
    args = ap.parse_args(argv)
    jax.config.update("jax_default_matmul_precision", "highest")
    hidden = [int(x) for x in args.hidden.split(",") if x]
    t0 = time.time()
    agents = args.agents.split(",")
    run = partial(compare_agent, fql_path=args.fql, updates=args.updates, hidden=hidden,
                  batch_size=args.batch_size, seed=args.seed)  # fmt: skip
    results = [run(a) for a in agents]
    mutations = [run(a, mutation=m) for a in agents for m in MUTATIONS[a]] if args.mutations else []
    commit = checkout_commit(args.fql, args.fql_commit)
    md, ok = summarize(results, mutations, commit)
    cmd = " ".join(argv or sys.argv[1:])
    md += f"\n\nCommand: `python benchmarks/parity/baselines.py {cmd}` ({time.time() - t0:.0f} s wall)\n"
    print(md)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "baselines.md").write_text(md)
        payload = {"fql_commit": commit, "results": results, "mutations": mutations}
        (args.out / "baselines.json").write_text(json.dumps(payload, indent=1, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
