"""The budget frontier: success against eps and against the step actually taken, matched comparison."""

import json
import math

import pytest

from fidec.frontier import curve_label, matched_difference, verdict
from fidec.report import write_report
from tests.test_report import MAZE, make_run

EPS = (1e-3, 3e-3, 1e-2, 3e-2)
SEEDS = [0, 1, 2, 3]
JITTER = {0: -0.02, 1: 0.01, 2: 0.02, 3: -0.01}


def success(sq_disp, shift=0.0):
    """One shared success-vs-displacement law: +10 points per decade of E[delta^2]."""
    return 0.2 + 0.1 * math.log10(sq_disp / 1e-3) + shift


def add_curve(root, agent, tag, disp_per_eps, shift):
    for eps in EPS:
        disp = disp_per_eps * eps
        make_run(
            root,
            agent,
            MAZE,
            SEEDS,
            lambda s, d=disp: [success(d, shift) + JITTER[s]] * 4,
            tag=f"{tag}target_divergence={eps:g}",
            overrides={"target_divergence": eps},
            train=lambda s, st, d=disp: {"sq_displacement": d, "divergence_fisher": 0.5 * d, "alpha": 1.0},
        )


@pytest.fixture
def frontier_report(tmp_path):
    # DeFlow: E[delta^2] = eps. FD "ahead": twice the step at each eps AND 10 points above the shared law.
    # FD "same shape": twice the step at each eps, on the shared law (ahead at equal eps, level at equal step).
    add_curve(tmp_path / "runs", "deflow", "", 1.0, 0.0)
    add_curve(tmp_path / "runs", "fd", "fisher_locality=per-state,", 2.0, 0.10)
    add_curve(tmp_path / "runs", "fd", "fisher_locality=per-action,", 2.0, 0.0)
    md = write_report([tmp_path / "runs"], tmp_path / "report", reps=200, poi_reps=200)
    return md, json.loads((tmp_path / "report" / "report.json").read_text())


def test_frontier_separates_shape_from_step_length(frontier_report):
    md, rep = frontier_report
    comps = {c["fd"]: c for c in rep["frontier"]["comparisons"]}
    ahead = comps["fd [fisher_locality=per-state]"]["at_equal_displacement"]
    level = comps["fd [fisher_locality=per-action]"]
    assert ahead["difference"] == pytest.approx(0.10, abs=1e-6)
    assert ahead["ci"][0] > 0.05
    assert verdict(ahead) == "FD ahead at equal step length"
    # the same-law curve is ahead at equal eps (longer steps) but level at equal displacement
    assert level["at_equal_eps"]["difference"] == pytest.approx(0.1 * math.log10(2), abs=1e-6)
    assert level["at_equal_eps"]["ci"][0] > 0
    assert level["at_equal_displacement"]["difference"] == pytest.approx(0.0, abs=1e-6)
    lo, hi = level["at_equal_displacement"]["ci"]
    assert lo < 0 < hi and level["verdict"] == "no difference resolved"
    # the shared range is where both curves have points: [2e-3, 3e-2]
    assert ahead["overlap"] == pytest.approx([2e-3, 3e-2], rel=1e-6)
    text = md.read_text()
    assert "## Budget frontier" in text and "At equal step length, is FD ahead?" in text
    assert all((md.parent / f).exists() for f in rep["frontier"]["figures"].values())
    table = rep["frontier"]["table"][MAZE]["deflow"]
    assert set(table) == {f"{e:g}" for e in EPS} and table["0.01"]["sq_displacement"] == pytest.approx(0.01)


def test_curve_label_drops_only_the_budget():
    assert curve_label("fd [fisher_locality=per-action,target_divergence=0.003]") == "fd [fisher_locality=per-action]"
    assert curve_label("deflow [target_divergence=0.003]") == "deflow"
    assert curve_label("fql") == "fql"


def test_no_overlap_is_not_comparable():
    from fidec.frontier import Point

    a = [Point(MAZE, "fd", "fd", e, s, 0.5, e, e) for e in (1e-3, 2e-3) for s in (0, 1)]
    b = [Point(MAZE, "deflow", "deflow", e, s, 0.5, e, e) for e in (1e-2, 2e-2) for s in (0, 1)]
    d = matched_difference(a, b, reps=10)
    assert d["difference"] is None and verdict(d).startswith("no shared range")
