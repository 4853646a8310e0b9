"""`fidec report` on synthetic run folders with known numbers: tables, rliable aggregates, PoI, sections."""

import json

import numpy as np
import pytest

from fidec.cli import main
from fidec.config import resolve
from fidec.errors import FidecError
from fidec.io import write_json
from fidec.report import PUBLISHED, load_runs, published_family, task_family, write_report
from fidec.runs import MetricsLog

CUBE = "cube-single-play-singletask-task{}-v0"
MAZE = "pointmaze-medium-navigate-singletask-task1-v0"
STEPS = [10, 20, 30, 40]
SECTIONS = (
    "## Setup",
    "## Per-task results",
    "## Per-family aggregates",
    "## Aggregate metrics: IQM and mean with 95% confidence intervals",
    "## Probability of improvement of FD over each baseline",
    "## Learning curves",
    "## Published numbers beside ours",
    "**What differs from the published setup:**",
    "## Runs",
)


def make_run(root, agent, env, seeds, curve, steps=40, finished=True, tag=None, train=None, overrides=None):
    """A run folder with eval records ``curve(seed) -> successes at STEPS`` (num_seeds = len(seeds)) and,
    with ``train``, training records ``train(seed, step) -> dict`` at steps 5, 10, ..., 40."""
    d = root / agent / env / (tag or "base") / f"seeds{seeds[0]}-{seeds[-1]}"
    d.mkdir(parents=True)
    over = {"agent": agent, "env": env, "preset": "tiny", "seed": seeds[0], "num_seeds": len(seeds)}
    cfg = resolve({**over, **(overrides or {})})
    write_json(
        d / "config.json",
        {
            "config": cfg.to_dict(),
            "versions": {"ogbench": "1.2.2", "fidec": "0.1.0"},
            "success_timing": "pre",
            "dataset": {"name": "cube-single-play-v0", "dir": str(root / "nodata"), "transitions": 2000},
        },
    )
    recs = []
    for s in seeds:
        for st, v in zip(STEPS, curve(s), strict=True):
            recs.append({"kind": "eval", "step": st, "seed": s, "success": v, "success_std": 0.0, "episodes": 2})
        if train:
            recs += [{"kind": "train", "step": st, "seed": s, **train(s, st)} for st in range(5, 45, 5)]
    MetricsLog(d).append(recs)
    if finished:
        write_json(d / "summary.json", {"final_step": steps, "agent": agent, "env": env})
    if tag:
        write_json(d / "sweep.json", {"tag": tag})
    return d


@pytest.fixture
def fd_dominates(tmp_path):
    """fd > deflow > bc on every run of every task (3 seeds, 2 cube tasks + 1 point-maze task)."""
    root = tmp_path / "runs"
    level = {"fd": 0.8, "deflow": 0.5, "bc": 0.2}
    for agent, base in level.items():
        for env in (CUBE.format(1), CUBE.format(2), MAZE):
            make_run(root, agent, env, [0, 1, 2], lambda s, b=base: [0.0, b, b + 0.01 * s, b + 0.02 * s])
    return root


def test_report_numbers_and_sections(fd_dominates, tmp_path):
    out = tmp_path / "report"
    md = write_report([fd_dominates], out, reps=500, poi_reps=200)
    text = md.read_text()
    for section in SECTIONS:
        assert section in text, section
    for png in ("aggregates.png", "probability_of_improvement.png", "curves_cube-single-play.png"):
        assert (out / png).stat().st_size > 1000, png
    assert (out / "curves_pointmaze-medium-navigate.png").exists()
    rep = json.loads((out / "report.json").read_text())

    # score = mean of the last three evaluations: (b + (b + .01 s) + (b + .02 s)) / 3 = b + .01 s
    cell = rep["per_task"][CUBE.format(1)]["fd"]
    assert cell["n"] == 3
    np.testing.assert_allclose(cell["scores"], [0.8, 0.81, 0.82])
    np.testing.assert_allclose(cell["mean"], 0.81)
    np.testing.assert_allclose(cell["std"], np.std([0.8, 0.81, 0.82]))
    fam = rep["per_family"]["cube-single-play"]["deflow"]
    assert fam["tasks"] == 2 and fam["seeds"] == 3
    np.testing.assert_allclose(fam["mean"], 0.51)

    # rliable: IQM / mean point estimates inside their 95% CIs; PoI of a dominating fd is 1.
    for m, a in rep["aggregates"].items():
        assert a["iqm_ci"][0] <= a["iqm"] <= a["iqm_ci"][1], m
        assert a["mean_ci"][0] <= a["mean"] <= a["mean_ci"][1], m
        assert a["runs"] == 3 and a["tasks"] == 3
    np.testing.assert_allclose(rep["aggregates"]["fd"]["mean"], 0.81)
    assert set(rep["probability_of_improvement"]) == {"fd vs deflow", "fd vs bc"}
    for v in rep["probability_of_improvement"].values():
        assert v["poi"] == 1.0 and v["ci"] == [1.0, 1.0]

    # published numbers beside ours; versions and reward timing printed; what differs
    assert "OGBench version: **1.2.2**" in text and "timing: **pre**" in text
    row = next(ln for ln in text.splitlines() if ln.startswith("| cube-single-play | 81.0"))
    assert row.endswith("| 83 | 91 | 96 | 96 | – |")
    assert "budget: 40 gradient steps (published: 1M)" in text
    assert "networks: 32×32 MLPs (published: 4×512)" in text
    assert "**81.0 ± 0.8 (3)**" in text  # best of the row in bold


