"""The geometry demo: Fisher refinement stays on the behaviour support, isotropic refinement leaves it.

A one-state problem (the state is a constant 1-d zero) with 2-D actions. The behaviour data come from
anisotropic distributions with a known density:

- ``arc``: a thin curved band, angle uniform on an arc of a circle plus isotropic Gaussian noise of
  width ``width``. Its density ``(1/dtheta) * int N(x; c + R u(theta), width^2 I) dtheta`` has no closed
  form and is computed by the midpoint rule on 512 angles (node spacing < 0.11 * width, so the sum is
  accurate to float precision);
- ``mixture``: elongated Gaussians with different orientations (analytic density);
- ``gaussian``: one Gaussian ``N(0, diag(s1^2, s2^2))`` (analytic; used by the tests).

The reward is linear, ``r(a) = w^T a``, with ``w`` oblique to the band. Everything the method does is
fidec's own code: the behaviour flow is :class:`~fidec.agents.refine.RefinementAgent`'s velocity field
trained with :func:`~fidec.flows.flow_matching_loss` (``agent.flow_loss``), base actions are
``agent.base_actions`` (K Euler steps), the Fisher metric is ``agent.fisher`` with the config's
``fisher_locality`` / ``score_estimator`` set per variant, and the refinement is trained on
``agent.refinement_loss`` (the actor objective, with the known reward, or optionally a critic learned
from rewards, in place of Q) plus :func:`~fidec.agents.refine.lagrange_loss` for the multiplier, so
every target divergence eps is met under each metric's own ``D``. The flow is frozen once trained; the
base actions and their Fisher estimates are drawn once into a pool of i.i.d. rows (the agent's update
draws the same quantities fresh every step; with a frozen flow a pool has the same distribution).

Measured per metric and eps on fresh base actions: the mean reward of the refined actions, the mean
log-density of the refined actions under the true behaviour density, and the fraction inside the
highest-density region holding 99 % of the behaviour mass (density above the 1 % quantile of the
behaviour samples' densities).

Modules: :mod:`~fidec.demos.geometry.distributions`, :mod:`~fidec.demos.geometry.setup` (settings and the
variants compared), :mod:`~fidec.demos.geometry.training`, :mod:`~fidec.demos.geometry.run` (one distribution),
:mod:`~fidec.demos.geometry.frontier`, :mod:`~fidec.demos.geometry.figures`; the demo itself is here.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import jax

from fidec.demos.geometry.distributions import DISTRIBUTIONS, Arc, GaussianMixture, gaussian
from fidec.demos.geometry.figures import figures
from fidec.demos.geometry.frontier import frontier_checks, frontier_margin, isotropic_frontier, not_dominated
from fidec.demos.geometry.run import GeometryRun, expected_fisher, initial_log_alpha, run_distribution
from fidec.demos.geometry.setup import (
    ACTION_DIM,
    EPS_REF,
    FRONTIER_TOL,
    FULL,
    HDR_MASS,
    OBS_DIM,
    QUICK,
    VARIANTS,
    DemoSettings,
    Variant,
    init_networks,
    make_agent,
)
from fidec.io import write_json

__all__ = [
    "ACTION_DIM",
    "DISTRIBUTIONS",
    "EPS_REF",
    "FRONTIER_TOL",
    "FULL",
    "HDR_MASS",
    "OBS_DIM",
    "QUICK",
    "VARIANTS",
    "Arc",
    "DemoSettings",
    "GaussianMixture",
    "GeometryRun",
    "Variant",
    "expected_fisher",
    "figures",
    "format_table",
    "frontier_checks",
    "frontier_margin",
    "gaussian",
    "init_networks",
    "initial_log_alpha",
    "isotropic_frontier",
    "make_agent",
    "not_dominated",
    "run_demo",
    "run_distribution",
]


def format_table(metrics: dict) -> str:
    lines = []
    for name, m in metrics["distributions"].items():
        lines.append(
            f"{name}: behaviour data in 99% region {100 * m['data']['in_region']:.1f}%, "
            f"base actions (flow) {100 * m['base']['in_region']:.1f}% (reward {m['base']['reward']:.3f})"
        )
        lines.append(f"  {'metric':22s} {'eps':>7s} {'reward':>7s} {'in99%':>6s} {'log p':>8s} {'E[D]':>8s}")
        for vkey, rows in m["results"].items():
            for r in rows:
                lines.append(
                    f"  {vkey:22s} {r['eps']:7.4f} {r['reward']:7.3f} {100 * r['in_region']:6.1f} "
                    f"{r['log_density']:8.2f} {r['divergence']:8.5f}"
                )
        for vkey, c in m["frontier_check"].items():
            margins = ", ".join("n/a" if x is None else f"{100 * x:+.1f}" for x in c["margin_at_equal_reward"])
            lines.append(
                f"  {vkey}: not dominated by the isotropic frontier at every eps: {c['all_not_dominated']}; "
                f"in-99% margin at equal reward per eps (points): {margins}"
            )
        if "normal_penalty_share" in next(iter(m["fisher"].values()), {}):
            shares = ", ".join(f"{k} {f['normal_penalty_share']:.2f}" for k, f in m["fisher"].items())
            lines.append(f"  share of the Fisher penalty on the band's normal (0.5 = isotropic): {shares}")
    return "\n".join(lines)


def run_demo(out: str | Path, *, quick: bool = False, seed: int = 0, critic: bool = False, log=print) -> dict:
    """Run the demo on every distribution; write figures and ``metrics.json`` to ``out``; return the metrics."""
    out = Path(out)
    settings = QUICK if quick else FULL
    t0 = time.time()
    agents = {v.key: make_agent(settings, v) for v in VARIANTS}
    cache: dict = {}
    runs = []
    for i, dist in enumerate(DISTRIBUTIONS.values()):
        runs.append(
            run_distribution(
                dist,
                settings,
                jax.random.fold_in(jax.random.PRNGKey(seed), i),
                agents=agents,
                critic=critic,
                cache=cache,
                log=log,
            )
        )
    t_train = time.time() - t0
    written = figures(runs, out)
    metrics = {
        "seed": seed,
        "quick": quick,
        "q_sources": ["reward", "critic"] if critic else ["reward"],
        "settings": {
            **dataclasses.asdict(settings),
            "alpha_init": agents["isotropic"].config.alpha_init,
            "eps_ref": EPS_REF,
            "flow_steps": agents["isotropic"].config.flow_steps,
            "fisher_samples": agents["per-state/velocity"].config.fisher_samples,
            "fisher_t_max": agents["per-state/velocity"].config.fisher_t_max,
            "fisher_t_width": agents["per-state/velocity"].config.fisher_t_width,
        },
        "variants": {v.key: v.label for v in VARIANTS},
        "frontier_tol": FRONTIER_TOL,
        "hdr": f"region {{a: p(a) >= q}} with q the {100 * (1 - HDR_MASS):g}% quantile of p over behaviour samples",
        "distributions": {run.dist.name: run.metrics for run in runs},
        "figures": [p.name for p in written],
        "runtime_s": {"train_and_measure": round(t_train, 2), "total": round(time.time() - t0, 2)},
    }
    write_json(out / "metrics.json", metrics)
    return metrics
