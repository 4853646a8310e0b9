"""One distribution of the geometry demo: the behaviour flow trained once, then every variant refined at every
target divergence, and what each refinement keeps of the behaviour support measured."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from fidec.agents.refine import RefinementAgent
from fidec.demos.geometry.frontier import frontier_checks
from fidec.demos.geometry.setup import (
    ACTION_DIM,
    EPS_REF,
    HDR_MASS,
    VARIANTS,
    DemoSettings,
    init_networks,
    make_agent,
    zeros_obs,
)
from fidec.demos.geometry.training import (
    critic_q,
    make_critic_trainer,
    make_flow_trainer,
    make_refine_trainer,
    reward_q,
)
from fidec.metrics import anisotropy


def initial_log_alpha(alpha_init: float, eps) -> jax.Array:
    """log alpha_0 per eps: ``alpha_init`` at eps = EPS_REF, scaled by sqrt(EPS_REF / eps).

    The multiplier at the optimum scales as 1 / sqrt(eps) (for the isotropic metric and a linear reward it is
    exactly ``|w| / sqrt(2 eps)``), so over a sweep spanning decades a single alpha_0 leaves the small-eps runs
    far from their constraint at the end of a short training; the Lagrangian itself is unchanged.
    """
    eps = jnp.asarray(eps, jnp.float32)
    return jnp.log(alpha_init) + 0.5 * jnp.log(EPS_REF / eps)


def _fisher_fn(agents: list[RefinementAgent]):
    """jitted ``(flow, base, key) -> tuple of F_hat``, one per agent, all from the same random draws."""
    return jax.jit(
        lambda flow, base, key: tuple(a.fisher(flow, zeros_obs(base.shape[0]), base, key)[0] for a in agents)
    )


def expected_fisher(fisher_fn, flow, points: jax.Array, key, total: int) -> tuple[jax.Array, ...]:
    """E[F_hat | a] at each of ``points`` (m, 2): the mean of ``total // m`` independent estimates each.

    The refinement's penalty is linear in F_hat, so this is the metric it effectively sees at ``a``.
    """
    m = points.shape[0]
    draws = total // m
    out = fisher_fn(flow, jnp.repeat(points, draws, axis=0), key)
    return tuple(jnp.mean(f.reshape(m, draws, ACTION_DIM, ACTION_DIM), axis=1) for f in out)


class GeometryRun:
    """Everything the demo computes for one behaviour distribution (see :func:`run_distribution`)."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