def test_report_without_fd_skips_poi_and_leaves_out_unfinished(tmp_path):
    root = tmp_path / "runs"
    make_run(root, "deflow", CUBE.format(1), [0, 1], lambda s: [0, 0.4, 0.5, 0.6])
    make_run(root, "bc", CUBE.format(1), [0, 1], lambda s: [0, 0.1, 0.2, 0.3])
    make_run(root, "fql", CUBE.format(1), [0], lambda s: [0, 0.1, 0.2, 0.3], finished=False)
    out = tmp_path / "rep"
    assert main(["report", str(root), "--out", str(out), "--reps", "200", "--poi-reps", "100"]) == 0
    text = (out / "report.md").read_text()
    for section in SECTIONS:
        assert section in text, section
    assert "Skipped: these runs include no FD (`fd`) agent" in text
    assert not (out / "probability_of_improvement.png").exists()
    assert "unfinished" in text and "fql" in text.split("## Runs")[1]
    rep = json.loads((out / "report.json").read_text())
    assert rep["methods"] == ["deflow", "bc"]
    np.testing.assert_allclose(rep["per_task"][CUBE.format(1)]["deflow"]["mean"], 0.5)


def test_report_names_included_unfinished_runs_and_eval_from(tmp_path):
    root = tmp_path / "runs"
    make_run(root, "deflow", CUBE.format(1), [0, 1], lambda s: [0, 0.4, 0.5, 0.6], overrides={"eval_from": 20})
    # unfinished: its evaluations stop early; with --include-incomplete it is scored on what it reached
    d = make_run(root, "fql", CUBE.format(1), [0], lambda s: [0, 0.1, 0.2, 0.3], finished=False)
    out = tmp_path / "rep"
    argv = ["report", str(root), "--out", str(out), "--reps", "200", "--poi-reps", "100", "--include-incomplete"]
    assert main(argv) == 0
    text = (out / "report.md").read_text()
    assert "2 every 20 from 20" in text  # the tiny preset's eval schedule, with eval_from
    runs = text.split("## Runs")[1]
    assert "Unfinished runs included" in runs and str(d) in runs
    assert f"step(s) {', '.join(map(str, STEPS))} of 40" in runs
    finished = str(root / "deflow")
    assert finished not in runs


def test_report_offline_to_online_gain(tmp_path):
    """Scores before and after the online phase are read at the phase boundary; the gain is per seed."""
    root = tmp_path / "runs"
    over = {"steps": 20, "online_steps": 20, "eval_every": 10, "log_every": 5, "chunk_size": 5}

    def online_eps(seed, step):  # online episodes after the offline 20 steps: seed 0 succeeds, seed 1 half
        if step <= 20:
            return {}
        return {"phase": "online", "online_episodes": 2, "online_success": 1.0 if seed == 0 else 0.5}

    # evaluations at 10, 20 (offline) and 30, 40 (online)
    make_run(
        root, "fd", CUBE.format(1), [0, 1], lambda s: [0.1, 0.3, 0.6, 0.9 - 0.4 * s], train=online_eps, overrides=over
    )
    make_run(root, "deflow", CUBE.format(1), [0, 1], lambda s: [0.2, 0.2, 0.2, 0.2])  # offline only
    out = tmp_path / "rep"
    assert main(["report", str(root), "--out", str(out), "--reps", "200", "--poi-reps", "100"]) == 0
    rep = json.loads((out / "report.json").read_text())["online"]
    assert list(rep[CUBE.format(1)]) == ["fd"]  # the offline-only run has no row
    d = rep[CUBE.format(1)]["fd"]
    np.testing.assert_allclose(d["offline"]["scores"], [0.2, 0.2])  # mean(0.1, 0.3): evaluations up to step 20
    final = [np.mean([0.3, 0.6, 0.9]), np.mean([0.3, 0.6, 0.5])]  # the last three evaluations
    np.testing.assert_allclose(d["online"]["scores"], final)
    np.testing.assert_allclose(d["gain"]["scores"], np.array(final) - 0.2)
    assert d["seeds_improved"] == 2
    # online episodes over the last third of the online phase (steps > 33): seed 0 all, seed 1 half
    np.testing.assert_allclose(d["online_episode_success"]["scores"], [1.0, 0.5])
    # the release's protocol: the one evaluation at the end of the offline phase and the last one
    np.testing.assert_allclose(d["offline_end"]["scores"], [0.3, 0.3])
    np.testing.assert_allclose(d["final"]["scores"], [0.9, 0.5])
    text = (out / "report.md").read_text()
    assert "## Offline to online" in text and "2/2" in text and "| offline end | final |" in text


