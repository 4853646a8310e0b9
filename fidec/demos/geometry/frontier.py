"""The isotropic frontier of the geometry demo: is a Fisher refinement dominated by the isotropic ones (less
reward and less of the behaviour support)?"""

from __future__ import annotations

import numpy as np

from fidec.demos.geometry.setup import FRONTIER_TOL


def isotropic_frontier(metrics: dict, results_key: str = "results") -> tuple[np.ndarray, np.ndarray]:
    """(reward, in-region fraction) of the base policy (eps = 0) and the isotropic sweep, sorted by reward."""
    pts = [(metrics["base"]["reward"], metrics["base"]["in_region"])]
    pts += [(r["reward"], r["in_region"]) for r in metrics[results_key]["isotropic"]]
    pts.sort()
    return np.array([p[0] for p in pts]), np.array([p[1] for p in pts])


def not_dominated(reward: float, inside: float, iso_r: np.ndarray, iso_f: np.ndarray, tol: float = 0.0) -> bool:
    """True unless the isotropic frontier (piecewise linear through its points) reaches ``reward`` with a larger
    in-region fraction than ``inside`` (+ ``tol``). Beyond the largest isotropic reward nothing dominates."""
    if reward > iso_r[-1]:
        return True
    if reward <= iso_r[0]:
        return inside + tol >= float(np.max(iso_f))
    best = max(float(np.interp(reward, iso_r, iso_f)), float(np.max(iso_f[iso_r >= reward])))
    return inside + tol >= best


def frontier_margin(reward: float, inside: float, iso_r: np.ndarray, iso_f: np.ndarray) -> float | None:
    """In-region fraction minus the isotropic frontier's (piecewise linear) at the same reward; None where the
    isotropic sweep does not span that reward."""
    if not iso_r[0] <= reward <= iso_r[-1]:
        return None
    return inside - float(np.interp(reward, iso_r, iso_f))


def frontier_checks(metrics: dict, results_key: str = "results", tol: float = FRONTIER_TOL) -> dict:
    """Per Fisher variant and eps: is its (reward, in-region) point dominated by the isotropic frontier?
    Also the plain comparison at equal eps (higher-or-equal reward and in-region fraction)."""
    res = metrics[results_key]
    iso_r, iso_f = isotropic_frontier(metrics, results_key)
    out = {}
    for vkey, rows in res.items():
        if vkey == "isotropic":
            continue
        nd = [not_dominated(r["reward"], r["in_region"], iso_r, iso_f, tol) for r in rows]
        eq = [
            r["reward"] >= ri["reward"] and r["in_region"] >= ri["in_region"]
            for r, ri in zip(rows, res["isotropic"], strict=True)
        ]
        margin = [frontier_margin(r["reward"], r["in_region"], iso_r, iso_f) for r in rows]
        out[vkey] = {
            "not_dominated": nd,
            "all_not_dominated": all(nd),
            "margin_at_equal_reward": margin,
            "better_at_equal_eps": eq,
        }
    return out
