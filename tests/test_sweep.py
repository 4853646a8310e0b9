"""`fidec sweep`: suites, grid expansion, run status, the local and Ray backends, resuming a half-done sweep."""

import json
import os
import textwrap

import pytest

from fidec.cli import main
from fidec.errors import FidecError
from fidec.sweep import (
    DONE,
    FAILED,
    INTERRUPTED,
    PENDING,
    ensure_datasets,
    expand,
    expand_braces,
    job_status,
    load_suite,
    packaged_suites,
    parse_seeds,
    parse_set,
    run_job,
    run_sweep,
    seed_groups,
    variants,
)

from .conftest import TINY_DATASET, TINY_ENV


@pytest.fixture
def child_jax_cache(monkeypatch):
    """Spawned runs (and Ray workers) share the tests' persistent XLA compilation cache through the env."""
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", os.environ.get("FIDEC_TEST_JAX_CACHE", "/tmp/fidec-test-jax-cache"))
    monkeypatch.setenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    monkeypatch.setenv("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")


def write_suite(path, agents, seeds, extra="", top=""):
    """A user suite on the tiny task; ``top``: more top-level keys, ``extra``: more tables."""
    lines = [
        'name = "t"',
        f"agents = {json.dumps(agents)}",
        f'tasks = ["{TINY_ENV}"]',
        f"seeds = {json.dumps(seeds)}",
        textwrap.dedent(top),
        "[datasets]",
        f'"{TINY_DATASET}" = 2',
        "[config]",
        'preset = "tiny"',
        textwrap.dedent(extra),
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


# ---------------------------------------------------------------------------------------------- units
def test_grid_helpers():
    assert expand_braces("a-task{1..3}-v0") == ["a-task1-v0", "a-task2-v0", "a-task3-v0"]
    assert expand_braces("{x,y}-{1..2}") == ["x-1", "x-2", "y-1", "y-2"]
    assert expand_braces("plain") == ["plain"]
    assert seed_groups([0, 1, 2, 3, 4], 2) == [[0, 1], [2, 3], [4]]
    assert seed_groups([0, 1, 5, 6, 7], 3) == [[0, 1], [5, 6, 7]]  # num_seeds needs consecutive seeds
    assert variants({}) == [("base", {})]
    tags = [t for t, _ in variants({"target_divergence": [0.001, 0.01], "hidden_dims": [[64, 64]]})]
    assert tags == ["target_divergence=0.001,hidden_dims=64x64", "target_divergence=0.01,hidden_dims=64x64"]
    # a table's fields vary together: two variants, not the four of a product
    bundled = variants({"est": [{"fisher_locality": "per-state"}, {"fisher_locality": "per-action", "lr": 1e-3}]})
    assert bundled == [
        ("fisher_locality=per-state", {"fisher_locality": "per-state"}),
        ("fisher_locality=per-action,lr=0.001", {"fisher_locality": "per-action", "lr": 1e-3}),
    ]
    assert parse_seeds(["0-2", "5", "7,8"]) == [0, 1, 2, 5, 7, 8]
    assert parse_set(["steps=2e3", "hidden_dims=8,8", "lagrangian=false", "q_agg=min"]) == {
        "steps": 2000,
        "hidden_dims": (8, 8),
        "lagrangian": False,
        "q_agg": "min",
    }
    with pytest.raises(FidecError, match="unknown config field"):
        parse_set(["nope=1"])
    with pytest.raises(FidecError, match="may not change seed"):
        parse_set(["seed=3"])


def test_packaged_suites(tmp_path):
    assert {"smoke", "cpu", "paper"} <= set(packaged_suites())
    paper = load_suite("paper")
    assert len(paper.tasks) == 50 and paper.agents == ["fd", "deflow", "fql"]
    jobs = expand(paper, tmp_path)
    assert len(jobs) == 150 and all(
        j.overrides["preset"] == "paper" and j.overrides["steps"] == 1_000_000 for j in jobs
    )
    assert len({j.run_dir for j in jobs}) == 150
    cpu = load_suite("cpu")
    assert set(cpu.agents) == {"fd", "deflow", "fql", "bc"} and len(cpu.seeds) == 3
    assert all(j.overrides["preset"] == "cpu" for j in expand(cpu, tmp_path))
    per_action = expand(cpu, tmp_path, variants_filter=["*per-action*"])  # a sweep split into parts by variant
    assert per_action and all(j.overrides["fisher_locality"] == "per-action" for j in per_action)
    smoke = expand(load_suite("smoke"), tmp_path)
    assert [j.name for j in smoke][0] == f"fd/{TINY_ENV}/base/seeds0-1"
    assert smoke[0].overrides["dataset_dir"] == str((tmp_path / "data").resolve())


def test_suite_grid_yaml_and_errors(tmp_path):
    toml = write_suite(
        tmp_path / "s.toml",
        ["fd", "fql"],
        [0, 1, 2],
        top="seeds_per_process = 2",
        extra="""
        [agent_config.fql]
        fql_alpha = 30.0
        [agent_grid.fd]
        fisher_locality = ["per-state", "per-action"]
        """,
    )
    jobs = expand(load_suite(str(toml)), tmp_path / "out", seeds=[0, 1, 2])
    names = [j.name for j in jobs]
    assert f"fd/{TINY_ENV}/fisher_locality=per-action/seeds0-1" in names
    assert f"fql/{TINY_ENV}/base/seed2" in names and len(jobs) == 6
    assert all(j.overrides["fql_alpha"] == 30.0 for j in jobs if j.agent == "fql")
    yaml = tmp_path / "s.yaml"
    yaml.write_text(
        f"agents: [bc]\ntasks: ['{TINY_ENV}']\ndatasets: {{{TINY_DATASET}: 2}}\nconfig: {{preset: tiny, steps: 20}}\n"
    )
    (job,) = expand(load_suite(str(yaml)), tmp_path / "out")
    assert job.overrides["steps"] == 20 and job.name == f"bc/{TINY_ENV}/base/seed0"

    bad = tmp_path / "bad.toml"
    for body, msg in (
        ("agents=['fd']\ntasks=['x']\ntypo=1", "unknown key"),
        (f"agents=['fd']\ntasks=['{TINY_ENV}']", "must name every dataset"),
        (f"agents=['zz']\ntasks=['{TINY_ENV}']", "unknown agent"),
        (f"agents=['fd']\ntasks=['{TINY_ENV}']\n[datasets]\n'{TINY_DATASET}'=2\n[config]\nseed=3", "may not set seed"),
        (f"agents=['fd']\ntasks=['{TINY_ENV}']\n[datasets]\n'{TINY_DATASET}'=2\n[config]\nstepz=3", "stepz"),
    ):
        bad.write_text(body)
        with pytest.raises(FidecError, match=msg):
            expand(load_suite(str(bad)), tmp_path)
    with pytest.raises(FidecError, match="unknown suite"):
        load_suite("nosuchsuite")


def test_missing_datasets_are_named_with_the_command(tmp_path):
    suite = load_suite(str(write_suite(tmp_path / "s.toml", ["bc"], [0])))
    jobs = expand(suite, tmp_path / "out", dataset_dir=str(tmp_path / "empty"))
    with pytest.raises(FidecError, match=f"fidec data generate {TINY_DATASET} --episodes 2 --dataset-dir"):
        ensure_datasets(suite, jobs, generate=False, workers=1)
    humanoid = tmp_path / "humanoid.toml"
    humanoid.write_text(
        "agents=['fd']\ntasks=['humanoidmaze-medium-navigate-singletask-task1-v0']\n"
        "[datasets]\n'humanoidmaze-medium-navigate-v0'=1000\n"
    )
    suite = load_suite(str(humanoid))
    with pytest.raises(FidecError, match="cannot be generated here.*fidec data download humanoidmaze-medium-navigate"):
        ensure_datasets(suite, expand(suite, tmp_path / "o", dataset_dir=str(tmp_path / "empty")), True, 1)
    ant = tmp_path / "ant.toml"  # generatable once its expert is trained: the error says how
    ant.write_text(
        "agents=['fd']\ntasks=['antmaze-large-navigate-singletask-task1-v0']\n"
        "[datasets]\n'antmaze-large-navigate-v0'=1000\n"
    )
    suite = load_suite(str(ant))
    with pytest.raises(FidecError, match="fidec data expert ant"):
        ensure_datasets(suite, expand(suite, tmp_path / "o", dataset_dir=str(tmp_path / "empty")), True, 1)


# ---------------------------------------------------------------------------------------------- end to end
def test_smoke_suite_local_end_to_end_with_report(tiny_dataset_dir, tmp_path, child_jax_cache, capsys):
    out = tmp_path / "smoke"
    argv = ["sweep", "smoke", "--out", str(out), "--workers", "2", "--dataset-dir", str(tiny_dataset_dir)]
    assert main(argv) == 0
    status = json.loads((out / "sweep_status.json").read_text())
    assert status["counts"] == {"done": 4, "failed": 0, "interrupted": 0, "running": 0, "pending": 0}
    assert {r["action"] for r in status["runs"]} == {"started"}
    for r in status["runs"]:
        run = out / r["name"]
        summary = json.loads((run / "summary.json").read_text())
        assert summary["final_step"] == 40 and set(summary["per_seed"]) == {"0", "1"}  # two seeds, one process
        assert json.loads((run / "sweep.json").read_text())["tag"] == "base"
    assert (out / "suite.toml").exists()

    capsys.readouterr()
    assert main(argv) == 0  # nothing left to do
    assert "4 done, 0 interrupted, 0 failed" in capsys.readouterr().out

    assert main(["report", str(out), "--reps", "200", "--poi-reps", "100"]) == 0
    text = (out / "report" / "report.md").read_text()
    for section in (
        "## Per-task results",
        "## Per-family aggregates",
        "## Aggregate metrics: IQM and mean",
        "| P(fd > deflow) |",
        "| P(fd > fql) |",
        "| P(fd > bc) |",
        "## Learning curves",
        "## Training diagnostics",
        "## Published numbers beside ours",
        "**What differs from the published setup:**",
        "generated locally by fidec",
    ):
        assert section in text, section
    rep = json.loads((out / "report" / "report.json").read_text())
    assert rep["methods"] == ["fd", "deflow", "fql", "bc"] and len(rep["runs"]) == 8
    fd_diag = rep["diagnostics"]["cube-single-play-singletask-task1-v0"]["fd"]
    assert {"alpha", "divergence", "divergence_fisher", "target_divergence"} <= set(fd_diag)


def test_ray_backend_runs_two_tiny_runs(tiny_dataset_dir, tmp_path, child_jax_cache):
    ray = pytest.importorskip("ray")
    suite = write_suite(tmp_path / "s.toml", ["fd", "bc"], [0])
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 2**20, log_to_driver=False)
    try:
        res = run_sweep(str(suite), tmp_path / "out", "ray", dataset_dir=str(tiny_dataset_dir), log=lambda m: None)
        assert ray.is_initialized()  # the sweep leaves a Ray instance it did not start alone
    finally:
        ray.shutdown()
    assert res.ok and res.counts() == {"done": 2, "failed": 0, "interrupted": 0, "running": 0, "pending": 0}
    assert {r["action"] for r in res.results.values()} == {"started"}
    assert all(r["pid"] != os.getpid() for r in res.results.values())  # ran in Ray workers
    for j in res.jobs:
        assert json.loads((tmp_path / "out" / j.name / "summary.json").read_text())["final_step"] == 40