def test_report_variants_and_uneven_seeds(tmp_path):
    """Grid variants are separate methods; an agent with fewer seeds on one task is trimmed for rliable."""
    root = tmp_path / "runs"
    make_run(root, "fd", CUBE.format(1), [0, 1], lambda s: [0, 0.5, 0.5, 0.5], tag="target_divergence=0.01")
    make_run(root, "fd", CUBE.format(2), [0], lambda s: [0, 0.5, 0.5, 0.5], tag="target_divergence=0.01")
    make_run(root, "fql", CUBE.format(1), [0, 1], lambda s: [0, 0.5, 0.5, 0.5])
    make_run(root, "fql", CUBE.format(2), [0, 1], lambda s: [0, 0.5, 0.5, 0.5])
    runs, _ = load_runs([root])
    assert {r.label for r in runs} == {"fd [target_divergence=0.01]", "fql"}
    out = tmp_path / "rep"
    write_report([root], out, reps=100, poi_reps=100)
    rep = json.loads((out / "report.json").read_text())
    assert rep["aggregates"]["fd [target_divergence=0.01]"]["runs"] == 1
    assert rep["aggregates"]["fql"]["runs"] == 2
    assert rep["probability_of_improvement"]["fd [target_divergence=0.01] vs fql"]["poi"] == 0.5


def test_report_compares_fd_variants_with_each_other(tmp_path):
    """Two FD variants (per-state, per-action): each against the baseline, and per-action against per-state."""
    root = tmp_path / "runs"
    for env in (CUBE.format(1), CUBE.format(2)):
        make_run(root, "fd", env, [0, 1], lambda s: [0, 0.2, 0.2, 0.2], tag="fisher_locality=per-state")
        make_run(root, "fd", env, [0, 1], lambda s: [0, 0.6, 0.6, 0.6], tag="fisher_locality=per-action")
        make_run(root, "deflow", env, [0, 1], lambda s: [0, 0.4, 0.4, 0.4])
    out = tmp_path / "rep"
    write_report([root], out, reps=100, poi_reps=100)
    poi = json.loads((out / "report.json").read_text())["probability_of_improvement"]
    state, action = "fd [fisher_locality=per-state]", "fd [fisher_locality=per-action]"
    assert poi[f"{state} vs deflow"]["poi"] == 0.0 and poi[f"{action} vs deflow"]["poi"] == 1.0
    pair = [k for k in poi if k.startswith("fd [") and " vs fd [" in k]
    assert len(pair) == 1  # one direction only
    a, b = pair[0].split(" vs ")
    assert poi[pair[0]]["poi"] == (1.0 if a == action else 0.0) and {a, b} == {state, action}


def test_report_errors_and_family_names(tmp_path):
    with pytest.raises(FidecError, match="no run folders"):
        write_report([tmp_path], tmp_path / "r")
    assert task_family(CUBE.format(3)) == "cube-single-play"
    assert published_family("cube-single-play") == "cube-single"
    assert published_family("antmaze-large-navigate") == "antmaze-large"
    assert published_family("pointmaze-medium-navigate") is None
    assert PUBLISHED["antmaze-large"]["Fisher Decorator"] == 87


