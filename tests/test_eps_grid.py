"""Several target divergences in one process (``--target-divergences``: the frontier's ε grid on a GPU).

The ε × seed grid is vmapped like the seeds: each member must train exactly as its own single-ε run would, the
Lagrangian must see each member's own ε, and each ε's records must land in a sub-run folder that reports and
sweeps read as the run it replaces."""

import json

import numpy as np
import pytest

from fidec.config import resolve
from fidec.errors import ConfigError
from fidec.report import find_run_dirs, load_runs
from fidec.runs import MetricsLog
from fidec.sweep import Suite, expand
from fidec.train import Trainer, sub_run_name

from .conftest import TINY_ENV

EPS = (0.0005, 0.05)


def tiny(d, **kw):
    base = {"env": TINY_ENV, "preset": "tiny", "dataset_dir": str(d), "steps": 20}
    # one episode per member and evaluation, in one env (a cube env takes seconds to make)
    base.update(checkpoint_every=10, eval_every=10, eval_episodes=1, eval_envs=1)
    return resolve({**base, **kw})


def records(run_dir, kind):
    return sorted(MetricsLog(run_dir).records(kind), key=lambda r: (r["step"], r["seed"]))


@pytest.fixture(scope="module")
def grid_and_singles(tiny_dataset_dir, tmp_path_factory):
    """One run of fd over EPS x 2 seeds, and the single-ε run of the last ε with the same seeds."""
    root = tmp_path_factory.mktemp("eps-grid")
    group = root / "group"
    Trainer.create(tiny(tiny_dataset_dir, num_seeds=2, target_divergences=EPS), group, progress=False).run()
    singles = {}
    for eps in EPS[1:]:  # the members after the first, whose ε is not the config's own: one single run suffices
        singles[eps] = root / f"single-{eps:g}"
        cfg = tiny(tiny_dataset_dir, num_seeds=2, target_divergence=eps)
        Trainer.create(cfg, singles[eps], progress=False).run()
    return group, singles


def test_each_member_trains_as_its_own_single_eps_run(grid_and_singles):
    group, singles = grid_and_singles
    for eps in singles:
        sub = group / sub_run_name(eps)
        got, want = records(sub, "train"), records(singles[eps], "train")
        assert [(r["step"], r["seed"]) for r in got] == [(r["step"], r["seed"]) for r in want]
        for g, w in zip(got, want, strict=True):
            assert g["target_divergence"] == eps
            # the same computation vmapped over one more axis: equal up to float reassociation
            for key in ("alpha", "critic_loss", "divergence", "sq_displacement"):
                np.testing.assert_allclose(g[key], w[key], rtol=2e-3, atol=1e-6, err_msg=f"{key} at ε={eps}")


def test_the_lagrangian_sees_each_members_own_eps(grid_and_singles):
    group, _ = grid_and_singles
    last = {eps: records(group / sub_run_name(eps), "train")[-1] for eps in EPS}
    # alpha rises while E[D] > ε: the member with the 100x smaller budget ends with the larger multiplier
    assert last[EPS[0]]["alpha"] > last[EPS[1]]["alpha"]
    grads = {eps: records(group / sub_run_name(eps), "train")[0]["alpha_loss"] for eps in EPS}
    assert grads[EPS[0]] != grads[EPS[1]]


def test_sub_runs_are_run_folders_and_the_group_is_not_reported_twice(grid_and_singles):
    group, _ = grid_and_singles
    for eps in EPS:
        sub = group / sub_run_name(eps)
        cfg = json.loads((sub / "config.json").read_text())
        assert cfg["config"]["target_divergence"] == eps and cfg["config"]["target_divergences"] == []
        assert json.loads((sub / "summary.json").read_text())["final_step"] == 20
        assert {r["seed"] for r in records(sub, "eval")} == {0, 1}
    summary = json.loads((group / "summary.json").read_text())
    assert summary["final_step"] == 20 and len(summary["per_seed"]) == 4
    assert find_run_dirs([group]) == [group / sub_run_name(e) for e in sorted(EPS)]
    runs, _ = load_runs([group])
    assert sorted({(r.label, r.seed) for r in runs}) == sorted(
        (f"fd [target_divergence={e:g}]", s) for e in EPS for s in (0, 1)
    )


def test_resume_of_a_grid_run_is_bit_identical(tiny_dataset_dir, tmp_path, grid_and_singles):
    group, _ = grid_and_singles
    b = tmp_path / "b"
    Trainer.create(tiny(tiny_dataset_dir, num_seeds=2, target_divergences=EPS, steps=10), b, progress=False).run()
    Trainer.resume(b, steps=20, progress=False).run()
    drop = {"wall_time", "updates_per_s", "eval_time_s", "time_in_chunks_frac"}
    for eps in EPS:
        a_rec = [{k: v for k, v in r.items() if k not in drop} for r in MetricsLog(group / sub_run_name(eps)).records()]
        b_rec = [{k: v for k, v in r.items() if k not in drop} for r in MetricsLog(b / sub_run_name(eps)).records()]
        assert a_rec == b_rec


def test_sweep_merges_eps_variants_into_one_process_with_the_replaced_tags(tmp_path):
    suite = Suite(
        name="t",
        source="t.toml",
        text="",
        agents=["fd", "fql"],
        tasks=[TINY_ENV],
        seeds=[0, 1],
        seeds_per_process=2,
        config={"preset": "tiny"},
        grid={"target_divergence": [0.001, 0.01]},
        agent_grid={"fd": {"fisher_locality": ["per-state", "per-action"]}},
    )
    plain = expand(suite, tmp_path)
    suite.vmap_target_divergence = True
    merged = expand(suite, tmp_path)
    fd_plain = [j for j in plain if j.agent == "fd"]
    fd_merged = [j for j in merged if j.agent == "fd"]
    assert len(fd_plain) == 4 and len(fd_merged) == 2
    for j in fd_merged:
        assert j.overrides["target_divergences"] == (0.001, 0.01) and "target_divergence" not in j.overrides
        assert resolve(j.overrides).target_divergences == (0.001, 0.01)
    assert sorted(t for j in fd_merged for t in j.sub_tags.values()) == sorted(j.tag for j in fd_plain)
    # fql has no ε: its jobs are left as they were (the grid still makes one per value)
    assert [j.name for j in merged if j.agent == "fql"] == [j.name for j in plain if j.agent == "fql"]


@pytest.mark.parametrize(
    "kw, needle",
    [
        ({"agent": "fql", "target_divergences": (0.001, 0.01)}, "for fd and deflow"),
        ({"target_divergences": (0.001, 0.001)}, "repeated"),
        ({"target_divergences": (0.001, -1.0)}, "target_divergences must be"),
        ({"target_divergences": (0.001, 0.01), "lagrangian": False}, "Lagrangian"),
    ],
)
def test_bad_grids_are_one_line_errors(kw, needle):
    with pytest.raises(ConfigError, match=needle):
        resolve({"env": TINY_ENV, "preset": "tiny", **kw})
