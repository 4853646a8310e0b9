"""The geometry demo: Fisher refinement moves along the behaviour support, isotropic refinement does not.

All three tests use the demo's reduced size (``--quick``) and fidec's own flow, agents, metrics and losses.
"""

import json
import math

import jax
import numpy as np
import pytest

from fidec import cli
from fidec.demos import geometry

FIGURES = ("behaviour.png", "fisher_ellipses.png", "refined.png", "frontier.png", "geometry.png")
TOL = 0.005  # half a percentage point of in-region fraction: below the sampling noise of 1024 eval actions


@pytest.fixture(scope="module")
def quick_demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "geometry"
    assert cli.main(["demo", "geometry", "--quick", "--out", str(out)]) == 0
    return out, json.loads((out / "metrics.json").read_text())


def _angle(u, v) -> float:
    c = float(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v)))
    return math.degrees(math.acos(max(-1.0, min(1.0, c))))


def test_demo_runs_end_to_end(quick_demo):
    out, m = quick_demo
    for name in FIGURES:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, name
    assert set(m["distributions"]) == {"arc", "mixture"}
    eps = m["settings"]["eps"]
    for d in m["distributions"].values():
        assert set(d["results"]) == {v.key for v in geometry.VARIANTS}
        assert 0.97 <= d["data"]["in_region"] <= 1.0  # the 99 % region holds ~99 % of fresh behaviour samples
        for rows in d["results"].values():
            assert [r["eps"] for r in rows] == eps
            for r in rows:
                assert all(math.isfinite(r[k]) for k in ("reward", "log_density", "in_region", "divergence"))
                # the Lagrangian meets each budget under the metric's own D
                assert r["divergence_train"] == pytest.approx(r["eps"], rel=0.25)
        assert set(d["fisher"]) == {v.key for v in geometry.VARIANTS if v.metric == "fisher"}
    # the per-state result on the arc is reported whichever way it comes out
    arc = m["distributions"]["arc"]
    assert "normal_penalty_share" in arc["fisher"]["per-state/velocity"]
    assert "per-state/velocity" in arc["frontier_check"]


def test_arc_per_action_fisher_frontier_not_dominated_by_isotropic(quick_demo):
    _, m = quick_demo
    arc = m["distributions"]["arc"]
    iso_r, iso_f = geometry.isotropic_frontier(arc)
    iso_rows = arc["results"]["isotropic"]
    for vkey in ("per-action/velocity", "per-action/exact"):
        rows = arc["results"][vkey]
        for r in rows:
            assert geometry.not_dominated(r["reward"], r["in_region"], iso_r, iso_f, TOL), (vkey, r, iso_rows)
        # not vacuous: where the isotropic sweep reaches the same reward, per-action keeps clearly more support
        margins = [geometry.frontier_margin(r["reward"], r["in_region"], iso_r, iso_f) for r in rows]
        assert max(x for x in margins if x is not None) > 0.05, (vkey, margins)
    # the per-action metric keeps the band's anisotropy: most of its penalty is on the band's normal
    fisher = arc["fisher"]
    for est in ("velocity", "exact"):
        assert fisher[f"per-action/{est}"]["normal_penalty_share"] > 0.8
        assert fisher[f"per-action/{est}"]["normal_penalty_share"] > fisher[f"per-state/{est}"]["normal_penalty_share"]


def test_gaussian_fd_displacement_follows_sigma_w_isotropic_follows_w():
    """Behaviour N(0, diag(s1^2, s2^2)), s1 >> s2, reward w^T a: the Fisher refinement's mean displacement is
    closer in angle to Sigma w than to w, the isotropic one the reverse; for both score estimators."""
    dist = geometry.gaussian(sd_wide=0.3, sd_thin=0.03, reward_w=(math.sqrt(0.5), math.sqrt(0.5)))
    run = geometry.run_distribution(dist, geometry.QUICK, jax.random.PRNGKey(0), log=lambda _: None)
    w = np.asarray(dist.reward_w)
    sigma_w = np.diag([0.3**2, 0.03**2]) @ w
    assert _angle(w, sigma_w) > 40
    angles = {}
    for vkey, rows in run.metrics["results"].items():
        r = rows[0]  # smallest eps: the local regime of the second-order expansion
        d = np.asarray(r["mean_displacement"])
        assert np.linalg.norm(d) > 0.01, (vkey, r)
        angles[vkey] = (_angle(d, sigma_w), _angle(d, w))
    assert angles["isotropic"][1] < angles["isotropic"][0], angles
    for est in ("velocity", "exact"):
        for locality in ("per-state", "per-action"):
            to_sigma_w, to_w = angles[f"{locality}/{est}"]
            assert to_sigma_w < to_w, (locality, est, angles)
