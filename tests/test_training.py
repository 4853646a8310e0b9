"""The training loop: end to end on an oracle dataset, exact resume, non-finite stop, checkpoints, CLI errors."""

import json

import jax
import numpy as np
import pytest

from fidec import checkpoint
from fidec.cli import main
from fidec.config import resolve
from fidec.errors import NonFiniteLossError
from fidec.runs import MetricsLog
from fidec.train import Trainer

from .conftest import TINY_ENV


def tiny(d, **kw):
    return resolve({"env": TINY_ENV, "preset": "tiny", "dataset_dir": str(d), **kw})


def leaves(run_dir):
    payload = checkpoint.read_payload(run_dir)
    return jax.tree_util.tree_leaves(payload["state"]), payload["meta"]


def comparable(records):
    drop = {"wall_time", "updates_per_s", "eval_time_s", "time_in_chunks_frac"}
    return [{k: v for k, v in r.items() if k not in drop} for r in records]


def test_train_and_evaluate_end_to_end(tiny_dataset_dir, tmp_path, capsys):
    run = tmp_path / "run"
    rc = main(
        [
            "train",
            "--agent",
            "fd",
            "--env",
            TINY_ENV,
            "--preset",
            "tiny",
            "--dataset-dir",
            str(tiny_dataset_dir),
            "--run-dir",
            str(run),
            "--no-progress",
        ]
    )
    assert rc == 0
    for f in (
        "config.json",
        "metrics.jsonl",
        "train.csv",
        "eval.csv",
        "checkpoint.msgpack",
        "summary.json",
        "learning_curve.png",
    ):
        assert (run / f).exists(), f
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["success_timing"] == "pre" and cfg["versions"]["ogbench"]
    log = MetricsLog(run)
    train, evals = log.records("train"), log.records("eval")
    assert [r["step"] for r in train] == [10, 20, 30, 40]
    assert [r["step"] for r in evals] == [20, 40]
    for term in (
        "critic_loss",
        "actor_loss",
        "flow_loss",
        "divergence",
        "alpha",
        "fisher_trace",
        "fisher_cond_mean",
        "refine_norm",
        "q_policy",
        "policy_mse_to_data",
        "wall_time",
    ):
        assert np.isfinite(train[-1][term]), term
    summary = json.loads((run / "summary.json").read_text())
    assert summary["per_seed"]["0"]["score"] == pytest.approx(np.mean([r["success"] for r in evals][-3:]))
    capsys.readouterr()
    assert main(["evaluate", str(run), "--episodes", "2", "--json"]) == 0
    out = capsys.readouterr().out
    assert "success" in out and "over 2 episodes" in out


@pytest.mark.parametrize(
    "agent, seeds", [("fd", 2), ("fql", 1), ("rebrac", 2)]
)  # vmapped seeds and the single-seed path
def test_resume_is_bit_identical(tiny_dataset_dir, tmp_path, agent, seeds):
    a, b = tmp_path / "a", tmp_path / "b"
    Trainer.create(tiny(tiny_dataset_dir, agent=agent, steps=40, num_seeds=seeds), a, progress=False).run()
    Trainer.create(tiny(tiny_dataset_dir, agent=agent, steps=20, num_seeds=seeds), b, progress=False).run()
    Trainer.resume(b, steps=40, progress=False).run()
    la, ma = leaves(a)
    lb, mb = leaves(b)
    assert ma["step"] == mb["step"] == 40
    assert len(la) == len(lb)
    for x, y in zip(la, lb, strict=True):
        np.testing.assert_array_equal(x, y)
    assert comparable(MetricsLog(a).records()) == comparable(MetricsLog(b).records())


def test_eval_from_skips_early_evaluations_and_keeps_the_last(tiny_dataset_dir, tmp_path):
    run = tmp_path / "run"
    cfg = tiny(tiny_dataset_dir, steps=50, eval_every=10, checkpoint_every=10, eval_from=30)
    Trainer.create(cfg, run, progress=False).run()
    assert sorted({r["step"] for r in MetricsLog(run).records("eval")}) == [30, 40, 50]
    # eval_from beyond the end still evaluates the final step; the score reads it
    late = tmp_path / "late"
    Trainer.create(tiny(tiny_dataset_dir, steps=30, eval_every=10, eval_from=1000), late, progress=False).run()
    assert sorted({r["step"] for r in MetricsLog(late).records("eval")}) == [30]
    assert json.loads((late / "summary.json").read_text())["per_seed"]["0"]["score"] is not None


def test_resume_drops_records_written_after_the_checkpoint(tiny_dataset_dir, tmp_path):
    run = tmp_path / "run"
    Trainer.create(tiny(tiny_dataset_dir, steps=20), run, progress=False).run()
    # a crash after logging step 30 but before its checkpoint leaves an orphan record behind
    MetricsLog(run).append([{"kind": "train", "step": 30, "seed": 0, "critic_loss": 123.0}])
    Trainer.resume(run, steps=40, progress=False).run()
    recs = MetricsLog(run).records()
    keys = [(r["kind"], r["step"], r["seed"]) for r in recs]
    assert len(keys) == len(set(keys))
    assert [r["step"] for r in recs if r["kind"] == "train"] == [10, 20, 30, 40]
    assert all(r["critic_loss"] != 123.0 for r in recs if r["kind"] == "train")


