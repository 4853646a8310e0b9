"""Offline dataset generation: OGBench's loader reads what we write, deterministically and atomically."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from fidec.data.catalog import CATALOG, dataset_name_for_env
from fidec.data.generate import STAGING, generate, generate_dataset, sidecar_path
from fidec.data.npzio import NpzWriter
from fidec.errors import DatasetError, FidecError

CUBE = "cube-single-play-v0"
PUZZLE = "puzzle-3x3-play-v0"
MAZE = "pointmaze-medium-navigate-v0"
CUBE_KW = dict(episodes=2, seed=0, workers=2, chunk_episodes=1, progress=False)


@pytest.fixture(scope="module")
def data_cube_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("cube")
    generate_dataset(CUBE, dataset_dir=d, **CUBE_KW)
    return d


def _load_singletask(env_name: str, d: Path):
    import ogbench

    return ogbench.make_env_and_datasets(env_name, dataset_dir=str(d), compact_dataset=False)


def test_cube_loads_with_ogbench_singletask_relabelling(data_cube_dir):
    train_path, val_path = data_cube_dir / f"{CUBE}.npz", data_cube_dir / f"{CUBE}-val.npz"
    with np.load(train_path) as z:  # OGBench's file format: keys, dtypes, per-episode terminal
        assert z.files == ["observations", "actions", "terminals", "qpos", "qvel"]
        assert z["observations"].dtype == np.float32 and z["observations"].shape == (2002, 28)
        assert z["terminals"].dtype == np.bool_ and z["qpos"].shape == (2002, 21)
        assert np.flatnonzero(z["terminals"]).tolist() == [1000, 2001]
        assert np.abs(z["actions"]).max() <= 1.0
    with np.load(val_path) as z:
        assert z["terminals"].shape == (1001,)

    env, train, val = _load_singletask("cube-single-play-singletask-task1-v0", data_cube_dir)
    assert train["observations"].shape == (2000, 28) and val["observations"].shape == (1000, 28)
    assert train["next_observations"].shape == (2000, 28)
    for ds in (train, val):
        assert ds["rewards"].shape == ds["masks"].shape == ds["terminals"].shape
        assert set(np.unique(ds["rewards"])) <= {-1.0, 0.0}
        assert np.array_equal(ds["masks"], (ds["rewards"] != 0).astype(np.float32))
    assert env.observation_space.shape == (28,)

    record = __import__("json").loads(sidecar_path(train_path).read_text())
    assert record["seed"] == 0 and record["episodes"] == {"train": 2, "val": 1}
    assert record["recipe"]["oracle"] == "plan" and record["recipe"]["noise"] == 0.1
    assert {"ogbench", "mujoco", "numpy", "fidec"} <= set(record["versions"])
    assert len(record["sha256"]) == 64 and record["size"] == train_path.stat().st_size


def test_puzzle_has_button_states_and_relabels(tmp_path):
    generate_dataset(PUZZLE, episodes=1, seed=3, workers=1, dataset_dir=tmp_path, progress=False)
    with np.load(tmp_path / f"{PUZZLE}.npz") as z:
        assert z["button_states"].dtype == np.int64 and z["button_states"].shape == (1001, 9)
        assert set(np.unique(z["button_states"])) <= {0, 1}
    _, train, val = _load_singletask("puzzle-3x3-play-singletask-task4-v0", tmp_path)
    assert train["rewards"].shape == (1000,) and val["masks"].shape == (1000,)
    assert train["rewards"].min() >= -9 and train["rewards"].max() <= 0


def test_pointmaze_same_seed_same_bytes_and_loads(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate_dataset(MAZE, episodes=3, seed=7, workers=2, dataset_dir=a, progress=False)
    generate_dataset(MAZE, episodes=3, seed=7, workers=2, dataset_dir=b, progress=False)
    generate_dataset(MAZE, episodes=3, seed=8, workers=2, dataset_dir=c, progress=False)
    for suffix in (".npz", "-val.npz"):
        assert (a / f"{MAZE}{suffix}").read_bytes() == (b / f"{MAZE}{suffix}").read_bytes()
        assert (a / f"{MAZE}{suffix}").read_bytes() != (c / f"{MAZE}{suffix}").read_bytes()
    _, train, _ = _load_singletask("pointmaze-medium-navigate-singletask-task1-v0", a)
    assert train["observations"].shape == (3000, 2) and train["rewards"].shape == (3000,)
    assert not any(p.name == STAGING for p in a.iterdir())  # staging cleaned up


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def test_killed_worker_leaves_no_final_file_and_rerun_completes(tmp_path, data_cube_dir):
    stage = tmp_path / STAGING / CUBE
    cmd = [sys.executable, "-m", "fidec.cli", "data", "generate", CUBE, "--dataset-dir", str(tmp_path)]
    cmd += ["--episodes", "2", "--seed", "0", "--workers", "2", "--chunk-episodes", "1", "--no-progress"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.time() + 90
        while not list(stage.glob("train-*.npz")) and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert list(stage.glob("train-*.npz")), "no chunk finished"
        workers = [p for p in _children(proc.pid) if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]
        assert workers
        for p in workers:
            os.kill(p, signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 1
    assert err.count("\n") == 1 and "died" in err and "run the same command again" in err
    for name in (f"{CUBE}.npz", f"{CUBE}-val.npz"):
        assert not (tmp_path / name).exists() and not sidecar_path(tmp_path / name).exists()
    assert list(stage.glob("train-*.npz"))  # finished chunks kept

    report = generate(CUBE, dataset_dir=tmp_path, **CUBE_KW)
    assert report.resumed_chunks >= 1
    for name in (f"{CUBE}.npz", f"{CUBE}-val.npz"):  # the resumed run equals an uninterrupted one
        assert (tmp_path / name).read_bytes() == (data_cube_dir / name).read_bytes()
    assert not (tmp_path / STAGING).exists()


def test_existing_files_need_force_and_rerun_is_a_no_op(tmp_path):
    generate_dataset(MAZE, episodes=1, seed=0, workers=1, dataset_dir=tmp_path, progress=False)
    assert set(generate(MAZE, episodes=1, dataset_dir=tmp_path, workers=1, progress=False).skipped) == {
        "train",
        "val",
    }
    with pytest.raises(DatasetError, match="already exists .*--force"):
        generate(MAZE, episodes=2, dataset_dir=tmp_path, workers=1, progress=False)
    generate(MAZE, episodes=2, dataset_dir=tmp_path, workers=1, progress=False, force=True)
    with np.load(tmp_path / f"{MAZE}.npz") as z:
        assert z["terminals"].sum() == 2


def test_download_without_network_fails_fast_with_suggestion(tmp_path, monkeypatch, capsys):
    from fidec import cli
    from fidec.data import download

    monkeypatch.setattr(download, "dataset_host", lambda: ("ogbench-datasets.invalid", 443))
    t0 = time.time()
    rc = cli.main(["data", "download", CUBE, "--dataset-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 1 and time.time() - t0 < 10
    assert err.count("\n") == 1 and f"fidec data generate {CUBE}" in err
    assert not list(tmp_path.iterdir())
    rc = cli.main(["data", "download", "humanoidmaze-medium-navigate-v0", "--dataset-dir", str(tmp_path)])
    assert rc == 1 and "cannot be generated offline" in capsys.readouterr().err
    rc = cli.main(["data", "download", "antmaze-large-navigate-v0", "--dataset-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 1 and "fidec data generate antmaze-large-navigate-v0" in err and "fidec data expert ant" in err


def test_user_errors_are_one_line(tmp_path, monkeypatch, capsys):
    from fidec import cli

    assert cli.main(["data", "generate", "humanoidmaze-giant-stitch-v0", "--dataset-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "expert" in err and "fidec data download" in err
    assert cli.main(["data", "generate", "cube-single-bogus-v0", "--dataset-dir", str(tmp_path)]) == 1
    assert "unknown dataset" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        cli.main(["data", "generate", CUBE, "--episodes", "0"])
    assert e.value.code == 2 and capsys.readouterr().err.count("\n") == 1
    monkeypatch.setitem(sys.modules, "ray", None)  # Ray absent, whether or not it is installed
    with pytest.raises(FidecError, match=r"fidec\[ray\]"):
        generate(MAZE, episodes=1, dataset_dir=tmp_path, backend="ray", progress=False)


def test_catalog_recipes_and_names(tmp_path, capsys):
    assert dataset_name_for_env("cube-single-play-singletask-task2-v0") == CUBE
    assert dataset_name_for_env("cube-single-play-singletask-v0") == CUBE
    assert dataset_name_for_env("puzzle-4x4-noisy-singletask-task5-v0") == "puzzle-4x4-noisy-v0"
    assert dataset_name_for_env(CUBE) == CUBE
    c = CATALOG
    assert (c["cube-quadruple-play-v0"].episodes, c["puzzle-4x5-noisy-v0"].episodes) == (5000, 3000)
    assert c["puzzle-4x6-noisy-v0"].recipe["p_random_action"] == 0.2
    assert c["scene-noisy-v0"].recipe == {
        "oracle": "markov",
        "noise": 0.1,
        "min_norm": 0.4,
        "p_random_action": 0.1,
    }
    assert (c["pointmaze-giant-navigate-v0"].episodes, c["pointmaze-giant-navigate-v0"].episode_length) == (
        500,
        2001,
    )
    assert (c["pointmaze-large-stitch-v0"].episodes, c["pointmaze-large-stitch-v0"].episode_length) == (
        5000,
        201,
    )
    for name, spec in c.items():
        locomotion = name.split("-")[0] in ("antmaze", "humanoidmaze", "antsoccer")
        # pixel datasets of the manipulation families are rendered with the same oracles
        rendered = spec.pixels and spec.oracle_family in ("cube", "scene", "puzzle")
        assert spec.generatable == (spec.family in ("cube", "scene", "puzzle", "pointmaze", "antmaze") or rendered), (
            name
        )
        if spec.pixels:
            assert ("frames/s" in spec.note) if rendered else ("not implemented" in spec.reason), name
        if locomotion:
            assert "expert" in (spec.note if spec.generatable else spec.reason)
    from fidec import cli

    assert cli.main(["data", "list", "--dataset-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"{CUBE} " in out and "absent" in out
    line = next(s for s in out.splitlines() if s.startswith("antsoccer-arena-navigate-v0"))
    assert "download-only" in line and "expert" in line


def test_npz_writer_matches_numpy_format():
    arrays = {
        "observations": np.random.default_rng(0).normal(size=(7, 3)).astype(np.float32),
        "terminals": np.array([0, 0, 1, 0, 0, 0, 1], dtype=bool),
        "button_states": np.arange(14, dtype=np.int64).reshape(7, 2),
    }
    outs = []
    for _ in range(2):
        buf = io.BytesIO()
        with NpzWriter(buf) as w:
            obs = arrays["observations"]
            w.write_parts("observations", np.float32, (7, 3), [obs[:4], obs[4:]])  # streamed in parts
            w.write("terminals", arrays["terminals"])
            w.write("button_states", arrays["button_states"])
        outs.append(buf.getvalue())
    assert outs[0] == outs[1]
    z = zipfile.ZipFile(io.BytesIO(outs[0]))
    for info in z.infolist():
        assert info.date_time == (1980, 1, 1, 0, 0, 0) and info.compress_type == zipfile.ZIP_DEFLATED
        ref = io.BytesIO()
        np.save(ref, arrays[info.filename[:-4]])
        assert z.read(info.filename) == ref.getvalue()  # each member is exactly np.save's bytes
    loaded = np.load(io.BytesIO(outs[0]))
    assert all(np.array_equal(loaded[k], v) for k, v in arrays.items())
