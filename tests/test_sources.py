"""Data sources beyond OGBench: Minari datasets and .npz files — conventions, the action rule, validation."""

import numpy as np
import pytest

from fidec.cli import main
from fidec.config import resolve
from fidec.data.sources import canonical_env, load_task
from fidec.data.sources.conventions import ACTION_CLIP_EPS, D4RL_ANTMAZE, NONE, transitions

from . import minari_data as md


def raw_episodes(dataset_id):
    import minari

    return list(minari.load_dataset(dataset_id).iterate_episodes())


# ----------------------------------------------------------------------------------------- D4RL conventions
def test_transitions_masks_from_terminations_only_and_reward_shift():
    ep = lambda T, term, trunc: {  # noqa: E731
        "observations": np.arange((T + 1) * 2, dtype=np.float32).reshape(T + 1, 2),
        "actions": np.zeros((T, 1), np.float32),
        "rewards": np.array([0.0] * (T - 1) + [1.0], np.float32),
        "terminations": np.array([0] * (T - 1) + [term]),
        "truncations": np.array([0] * (T - 1) + [trunc]),
    }
    episodes = [ep(3, 1, 0), ep(2, 0, 1)]  # one reaches the goal (terminates), one is cut by the time limit
    shifted = transitions(episodes, D4RL_ANTMAZE)
    plain = transitions(episodes, NONE)
    np.testing.assert_array_equal(shifted["masks"], [1, 1, 0, 1, 1])  # the truncated episode keeps mask 1
    np.testing.assert_array_equal(shifted["rewards"], [-1, -1, 0, -1, 0])
    np.testing.assert_array_equal(plain["rewards"], [0, 0, 1, 0, 1])
    # next observation = the episode's next one; nothing crosses from episode 1 into episode 2
    np.testing.assert_array_equal(shifted["next_observations"][2], episodes[0]["observations"][3])
    np.testing.assert_array_equal(shifted["observations"][3], episodes[1]["observations"][0])


def test_minari_antmaze_id_gets_the_reward_shift_and_masks_from_terminations(minari_root):
    eps = raw_episodes(md.ANTMAZE_NAMED)
    raw_rewards = np.concatenate([e.rewards for e in eps])
    raw_terms = np.concatenate([e.terminations for e in eps])
    raw_truncs = np.concatenate([e.truncations for e in eps])
    assert raw_terms.any() and raw_truncs.any()  # the fixture has both kinds of episode end
    ant = load_task(f"minari:{md.ANTMAZE_NAMED}")
    point = load_task(f"minari:{md.POINTMAZE}")
    np.testing.assert_array_equal(ant.train["rewards"], raw_rewards - 1.0)
    np.testing.assert_array_equal(point.train["rewards"], raw_rewards)
    np.testing.assert_array_equal(ant.train["masks"], 1.0 - raw_terms)
    assert (ant.train["masks"][raw_truncs] == 1).all()  # timeouts do not stop bootstrapping
    assert ant.info["conventions"] == {"name": "d4rl-antmaze", "reward_shift": -1.0}
    assert point.info["conventions"]["reward_shift"] == 0.0
    assert len(ant.train["observations"]) == sum(len(e.rewards) for e in eps)


def test_dict_observations_are_flattened_as_the_acting_env_flattens_them(minari_root):
    task = load_task(f"minari:{md.POINTMAZE}")
    env = task.make_env()
    obs, _ = env.reset(seed=1)  # episode 1 was collected after reset(seed=1): the same start and goal
    assert obs.shape == (task.obs_dim,) == (8,)
    np.testing.assert_allclose(obs, task.train["observations"][len(raw_episodes(md.POINTMAZE)[0].rewards)], atol=1e-6)
    assert env.spec.max_episode_steps == md.POINTMAZE_STEPS  # Minari's recorded environment, time limit included
    assert task.normalize_return(0.25) == pytest.approx(25.0)


# ----------------------------------------------------------------------------------------- the action rule
def test_pendulum_actions_rescaled_from_the_box_and_mapped_back_when_acting(minari_root):
    raw = np.concatenate([e.actions for e in raw_episodes(md.PENDULUM)]).astype(np.float64)
    assert np.abs(raw).max() > 1.0  # Pendulum's [-2, 2]: outside the agents' range
    task = load_task(f"minari:{md.PENDULUM}")
    np.testing.assert_allclose(
        task.train["actions"], np.clip(raw / 2.0, -1 + ACTION_CLIP_EPS, 1 - ACTION_CLIP_EPS), atol=1e-6
    )
    env = task.make_env()
    assert tuple(env.action_space.low) == (-1.0,) and tuple(env.action_space.high) == (1.0,)
    back = np.array([env.action(a) for a in task.train["actions"][:20]])  # the wrapper's map to the env's box
    np.testing.assert_allclose(back, raw[:20], atol=1e-4)
    assert task.info["actions"]["low"] == [-2.0] and task.info["actions"]["high"] == [2.0]