def test_resuming_a_half_finished_sweep_runs_only_what_is_missing(tiny_dataset_dir, tmp_path, child_jax_cache, capsys):
    from fidec.config import resolve
    from fidec.io import write_json
    from fidec.runs import MetricsLog

    suite = write_suite(tmp_path / "s.toml", ["bc"], [0, 1, 2, 3])
    out = tmp_path / "out"
    jobs = expand(load_suite(str(suite)), out, dataset_dir=str(tiny_dataset_dir))
    done, half, pending, broken = jobs
    # done: finished in full.
    assert run_job({**done.to_dict(), "suite": "t"})["status"] == DONE
    done_mtime = os.stat(os.path.join(done.run_dir, "summary.json")).st_mtime_ns
    # half: a run killed after its checkpoint at step 20 of 40 (no summary).
    assert run_job({**half.to_dict(), "overrides": {**half.overrides, "steps": 20}})["status"] == DONE
    for f in ("summary.json", "learning_curve.png"):
        os.remove(os.path.join(half.run_dir, f))
    before = MetricsLog(half.run_dir).records("train")
    assert [r["step"] for r in before] == [10, 20]
    # broken: a started run whose checkpoint cannot be read: it fails, the others go on.
    os.makedirs(broken.run_dir)
    write_json(os.path.join(broken.run_dir, "config.json"), {"config": resolve(broken.overrides).to_dict()})
    with open(os.path.join(broken.run_dir, "checkpoint.msgpack"), "wb") as f:
        f.write(b"not a checkpoint")
    assert [job_status(j)[0] for j in jobs] == [DONE, INTERRUPTED, PENDING, INTERRUPTED]

    res = run_sweep(str(suite), out, workers=2, dataset_dir=str(tiny_dataset_dir), log=lambda m: None)
    assert set(res.results) == {half.name, pending.name, broken.name}  # the done run was not touched
    assert os.stat(os.path.join(done.run_dir, "summary.json")).st_mtime_ns == done_mtime
    r = res.results
    assert r[half.name]["action"] == "resumed" and r[half.name]["from_step"] == 20
    assert r[pending.name]["action"] == "started" and r[pending.name]["from_step"] == 0
    assert r[broken.name]["status"] == FAILED and "cannot read checkpoint" in r[broken.name]["error"]
    after = MetricsLog(half.run_dir).records("train")
    assert [x["step"] for x in after] == [10, 20, 30, 40] and after[:2] == before  # the first half was not redone
    error = open(os.path.join(broken.run_dir, "error.txt")).read()
    assert "cannot read checkpoint" in error and "Traceback" in error
    status = json.loads((out / "sweep_status.json").read_text())
    assert status["counts"] == {"done": 3, "failed": 1, "interrupted": 0, "running": 0, "pending": 0}
    assert next(x for x in status["runs"] if x["name"] == broken.name)["error"].startswith("FidecError")

    capsys.readouterr()
    rc = main(["sweep", str(suite), "--out", str(out), "--dataset-dir", str(tiny_dataset_dir), "--no-retry-failed"])
    printed = capsys.readouterr().out
    assert rc == 1 and "3 done, 0 interrupted, 1 failed (not retried)" in printed and "error.txt" in printed
    assert [job_status(j)[0] for j in jobs] == [DONE, DONE, DONE, FAILED]


def test_a_backwards_seed_range_is_refused_not_ignored():
    with pytest.raises(FidecError, match=r"--seeds: the range '3-1' is empty; put the lower seed first: 1-3"):
        parse_seeds(["3-1"])


def test_a_suite_naming_a_seed_twice_is_refused(tmp_path):
    with pytest.raises(FidecError, match=r"'seeds' must be a non-empty list of distinct .*\[0, 0\]"):
        load_suite(str(write_suite(tmp_path / "s.toml", ["bc"], [0, 0])))
