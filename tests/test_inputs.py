"""A run's inputs (docs/reliability.md, 'Input fingerprints'): data that changed under a run is refused on resume
in one line, accepted with --accept-changed-data and recorded; run folders written without a fingerprint resume.

The pixel frame-shape checks are in tests/test_pixels.py (they share its rendered dataset)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from fidec.cli import main
from fidec.config import resolve
from fidec.errors import FidecError
from fidec.train import Trainer

from . import minari_data as md
from .conftest import TINY_DATASET, TINY_ENV

FLAG = "--accept-changed-data"


def one_line_error(argv, capsys, needle: str) -> str:
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert rc != 0 and needle in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


def config_of(run) -> dict:
    return json.loads((run / "config.json").read_text())


def make_run(config, run):
    Trainer.create(config, run, progress=False).close()
    return run


def test_regenerated_ogbench_data_is_refused_then_accepted_and_recorded(tiny_dataset_dir, tmp_path, capsys):
    from fidec.data.generate import generate_dataset

    d = shutil.copytree(tiny_dataset_dir, tmp_path / "data")  # 2 episodes, OGBench's oracle
    run = make_run(resolve({"env": TINY_ENV, "preset": "tiny", "agent": "bc", "dataset_dir": str(d)}), tmp_path / "r")
    began = config_of(run)
    size = (d / f"{TINY_DATASET}.npz").stat().st_size
    # the dataset made again under the run, with another episode count
    generate_dataset(TINY_DATASET, episodes=1, workers=1, dataset_dir=d, progress=False, episode_length=20, force=True)
    err = one_line_error(["train", "--resume", run, "--no-progress"], capsys, "changed since the run began")
    assert f"{TINY_DATASET}.npz differs" in err and "train episodes 2 -> 1" in err and f"--resume {run} {FLAG}" in err
    assert config_of(run) == began  # refused before any work: the run's record is untouched
    assert began["data_fingerprint"]["episodes"] == {"train": 2, "val": 1}
    assert began["data_fingerprint"]["files"]["train"]["size"] == size

    Trainer.resume(run, progress=False, accept_changed_data=True).close()
    cfg = config_of(run)
    (change,) = cfg["accepted_data_changes"]
    assert change["old"]["files"]["train"]["sha256"] == began["data_fingerprint"]["files"]["train"]["sha256"]
    assert change["new"]["files"]["train"]["sha256"] != change["old"]["files"]["train"]["sha256"]
    assert change["old_dataset"] == began["dataset"] and change["from_step"] == 0
    assert cfg["data_fingerprint"]["transitions"]["train"] == 19 == cfg["dataset"]["transitions"]


def _pendulum_npz(path, rewards_delta: float = 0.0):
    rows = md.pendulum_rows(episodes=1)
    rows["rewards"][3] += rewards_delta
    np.savez(path, **rows)


def test_changed_npz_is_refused_and_accepted_with_the_flag(tmp_path, capsys):
    path = tmp_path / "p.npz"
    _pendulum_npz(path)
    run = make_run(resolve({"env": f"npz:{path}", "env_id": "Pendulum-v1", "preset": "tiny"}), tmp_path / "r")
    _pendulum_npz(path, rewards_delta=1.0)  # same size, one value differs
    err = one_line_error(["train", "--resume", run], capsys, "p.npz differs (sha256")
    assert FLAG in err
    Trainer.resume(run, progress=False, accept_changed_data=True).close()
    (change,) = config_of(run)["accepted_data_changes"]
    assert change["changes"][0].startswith("p.npz differs") and change["changes"][0] in err
    Trainer.resume(run, progress=False).close()  # the accepted data is the run's data now: no flag needed
    assert len(config_of(run)["accepted_data_changes"]) == 1


def test_new_run_refuses_the_accept_flag(tmp_path, capsys):
    path = tmp_path / "p.npz"
    one_line_error(["train", "--dataset", path, "--env-id", "Pendulum-v1", FLAG], capsys, "applies to --resume")


def test_a_run_folder_without_fingerprint_resumes_and_records_one(tmp_path, capsys):
    path = tmp_path / "p.npz"
    _pendulum_npz(path)
    run = tmp_path / "r"
    t = Trainer.create(resolve({"env": f"npz:{path}", "env_id": "Pendulum-v1", "preset": "tiny"}), run, progress=False)
    t.step = 7
    t.save_checkpoint([], {})  # a checkpoint at step 7
    t.close()
    cfg = config_of(run)
    old = {k: v for k, v in cfg.items() if k not in ("data_fingerprint", "observation")}
    (run / "config.json").write_text(json.dumps(old))  # as fidec wrote it before fingerprints
    Trainer.resume(run, progress=False).close()
    cfg = config_of(run)
    assert cfg["data_fingerprint"]["from_step"] == 7 and cfg["observation"] == {"kind": "state", "shape": [3]}
    assert cfg["data_fingerprint"]["files"]["file"]["sha256"] == old["dataset"]["sha256"]

    (run / "config.json").write_text(json.dumps(old))
    _pendulum_npz(path, rewards_delta=1.0)  # such a folder still knows its .npz's sha256
    one_line_error(["train", "--resume", run], capsys, "p.npz differs")


def test_changed_minari_dataset_is_refused(tmp_path, monkeypatch, capsys):
    root = tmp_path / "minari"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    md.pendulum(md.PENDULUM, episodes=2)
    run = make_run(resolve({"env": f"minari:{md.PENDULUM}", "preset": "tiny"}), tmp_path / "r")
    shutil.rmtree(root / md.PENDULUM)
    md.pendulum(md.PENDULUM, episodes=3)  # recreated with another episode
    err = one_line_error(["train", "--resume", run], capsys, "changed since the run began")
    assert "main_data.hdf5 differs" in err and "train episodes 2 -> 3" in err
    with pytest.raises(FidecError, match="changed since"):
        Trainer.resume(run, progress=False)
    Trainer.resume(run, progress=False, accept_changed_data=True).close()
    (change,) = config_of(run)["accepted_data_changes"]
    assert change["old"]["episodes"] == {"train": 2} and "main_data.hdf5" in change["old"]["files"]