def test_nonfinite_loss_stops_and_keeps_last_checkpoint(tiny_dataset_dir, tmp_path):
    run = tmp_path / "run"
    Trainer.create(tiny(tiny_dataset_dir, steps=20), run, progress=False).run()
    before = (run / "checkpoint.msgpack").read_bytes()
    t = Trainer.resume(run, steps=40, progress=False)
    t.data = dict(t.data, rewards=t.data["rewards"] * np.nan)
    with pytest.raises(NonFiniteLossError, match=r"step 21 .*checkpoint \(step 20\)"):
        t.run()
    assert (run / "checkpoint.msgpack").read_bytes() == before


def test_checkpoint_round_trip(tiny_dataset_dir, tmp_path):
    t = Trainer.create(tiny(tiny_dataset_dir, steps=10, agent="deflow"), tmp_path / "r", progress=False)
    t.run()
    fresh = Trainer.resume(tmp_path / "r", progress=False)
    for x, y in zip(jax.tree_util.tree_leaves(t.states), jax.tree_util.tree_leaves(fresh.states), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert fresh.step == 10


def test_existing_run_folder_is_not_overwritten(tiny_dataset_dir, tmp_path, capsys):
    run = tmp_path / "run"
    Trainer.create(tiny(tiny_dataset_dir, steps=10), run, progress=False).run()
    before = (run / "metrics.jsonl").read_bytes()
    rc = main(
        [
            "train",
            "--env",
            TINY_ENV,
            "--preset",
            "tiny",
            "--dataset-dir",
            str(tiny_dataset_dir),
            "--run-dir",
            str(run),
            "--no-progress",
        ]
    )
    assert rc == 1 and "--resume" in capsys.readouterr().err
    assert (run / "metrics.jsonl").read_bytes() == before


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["train", "--env", "no-such-env-singletask-v0"], "unknown task"),
        (["train", "--env", "cube-single-play-v0"], "singletask"),
        (["train", "--agent", "sac"], "invalid choice"),
        (["train", "--no-such-flag", "1"], "unrecognized arguments"),
        (["train", "--steps", "ten"], "invalid int value"),
        (["train", "--env", TINY_ENV, "--dataset-dir", "/nonexistent-dir"], "fidec data generate cube-single-play-v0"),
        (["train", "--chunk-size", "7", "--preset", "tiny"], "multiple of chunk_size"),
    ],
)
def test_bad_input_is_one_line_and_nonzero(argv, needle, capsys):
    try:
        rc = main(argv)
    except SystemExit as e:
        rc = e.code
    err = capsys.readouterr().err
    assert rc != 0
    assert needle in err
    assert len(err.strip().splitlines()) == 1, err


def test_paper_preset_applies_family_values(capsys):
    def cfg(env, agent="fd"):
        main(["train", "--agent", agent, "--env", env, "--print-config"])
        return json.loads(capsys.readouterr().out)

    c = cfg("cube-single-play-singletask-task2-v0")
    assert (c["target_divergence"], c["fql_alpha"], c["discount"], c["q_agg"]) == (0.001, 300.0, 0.99, "mean")
    assert (c["batch_size"], c["hidden_dims"], c["fisher_samples"], c["flow_steps"]) == (256, [512] * 4, 8, 10)
    assert (c["fisher_t_max"], c["fisher_t_width"], c["score_estimator"]) == (0.9, 0.05, "velocity")
    c = cfg("puzzle-4x4-play-singletask-task1-v0")
    assert (c["target_divergence"], c["fql_alpha"]) == (0.005, 1000.0)
    c = cfg("antmaze-giant-navigate-singletask-task3-v0")
    assert (c["discount"], c["q_agg"], c["target_divergence"]) == (0.995, "min", 0.01)
    c = cfg("humanoidmaze-medium-navigate-singletask-v0", agent="deflow")
    assert (c["discount"], c["target_divergence"], c["fql_alpha"], c["metric"]) == (0.995, 0.001, 30.0, "isotropic")
    main(["train", "--env", "cube-single-play-singletask-task2-v0", "--print-config", "--discount", "0.9"])
    assert json.loads(capsys.readouterr().out)["discount"] == 0.9


def test_python_api_train_save_load_act(tiny_dataset_dir, tmp_path):
    import fidec.api as api

    cfg = api.make_config(agent="deflow", env=TINY_ENV, preset="tiny", dataset_dir=str(tiny_dataset_dir), steps=10)
    policy = api.train(cfg, run_dir=tmp_path / "run", progress=False)
    obs = np.zeros(policy.agent.obs_dim, np.float32)
    a = policy.act(obs)
    assert a.shape == (policy.agent.action_dim,) and np.all(np.abs(a) <= 1)
    path = policy.save(tmp_path / "p.policy")
    loaded = api.load(path)
    from_run = api.load(tmp_path / "run")
    for p in (loaded, from_run):
        for x, y in zip(jax.tree_util.tree_leaves(policy.params), jax.tree_util.tree_leaves(p.params), strict=True):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    # same key stream -> same action
    assert np.array_equal(api.load(path).act(obs), api.load(path).act(obs))


def test_evaluate_video_without_rendering_backend_says_how(tiny_dataset_dir, tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    Trainer.create(tiny(tiny_dataset_dir, steps=10, eval_episodes=0), run, progress=False).run()
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    assert main(["evaluate", str(run), "--episodes", "1", "--video"]) == 1
    err = capsys.readouterr().err
    assert "MUJOCO_GL=egl" in err and len(err.strip().splitlines()) == 1