def test_npz_timeout_rows_dropped_terminal_rows_kept_with_mask_zero(tmp_path):
    rows = md.pendulum_rows(episodes=2)
    rows["terminals"][50] = True  # pretend the first episode terminated at step 50 (its rows 51..199 go on)
    path = tmp_path / "d.npz"
    np.savez(path, **rows)
    task = load_task(canonical_env(str(path)), env_id="Pendulum-v1")
    n = len(rows["rewards"])
    timeouts = rows["timeouts"] & ~rows["terminals"]
    assert timeouts.sum() == 2 and len(task.train["rewards"]) == n - 2
    keep = ~timeouts
    np.testing.assert_array_equal(task.train["masks"], 1.0 - rows["terminals"][keep])
    np.testing.assert_allclose(task.train["next_observations"][0], rows["observations"][1])
    np.testing.assert_allclose(task.train["observations"], rows["observations"][keep], atol=1e-6)
    np.testing.assert_allclose(
        task.train["actions"], np.clip(rows["actions"][keep] / 2.0, -1 + 1e-5, 1 - 1e-5), atol=1e-6
    )


# ------------------------------------------------------------- presets (docs/presets.md, the D4RL rows)
@pytest.mark.parametrize(
    "env, q_agg, fql_alpha",
    [
        ("D4RL/antmaze/large-diverse-v1", "mean", 3.0),
        ("minari:D4RL/antmaze/umaze-v1", "mean", 10.0),
        ("minari:D4RL/pen/human-v2", "min", 10_000.0),
        ("minari:D4RL/pen/expert-v2", "min", 3_000.0),
        ("minari:D4RL/door/cloned-v2", "min", 30_000.0),
    ],
)
def test_d4rl_presets(env, q_agg, fql_alpha):
    cfg = resolve({"env": env})
    assert cfg.env.startswith("minari:D4RL/")
    assert (cfg.steps, cfg.eval_every, cfg.target_divergence, cfg.discount) == (500_000, 500_000, 0.001, 0.99)
    assert (cfg.q_agg, cfg.fql_alpha) == (q_agg, fql_alpha)
    tiny = resolve({"env": env, "preset": "tiny"})
    assert tiny.steps == 40 and (tiny.q_agg, tiny.fql_alpha) == (q_agg, fql_alpha)


def test_npz_name_is_stored_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve({"env": "npz:data.npz"}).env == f"npz:{tmp_path / 'data.npz'}"
    assert resolve({"env": "cube-single-play-singletask-task2-v0"}).family == "cube-single-play"


def test_task_names_two_families():
    """The dataset family of any OGBench name (reports) and the presets' table row (None off the table)."""
    from fidec.config import preset_family
    from fidec.tasknames import ogbench_family, run_label, source_of, task_label

    point = "pointmaze-medium-navigate-singletask-task3-v0"
    assert ogbench_family(point) == "pointmaze-medium-navigate" and preset_family(point) is None
    assert ogbench_family("cube-single-play-singletask-task2-v0") == preset_family(
        "cube-single-play-singletask-task2-v0"
    )
    assert preset_family("minari:D4RL/pen/human-v2") == "d4rl-adroit" and task_label(point) == "task3"
    assert [source_of(e) for e in ("minari:D4RL/pen/human-v2", "D4RL/pen/human-v2", "x.npz", point)] == [
        "minari",
        "minari",
        "npz",
        "ogbench",
    ]
    assert run_label("npz:/a/data.npz") == "npz_data"


# ----------------------------------------------------------------------------------------- validation
def _bad_npz(tmp_path, change):
    rows = md.pendulum_rows(episodes=1)
    change(rows)
    path = tmp_path / "bad.npz"
    np.savez(path, **rows)
    return str(path)


def _nan(rows):
    rows["observations"][5, 1] = np.nan


def _out_of_range(rows):
    rows["actions"][7, 0] = 3.0


def _unfinished(rows):
    rows["timeouts"][-1] = False


def _wrong_action_dim(rows):
    rows["actions"] = np.repeat(rows["actions"], 2, axis=1)


def _missing_key(rows):
    del rows["rewards"]


def _delete_episode(root):
    import h5py

    with h5py.File(root / md.POINTMAZE.replace("mixed", "broken") / "data" / "main_data.hdf5", "a") as f:
        del f["episode_1"]