def test_report_training_diagnostics(tmp_path):
    """Diagnostics: the mean over the last fifth of training (steps 35, 40 of 40) and over seeds; Q gain is
    Q(pi) - Q(data); the target divergence stands beside E[D]; agents without a quantity show none."""
    root = tmp_path / "runs"

    def fd_train(seed, step):
        return {
            "alpha": step / 5 + seed,
            "divergence": 0.001 * step,
            "q_policy": 2.0 + seed,
            "q_data": 1.0,
            "fisher_top_eig_share": 0.9,
            "refine_norm": 0.1,
        }

    make_run(root, "fd", CUBE.format(2), [0, 1], lambda s: [0, 0.5, 0.5, 0.5], train=fd_train)
    make_run(
        root,
        "bc",
        CUBE.format(2),
        [0, 1],
        lambda s: [0, 0.1, 0.1, 0.1],
        train=lambda s, st: {"policy_mse_to_data": 0.25, "q_policy": float("nan"), "q_data": 0.0},
    )
    out = tmp_path / "rep"
    write_report([root], out, reps=100, poi_reps=100)
    diag = json.loads((out / "report.json").read_text())["diagnostics"][CUBE.format(2)]
    fd = diag["fd"]
    np.testing.assert_allclose(fd["alpha"], np.mean([7, 8, 8, 9]))  # steps 35, 40; seeds 0, 1
    np.testing.assert_allclose(fd["divergence"], 0.0375)
    np.testing.assert_allclose(fd["q_gain"], 1.5)
    assert (
        fd["target_divergence"] == resolve({"agent": "fd", "env": CUBE.format(2), "preset": "tiny"}).target_divergence
    )
    assert set(diag["bc"]) == {"policy_mse_to_data"}  # non-finite Q gain dropped, no alpha or epsilon
    text = (out / "report.md").read_text()
    assert "## Training diagnostics" in text
    assert f"| 0.0375 (ε {fd['target_divergence']:g}) |" in text


def test_report_labels_comparisons_at_unequal_recipe(tmp_path):
    """FD under fidec's recipe against DeFlow under the paper's is said to be unequal; FD against DeFlow under the
    same recipe is not."""
    root = tmp_path / "runs"
    for env in (CUBE.format(1), CUBE.format(2)):
        make_run(root, "fd", env, [0, 1], lambda s: [0, 0.6, 0.6, 0.6], tag="preset=fidec+tiny",
                 overrides={"preset": "fidec+tiny"})
        make_run(root, "deflow", env, [0, 1], lambda s: [0, 0.4, 0.4, 0.4], tag="preset=tiny")
        make_run(root, "deflow", env, [0, 1], lambda s: [0, 0.5, 0.5, 0.5], tag="preset=fidec+tiny",
                 overrides={"preset": "fidec+tiny"})
    text = write_report([root], tmp_path / "rep", reps=100, poi_reps=100).read_text()
    assert "**The methods ran under different recipes** (fidec, paper;" in text
    rows = {line.split(" | ")[0]: line for line in text.splitlines() if line.startswith("| P(")}
    unequal = rows["| P(fd [preset=fidec+tiny] > deflow [preset=tiny])"]
    assert unequal.endswith("| unequal recipe: fidec against paper |")
    assert rows["| P(fd [preset=fidec+tiny] > deflow [preset=fidec+tiny])"].endswith("| 1.00 | [1.00, 1.00] | equal |")


def test_report_joins_untagged_runs_with_the_preset_variant_they_ran_under(tmp_path):
    """DeFlow run untagged on one task (preset tiny) and as the grid variant preset=tiny on another is one method
    (its score aggregated over both tasks, a note saying so); the other preset stays its own method, and an
    agent never tagged by preset keeps its plain label."""
    root = tmp_path / "runs"
    make_run(root, "deflow", CUBE.format(1), [0, 1], lambda s: [0, 0.4, 0.4, 0.4])
    make_run(root, "deflow", CUBE.format(2), [0, 1], lambda s: [0, 0.2, 0.2, 0.2], tag="preset=tiny")
    for env in (CUBE.format(1), CUBE.format(2)):
        make_run(root, "deflow", env, [0, 1], lambda s: [0, 0.5, 0.5, 0.5], tag="preset=fidec+tiny",
                 overrides={"preset": "fidec+tiny"})
        make_run(root, "fql", env, [0, 1], lambda s: [0, 0.1, 0.1, 0.1])
    runs, notes = load_runs([root])
    assert {r.label for r in runs} == {"deflow [preset=tiny]", "deflow [preset=fidec+tiny]", "fql"}
    assert any(n.startswith("deflow: runs without a grid variant are shown as deflow [preset=tiny]") for n in notes)
    out = tmp_path / "rep"
    write_report([root], out, reps=100, poi_reps=100)
    agg = json.loads((out / "report.json").read_text())["aggregates"]
    assert agg["deflow [preset=tiny]"]["runs"] == 2 and agg["deflow [preset=tiny]"]["mean"] == pytest.approx(0.3)