def run_distribution(
    dist,
    settings: DemoSettings,
    key,
    *,
    agents: dict | None = None,
    variants=VARIANTS,
    critic: bool = False,
    cache: dict | None = None,
    log=print,
) -> GeometryRun:
    """Train the flow on ``dist``, refine with every variant at every eps, measure; returns arrays and metrics.

    ``agents`` / ``cache`` (jitted functions) can be shared between distributions to reuse compilations.
    """
    agents = agents if agents is not None else {v.key: make_agent(settings, v) for v in variants}
    cache = cache if cache is not None else {}
    keys = jax.random.split(key, 10)
    t0 = time.time()
    timings: dict[str, float] = {}
    w = jnp.asarray(dist.reward_w, jnp.float32)
    any_agent = agents[variants[0].key]

    # --- behaviour data, true density, the 99 % region
    # (everything is jitted: eager dispatch compiles one kernel per operation, which costs more than the work)
    sample = jax.jit(dist.sample, static_argnums=1)
    logp_fn = cache.setdefault(("logp", dist.name), jax.jit(dist.log_density))
    both = sample(keys[0], settings.num_data + settings.density_samples)
    data = both[: settings.num_data]
    ref_logp = np.asarray(logp_fn(both[settings.num_data :]))
    threshold = float(np.quantile(ref_logp, 1.0 - HDR_MASS))

    # --- behaviour flow (fidec's flow-matching loss), base actions
    if ("init", critic) not in cache:
        cache[("init", critic)] = jax.jit(lambda k: init_networks(any_agent, k, critic=critic))
    init = cache[("init", critic)](keys[2])
    if "flow_trainer" not in cache:
        cache["flow_trainer"] = make_flow_trainer(
            any_agent, settings.flow_steps_train, settings.flow_batch, settings.lr
        )
    flow, flow_losses = cache["flow_trainer"]({"net": init["flow"]}, data, data[:, 0], keys[3])
    flow, flow_losses = flow["net"], np.asarray(flow_losses)
    base_fn = cache.setdefault("base", jax.jit(lambda f, z: any_agent.base_actions(f, zeros_obs(z.shape[0]), z)))
    pool = base_fn(flow, jax.random.normal(keys[7], (settings.pool_size, ACTION_DIM)))
    base_eval = base_fn(flow, jax.random.normal(keys[4], (settings.eval_size, ACTION_DIM)))
    timings["flow"] = time.time() - t0
    log(f"  [{dist.name}] flow trained (loss {flow_losses[-100:].mean():.3f}) in {time.time() - t0:.1f}s")

    # --- Fisher pools (agent.fisher with the variant's locality and estimator). The estimators of one locality
    # share their random draws (paired comparison; XLA evaluates the shared ODE solves once).
    fisher_variants = [v for v in variants if v.metric == "fisher"]
    pools, evals, ellipses = {}, {}, {}
    ellipse_pts = base_eval[: settings.ellipse_points]
    for i, locality in enumerate(sorted({v.locality for v in fisher_variants})):
        group = [v for v in fisher_variants if v.locality == locality]
        gkey = ("fisher", tuple(v.key for v in group))
        fn = cache.setdefault(gkey, _fisher_fn([agents[v.key] for v in group]))
        kf = jax.random.fold_in(keys[5], i)
        p_out = fn(flow, pool, jax.random.fold_in(kf, 0))
        e_out = fn(flow, base_eval, jax.random.fold_in(kf, 1))
        el_out = expected_fisher(fn, flow, ellipse_pts, jax.random.fold_in(kf, 2), settings.pool_size)
        for j, v in enumerate(group):
            pools[v.key], evals[v.key], ellipses[v.key] = p_out[j], e_out[j], el_out[j]
    jax.block_until_ready(ellipses)
    timings["fisher"] = time.time() - t0 - sum(timings.values())

    # --- refinement: every variant x every eps, against the known reward (and optionally a critic)
    q_sources = {"reward": (reward_q, w)}
    critic_info = None
    if critic:
        if "critic_trainer" not in cache:
            cache["critic_trainer"] = make_critic_trainer(
                any_agent, settings.critic_steps, settings.flow_batch, settings.lr
            )
        c_params, c_losses = cache["critic_trainer"]({"net": init["critic"]}, data, data @ w, keys[6])
        c_losses = np.asarray(c_losses)
        q_sources["critic"] = (critic_q(any_agent), c_params["net"])
        critic_info = {"final_loss": float(c_losses[-100:].mean())}
    eps = jnp.asarray(settings.eps, jnp.float32)
    n_eps = len(settings.eps)
    log_alpha0 = initial_log_alpha(any_agent.config.alpha_init, settings.eps)
    refined, histories = {}, {}
    for qi, (q_name, (q_apply, q_params)) in enumerate(q_sources.items()):
        for mi, metric in enumerate(("isotropic", "fisher")):
            group = [v for v in variants if v.metric == metric]
            if not group:
                continue
            agent = agents[group[0].key]  # the loss depends on the metric only, not on locality/estimator
            tkey = ("train", metric, q_name)
            if tkey not in cache:
                cache[tkey] = make_refine_trainer(
                    agent, q_apply, settings.refine_steps, settings.refine_batch, settings.refine_lr
                )
            if metric == "fisher":
                stack = jnp.stack([pools[v.key] for v in group])
            else:  # ignored by the isotropic metric
                stack = jnp.broadcast_to(jnp.eye(ACTION_DIM), (1, settings.pool_size, ACTION_DIM, ACTION_DIM))
            tk = jax.random.split(jax.random.fold_in(keys[8], 2 * qi + mi), len(group) * n_eps)
            out, hist = cache[tkey](
                init["refine"], log_alpha0, pool, stack, eps, q_params, tk.reshape(len(group), n_eps, -1), base_eval
            )
            for j, v in enumerate(group):
                refined[(q_name, v.key)] = np.asarray(out[j])
                histories[(q_name, v.key)] = np.asarray(hist[j])
        timings[f"refine_{q_name}"] = time.time() - t0 - sum(timings.values())
        log(f"  [{dist.name}] refinements trained against the {q_name} in {timings[f'refine_{q_name}']:.1f}s")

    # --- measurements

    def support(actions):
        lp = np.asarray(logp_fn(jnp.asarray(actions)))
        return float(np.mean(lp)), float(np.mean(lp >= threshold))

    base_np = np.asarray(base_eval)
    data_lp, data_in = support(np.asarray(data[: settings.eval_size]))
    base_lp, base_in = support(base_np)
    metrics = {
        "description": dist.description,
        "reward_w": list(dist.reward_w),
        "hdr_mass": HDR_MASS,
        "hdr_log_density_threshold": threshold,
        "flow_loss_final": float(flow_losses[-100:].mean()),
        "data": {
            "reward": float(np.mean(np.asarray(data) @ np.asarray(w))),
            "log_density": data_lp,
            "in_region": data_in,
        },
        "base": {"reward": float(np.mean(base_np @ np.asarray(w))), "log_density": base_lp, "in_region": base_in},
        "fisher": {},
        "results": {},
    }
    if critic_info is not None:
        metrics["critic"] = critic_info
    is_arc = hasattr(dist, "normal")
    normals = dist.normal(np.asarray(base_eval)) if is_arc else None
    aniso = cache.setdefault("anisotropy", jax.jit(anisotropy))
    for v in fisher_variants:
        f = np.asarray(evals[v.key])
        mean_f = f.mean(axis=0)
        entry = {k: float(x) for k, x in aniso(f).items()}
        entry.update({f"expected_{k}": float(x) for k, x in aniso(ellipses[v.key]).items()})
        entry["mean_fisher_hat"] = mean_f.round(4).tolist()
        entry.update({f"mean_fisher_{k}": float(x) for k, x in aniso(mean_f[None]).items()})
        if is_arc:
            # share of the penalty on the band's normal: n^T F_hat n / tr F_hat (1 = all on the normal, 0.5 = none)
            nfn = np.einsum("ni,nij,nj->n", normals, np.asarray(f), normals) / ACTION_DIM
            entry["normal_penalty_share"] = float(np.mean(nfn))
        metrics["fisher"][v.key] = entry

    for (q_name, vkey), acts in refined.items():
        v = next(x for x in variants if x.key == vkey)
        rows = []
        for j, e in enumerate(settings.eps):
            a = acts[j]
            disp = a - base_np
            lp, inside = support(a)
            hist = histories[(q_name, vkey)][j]
            tail = hist[-max(1, len(hist) // 10) :]
            if v.metric == "fisher":
                div = float(np.mean(np.einsum("ni,nij,nj->n", disp, np.asarray(evals[vkey]), disp)) / ACTION_DIM)
            else:
                div = float(np.mean(np.sum(disp**2, axis=-1)) / ACTION_DIM)
            row = {
                "eps": e,
                "reward": float(np.mean(a @ np.asarray(w))),
                "log_density": lp,
                "in_region": inside,
                "divergence": div,
                "divergence_train": float(np.mean(tail[:, 0])),
                "alpha": float(np.mean(tail[:, 1])),
                "mean_displacement": np.mean(disp, axis=0).round(5).tolist(),
                "displacement_norm": float(np.mean(np.linalg.norm(disp, axis=-1))),
            }
            if q_name == "critic":
                row["q_policy_train"] = float(np.mean(tail[:, 2]))
            if is_arc:
                row["normal_share"] = float(np.sum(np.sum(disp * normals, -1) ** 2) / max(np.sum(disp**2), 1e-12))
            rows.append(row)
        target = metrics["results"] if q_name == "reward" else metrics.setdefault("results_critic", {})
        target[vkey] = rows
    metrics["frontier_check"] = frontier_checks(metrics)
    if "results_critic" in metrics:
        metrics["frontier_check_critic"] = frontier_checks(metrics, "results_critic")
    timings["measure"] = time.time() - t0 - sum(timings.values())
    metrics["runtime_s"] = {k: round(v, 2) for k, v in timings.items()}
    return GeometryRun(
        dist=dist,
        settings=settings,
        data=np.asarray(data),
        threshold=threshold,
        flow=flow,
        base=base_np,
        refined=refined,
        ellipse_points=np.asarray(ellipse_pts),
        ellipses={k: np.asarray(x) for k, x in ellipses.items()},
        metrics=metrics,
        logp_fn=logp_fn,
    )
