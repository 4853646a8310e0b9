"""Tiny runs on a locally made Minari dataset (fd, deflow, fql, bc, iql) and on an .npz with a Gymnasium env id."""

import json

import numpy as np
import pytest

from fidec.cli import main
from fidec.runs import MetricsLog

from . import minari_data as md


@pytest.mark.parametrize("agent", ["fd", "deflow", "fql", "bc", "iql"])
def test_minari_dataset_trains_and_evaluates(agent, minari_root, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "--agent", agent, "--env", md.POINTMAZE, "--preset", "tiny", "--run-dir", str(run)]
    assert main([*args, "--no-progress"]) == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["config"]["env"] == f"minari:{md.POINTMAZE}"
    assert cfg["dataset"]["source"] == "minari" and cfg["dataset"]["eval_env"] == "PointMaze_Open-v3"
    assert cfg["dataset"]["ref_scores"] == list(md.REF_SCORES)
    evals = MetricsLog(run).records("eval")
    assert [r["step"] for r in evals] == [20, 40]
    lo, hi = md.REF_SCORES
    for r in evals:
        # evaluated in the dataset's recorded environment (its 60-step limit), scored with its reference scores
        assert r["episode_length"] <= md.POINTMAZE_STEPS
        assert r["normalized_score"] == pytest.approx(100 * (r["return"] - lo) / (hi - lo))
    summary = json.loads((run / "summary.json").read_text())
    assert summary["per_seed"]["0"]["final_normalized_score"] == pytest.approx(evals[-1]["normalized_score"])
    capsys.readouterr()
    assert main(["evaluate", str(run), "--episodes", "1"]) == 0
    out = capsys.readouterr().out
    assert "over 1 episodes" in out and "normalised score" in out


@pytest.mark.parametrize("agent", ["fd", "bc", "rebrac"])
def test_npz_with_env_id_trains_and_acts_in_the_env_box(agent, tmp_path, capsys):
    rows = md.pendulum_rows(episodes=2)
    path = tmp_path / "pendulum.npz"
    np.savez(path, **rows)
    run = tmp_path / "run"
    args = ["train", "--agent", agent, "--dataset", str(path), "--env-id", "Pendulum-v1", "--preset", "tiny"]
    assert main([*args, "--run-dir", str(run), "--no-progress"]) == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["config"]["env"] == f"npz:{path}" and cfg["config"]["env_id"] == "Pendulum-v1"
    assert cfg["dataset"]["transitions"] == len(rows["rewards"]) - 2  # the two timeout rows have no next state
    assert cfg["dataset"]["actions"]["low"] == [-2.0]
    evals = MetricsLog(run).records("eval")
    # Pendulum's episodes last its 200-step limit; each step's reward is in [-16.3, 0]
    assert all(r["episode_length"] == 200 and -16.3 * 200 <= r["return"] <= 0 for r in evals)
    assert "normalized_score" not in evals[0]  # no reference scores for your own data

    from fidec.train import Trainer, seed_slice

    trainer = Trainer.resume(run, progress=False, read_only=True)
    env = trainer.env
    obs, _ = env.reset(seed=0)
    import jax

    a = np.asarray(
        trainer.agent.act(seed_slice(trainer.states.params, 0), obs.astype(np.float32), jax.random.PRNGKey(0))
    )
    assert np.all(np.abs(a) <= 1.0)
    torque = env.action(a)  # what Pendulum receives: the policy's [-1, 1] mapped onto [-2, 2]
    np.testing.assert_allclose(torque, 2.0 * a, atol=1e-5)


def test_resume_refuses_an_npz_that_changed(tmp_path):
    from fidec.config import resolve
    from fidec.errors import FidecError
    from fidec.train import Trainer

    path = tmp_path / "p.npz"
    rows = md.pendulum_rows(episodes=1)
    np.savez(path, **rows)
    run = tmp_path / "run"
    Trainer.create(resolve({"env": f"npz:{path}", "env_id": "Pendulum-v1", "preset": "tiny"}), run, progress=False)
    rows["rewards"][3] += 1.0
    np.savez(path, **rows)
    with pytest.raises(FidecError, match="changed since .* began"):
        Trainer.resume(run, progress=False)
