"""The parity harness's mutations, without a release checkout: fidec's paper preset against a copy of itself with
one setting changed, measured by the harness's own figures (benchmarks/parity/parity.py). Each mutation must
exceed 10x the worst figure of the committed unmodified fidec-vs-release run (benchmarks/parity/result/worst.json),
so the harness, whose tolerances sit below that, fails each of them at the first update."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PARITY = ROOT / "benchmarks" / "parity"


def _harness():
    spec = importlib.util.spec_from_file_location("parity_harness", PARITY / "parity.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


harness = _harness()
WORST = json.loads((PARITY / "result" / "worst.json").read_text())["worst"]
CASES = [(agent, name) for name, agents, _, _ in harness.MUTATIONS for agent in agents]
_refs = {}


def _reference(agent):
    if agent not in _refs:
        _refs[agent] = harness.fidec_reference(agent, hidden=(32, 32), batch_size=16)
    return _refs[agent]


def test_worst_figures_are_committed_and_below_tolerance():
    assert set(WORST) == set(harness.QUANTITIES)
    for q, value in WORST.items():
        assert 0 <= value < harness.TOLERANCES[q] / 2, (q, value)  # float32 noise passes with margin


def test_unmodified_copy_has_no_difference():
    ref = _reference("fd")
    figs = harness.mutation_figures(ref, {})
    assert all(v == 0 for v, _ in figs.values()), figs


@pytest.mark.parametrize(("agent", "name"), CASES)
def test_mutation_exceeds_ten_times_the_release_noise(agent, name):
    change = next(c for n, _, c, _ in harness.MUTATIONS if n == name)
    ref = _reference(agent)
    overrides = change(ref.cfg)
    assert any(getattr(ref.cfg, k) != v for k, v in overrides.items()), overrides
    figs = harness.mutation_figures(ref, overrides)
    margin, quantity = harness.margin(figs, WORST)
    assert margin >= 10, (name, figs)
    assert harness.exceeds(figs), (name, figs)  # and the harness's tolerances fail it
