"""``fidec data verify`` rejects broken files with a one-line reason, and caches a passed check."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from fidec.data.generate import generate_dataset, sidecar_path
from fidec.data.npzio import NpzWriter
from fidec.data.verify import ensure_verified, stamp_path, verify_dataset
from fidec.errors import DatasetError

MAZE = "pointmaze-medium-navigate-v0"


@pytest.fixture(scope="module")
def data_maze_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("maze")
    generate_dataset(MAZE, episodes=2, seed=1, workers=1, dataset_dir=d, progress=False)
    return d


@pytest.fixture
def data_copy(data_maze_dir, tmp_path):
    """A private copy of the train file and its generation record."""
    src = data_maze_dir / f"{MAZE}.npz"
    dst = tmp_path / src.name
    shutil.copy(src, dst)
    shutil.copy(sidecar_path(src), sidecar_path(dst))
    return dst


def _rewrite(path, change):
    """Rewrite ``path`` with ``change(arrays)`` applied (the generation record is left as it was)."""
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    change(arrays)
    with NpzWriter(path) as w:
        for k, v in arrays.items():
            w.write(k, v)


def _reason(path) -> str:
    with pytest.raises(DatasetError) as e:
        verify_dataset(path)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{path.name} fails verification: ")
    return msg


def test_verify_passes_with_statistics(data_maze_dir, capsys):
    stats = verify_dataset(data_maze_dir / f"{MAZE}.npz")
    assert (stats["episodes"], stats["rows"], stats["transitions"]) == (2, 2002, 2000)
    assert stats["checksum"] == "match" and stats["episode_length"] == 1001
    assert len(stats["action_mean"]) == len(stats["action_std"]) == 2
    assert all(-1 <= m <= 1 for m in stats["action_mean"]) and all(s > 0 for s in stats["action_std"])
    tasks = stats["task_successes"]
    assert list(tasks) == [f"pointmaze-medium-navigate-singletask-task{i}-v0" for i in range(1, 6)]
    assert all(0 <= n <= 2000 for n in tasks.values())

    from fidec import cli

    assert cli.main(["data", "verify", MAZE, "--dataset-dir", str(data_maze_dir)]) == 0
    out = capsys.readouterr().out
    assert f"{MAZE}.npz: OK" in out and f"{MAZE}-val.npz: OK" in out
    assert "transitions with success per singletask task: task1" in out and "action std" in out


def test_rejects_truncated_file(data_copy):
    data = data_copy.read_bytes()
    data_copy.write_bytes(data[: len(data) // 2])
    assert "not a readable .npz (truncated or corrupt)" in _reason(data_copy)
    sidecar_path(data_copy).unlink()  # an official download has no record: same reason
    assert "truncated" in _reason(data_copy)


def test_rejects_nan(data_copy):
    def poison(a):
        a["observations"][5, 1] = np.nan

    _rewrite(data_copy, poison)
    assert "non-finite value (nan) in 'observations' at row 5, column 1" in _reason(data_copy)


def test_rejects_wrong_shape(data_copy):
    def widen(a):
        a["observations"] = np.concatenate([a["observations"], a["observations"][:, :1]], axis=1)

    _rewrite(data_copy, widen)
    assert "'observations' has shape (2002, 3), expected (2002, 2)" in _reason(data_copy)


def test_rejects_bad_checksum(data_copy):
    def nudge(a):  # still a perfectly valid-looking dataset, but not the one that was generated
        a["actions"][0] *= 0.5

    _rewrite(data_copy, nudge)
    assert "checksum mismatch" in _reason(data_copy)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda a: a.__setitem__("terminals", a["terminals"][:-1]), "'terminals' has 2001 rows"),
        (lambda a: a["terminals"].__setitem__(-1, False), "ends inside an episode"),
        (lambda a: a["terminals"].__setitem__(500, True), "episode 0 has 501 steps, expected 1001"),
        (lambda a: a["actions"].__setitem__((3, 0), 1.5), "actions outside [-1, 1]"),
        (lambda a: a.pop("qpos"), "missing array 'qpos'"),
        (
            lambda a: a.__setitem__("terminals", a["terminals"].astype(np.float32)),
            "dtype float32, expected bool",
        ),
    ],
)
def test_rejects_other_damage(data_copy, change, reason):
    _rewrite(data_copy, change)
    assert reason in _reason(data_copy)


def test_missing_file_and_official_file_without_record(data_copy, tmp_path):
    msg = _reason(tmp_path / "cube-single-play-v0.npz")
    assert "does not exist" in msg and "fidec data generate cube-single-play-v0" in msg
    sidecar_path(data_copy).unlink()
    assert verify_dataset(data_copy, task_stats=False)["checksum"] == "skipped (no generation record)"


def test_ensure_verified_checks_once_until_the_file_changes(data_copy, monkeypatch):
    import fidec.data.verify as verify

    stats = ensure_verified(data_copy)
    assert stamp_path(data_copy).exists() and stats["episodes"] == 2
    monkeypatch.setattr(verify, "verify_dataset", lambda *a, **k: pytest.fail("verified twice"))
    assert ensure_verified(data_copy)["transitions"] == 2000  # cached
    monkeypatch.undo()

    def poison(a):
        a["actions"][7, 1] = np.inf

    _rewrite(data_copy, poison)
    with pytest.raises(DatasetError, match="non-finite value"):
        ensure_verified(data_copy)