@pytest.mark.parametrize(
    "case, message",
    [
        ("nan", "non-finite value (nan) in 'observations' at row 5"),
        ("out_of_range", "action 3 at row 7, column 0 is outside the action space's range [-2, 2]"),
        ("unfinished", "the last step ends no episode"),
        ("wrong_action_dim", "the data has 2-dimensional actions but the environment's action space is Box"),
        ("missing_key", "lacks 'rewards'"),
        ("no_env_id", "name the Gymnasium environment to evaluate in with --env-id"),
        ("unknown_env_id", "unknown Gymnasium environment 'NoSuchEnv-v9'"),
        ("wrong_spaces", "the data has 8-dimensional observations but the environment's observation space"),
        ("unknown_minari", "no Minari dataset 'fidec-test/nothing/here-v0' in"),
        ("missing_episode", "episode 1 of 4 is missing or unreadable"),
        ("unit_box_out_of_range", "action 1.5 at row 0, column 0 is outside the action space's range [-1, 1]"),
    ],
)
def test_bad_data_gets_one_line_error_and_no_run_folder(case, message, minari_root, tmp_path, capsys):
    env_id = ["--env-id", "Pendulum-v1"]
    if case in ("nan", "out_of_range", "unfinished", "wrong_action_dim", "missing_key"):
        task = ["--dataset", _bad_npz(tmp_path, globals()[f"_{case}"]), *env_id]
    elif case == "no_env_id":
        task = ["--dataset", _bad_npz(tmp_path, lambda rows: None)]
    elif case == "unknown_env_id":
        task = ["--dataset", _bad_npz(tmp_path, lambda rows: None), "--env-id", "NoSuchEnv-v9"]
    elif case == "wrong_spaces":
        task = ["--env", f"minari:{md.POINTMAZE}", *env_id]
    elif case == "unknown_minari":
        task = ["--env", "minari:fidec-test/nothing/here-v0"]
    elif case == "missing_episode":
        broken = md.POINTMAZE.replace("mixed", "broken")
        md.pointmaze(broken, episodes=4)
        _delete_episode(minari_root)
        task = ["--env", f"minari:{broken}"]
    else:  # MountainCarContinuous: a [-1, 1] box, so actions are not rescaled and 1.5 is out of range
        path = tmp_path / "car.npz"
        np.savez(path, observations=np.zeros((3, 2)), actions=np.array([[1.5], [0.0], [0.0]]), rewards=np.zeros(3),
                 terminals=np.array([0, 0, 1]), env_id=np.array("MountainCarContinuous-v0"))  # fmt: skip
        task = ["--dataset", str(path)]
    run = tmp_path / "run"
    capsys.readouterr()
    rc = main(["train", *task, "--preset", "tiny", "--run-dir", str(run), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1
    assert len(err) == 1 and err[0].startswith("fidec train: error: "), err
    assert message in err[0], err[0]
    assert not run.exists()


def test_env_id_is_refused_for_ogbench_tasks(capsys):
    rc = main(["train", "--env", "cube-single-play-singletask-task1-v0", "--env-id", "Pendulum-v1", "--preset", "tiny"])
    assert rc == 1 and "--env-id applies to Minari and .npz data" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------- fidec data
def test_data_list_shows_local_minari_datasets(minari_root, capsys):
    assert main(["data", "list", "fidec-test"]) == 0
    out = capsys.readouterr().out
    assert f"Minari root: {minari_root}" in out
    line = next(x for x in out.splitlines() if x.startswith(f"minari:{md.POINTMAZE}"))
    assert "8 ep" in line and "PointMaze_Open-v3" in line and "ref scores" in line
    assert f"minari:{md.PENDULUM}" in out and "no ref scores" in out


def test_data_download_minari_without_network_is_one_line(minari_root, monkeypatch, capsys):
    import fidec.data.download as dl

    monkeypatch.setattr(dl, "check_reachable", lambda host, port, timeout=0: "Name or service not known")
    rc = main(["data", "download", "minari:D4RL/antmaze/large-diverse-v1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1
    assert "cannot reach huggingface.co" in err[0] and "where the network allows" in err[0]
    assert "minari.DataCollector" in err[0]
    assert not (minari_root / "D4RL").exists()


def test_data_verify_minari_and_npz(minari_root, tmp_path, capsys):
    assert main(["data", "verify", f"minari:{md.PENDULUM}"]) == 0
    out = capsys.readouterr().out
    assert "OK (2 episodes, 100 transitions, observation dim 3, action dim 1)" in out
    assert "linear [low, high] -> [-1, 1]" in out
    path = tmp_path / "p.npz"
    rows = md.pendulum_rows(episodes=1)
    np.savez(path, **rows)
    assert main(["data", "verify", str(path), "--env-id", "Pendulum-v1"]) == 0
    assert "OK (1 episodes, 199 transitions, observation dim 3, action dim 1)" in capsys.readouterr().out
    rows["actions"][4, 0] = -2.5
    np.savez(path, **rows)
    assert main(["data", "verify", str(path), "--env-id", "Pendulum-v1"]) == 1
    assert "action -2.5 at row 4, column 0 is outside" in capsys.readouterr().err


def test_env_and_dataset_together_are_refused(tmp_path, capsys):
    rc = main(["train", "--env", "cube-single-play-singletask-task1-v0", "--dataset", str(tmp_path / "d.npz")])
    assert rc == 1 and "give the task once" in capsys.readouterr().err
    rc = main(["train", "--dataset", "cube-single-play-v0", "--print-config"])
    assert rc == 1 and "neither a .npz file nor a Minari id" in capsys.readouterr().err
