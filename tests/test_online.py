"""Offline-to-online fine-tuning (fidec/online, fidec.train.online): buffer growth,
balanced batches, masks, exact resume, bad input."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fidec import checkpoint
from fidec.cli import main
from fidec.config import resolve
from fidec.data.sources.task import Task
from fidec.errors import FidecError
from fidec.online import buffer as ob
from fidec.online.collect import OnlineCollector
from fidec.runs import MetricsLog
from fidec.train import Trainer

from .conftest import TINY_ENV
from .toy_env import BrokenEnv, GoalEnv

KEYS = ("observations", "actions", "rewards", "masks", "next_observations")
TIMING = {"wall_time", "updates_per_s", "eval_time_s", "time_in_chunks_frac", "env_steps_per_s", "loop_updates_per_s"}


def goal_task(n: int = 200, env=GoalEnv) -> Task:
    """A dataset of random GoalEnv episodes, labelled as OGBench labels its singletask data (from the state
    before each step: reward = success - 1, mask = 1 - success)."""
    e, rng = GoalEnv(), np.random.default_rng(0)
    rows = {k: [] for k in KEYS}
    obs, _ = e.reset(seed=0)
    for _ in range(n):
        a = rng.uniform(-1, 1, 2).astype(np.float32)
        nxt, r, term, trunc, _ = e.step(a)
        for k, v in zip(KEYS, (obs, a, r, 1.0 - term, nxt), strict=True):
            rows[k].append(v)
        obs = e.reset(seed=int(rng.integers(1000)))[0] if term or trunc else nxt
    data = {k: np.asarray(v, np.float32) for k, v in rows.items()}
    return Task("toy-goal", "toy-goal", data, data, "/tmp", env_factory=lambda **kw: env())


def online_config(**kw):
    base = dict(env="toy-goal", preset="tiny", agent="fql", steps=10, online_steps=40, online_collect=10)
    return resolve({**base, **kw})


def records(run, drop=TIMING):
    return [
        {k: v for k, v in r.items() if k not in drop and not k.startswith("time_")} for r in MetricsLog(run).records()
    ]


def checkpoint_payload(run):
    return checkpoint.read_payload(run)


def segments(run):
    out = {}
    for p in sorted((run / ob.SEGMENT_DIR).iterdir()):
        with np.load(p) as z:
            out[p.name] = {k: z[k] for k in KEYS}
    return out


# ---------------------------------------------------------------------------------------------- sampling
def marked(n, value, dim=3):
    return {
        k: jnp.full((n, dim) if k in ("observations", "next_observations", "actions") else (n,), value) for k in KEYS
    }


@pytest.mark.parametrize("batch", [32, 33])
def test_balanced_batches_are_half_dataset_half_online(batch):
    cfg = online_config(balanced_sampling=True, batch_size=batch, buffer_size=50)
    ring = ob.ring_size(cfg, 100)
    data, buf = marked(100, 7.0), marked(ring, -3.0)
    buf = {k: v.at[5:].set(99.0) for k, v in buf.items()}  # slots past the 5 online steps so far: never drawn
    sample = jax.jit(ob.make_sampler(cfg, 100, ring))
    for i in range(5):
        r = np.asarray(sample(data, buf, jax.random.PRNGKey(i), 5)["rewards"])
        half = batch // 2  # FQL: batch_size // 2 from each source, dataset rows first
        assert r.shape == (2 * half,)
        assert (r[:half] == 7.0).all() and (r[half:] == -3.0).all()


@pytest.mark.parametrize("n_data, m, buffer_size", [(100, 1, 10), (100, 30, 1000), (100, 30, 110), (100, 250, 120)])
def test_buffer_samples_what_fqls_buffer_holds(n_data, m, buffer_size):
    """The dataset-plus-online buffer draws from the dataset rows FQL's ring has not overwritten and the online
    transitions so far (never a later one), uniformly."""
    cfg = online_config(buffer_size=buffer_size, online_steps=300, batch_size=4096)
    ring = ob.ring_size(cfg, n_data)
    data = {
        k: jnp.broadcast_to(jnp.arange(n_data, dtype=jnp.float32).reshape(-1, *([1] * (v.ndim - 1))), v.shape)
        for k, v in marked(n_data, 0.0).items()
    }
    online = np.full(ring, -1.0, np.float32)
    for t in range(m):  # transition t in slot t % ring, marked 1000 + t
        online[t % ring] = 1000 + t
    buf = {
        k: jnp.broadcast_to(jnp.asarray(online).reshape(-1, *([1] * (v.ndim - 1))), v.shape)
        for k, v in marked(ring, 0.0).items()
    }
    r = np.asarray(jax.jit(ob.make_sampler(cfg, n_data, ring))(data, buf, jax.random.PRNGKey(0), m)["rewards"])
    cap = max(buffer_size, n_data + 1)
    # FQL's array after m online steps: slot (n + t) % cap holds online t
    fql = [float(i) for i in range(n_data)] + [None] * (cap - n_data)
    for t in range(m):
        fql[(n_data + t) % cap] = 1000.0 + t
    held = {x for x in fql if x is not None}
    counts = ob.buffer_counts(cfg, n_data, m)
    assert counts["size"] == len(held) and counts["online"] == min(m, cap)
    assert set(np.unique(r)) <= held
    assert len(set(np.unique(r))) > 0.6 * min(len(held), 4096)  # spread over what is held
    frac_online = np.mean(r >= 1000)
    assert abs(frac_online - counts["online"] / counts["size"]) < 0.05


# ---------------------------------------------------------------------------------------------- transitions
def test_masks_and_rewards_follow_success_as_in_the_offline_labels():
    col = OnlineCollector(goal_task(), [0, 1])
    col.reset_all()
    rows = []
    for t in range(40):
        rows.append(col.step(np.tile([[1.0, 0.0]] if t % 3 else [[-0.3, 0.2]], (2, 1)))[0])
    obs = np.concatenate([r["observations"] for r in rows])
    succ = (obs[:, 0] >= 1.0).astype(np.float32)  # success of the state before the step, as the dataset labels
    masks = np.concatenate([r["masks"] for r in rows])
    rewards = np.concatenate([r["rewards"] for r in rows])
    assert succ.sum() >= 4 and (1 - succ).sum() >= 4  # both kinds occur
    np.testing.assert_array_equal(masks, 1.0 - succ)
    np.testing.assert_array_equal(rewards, succ - 1.0)


def test_ogbench_online_masks_follow_success_as_relabel_dataset_computes_them():
    from fidec.api import make_env

    env_name = "pointmaze-medium-navigate-singletask-task1-v0"
    task = Task(env_name, "pointmaze-medium-navigate-v0", {}, {}, "/tmp", env_factory=lambda **kw: make_env(env_name))
    col = OnlineCollector(task, [0])
    col.reset_all()
    u = col.envs[0].unwrapped
    goal, tol = np.asarray(u.cur_goal_xy), u._goal_tol
    rows = [col.step(np.zeros((1, 2), np.float32))[0]]  # far from the goal
    u.set_xy(goal)  # at the goal: the next step's state-before is a success
    col.obs[0] = np.asarray(u.get_ob(), np.float32)
    rows.append(col.step(np.zeros((1, 2), np.float32))[0])
    obs = np.concatenate([r["observations"] for r in rows])
    # ogbench.relabel_utils.relabel_dataset: successes from each row's xy, rewards = s - 1, masks = 1 - s
    succ = (np.linalg.norm(obs[:, :2] - goal, axis=-1) <= tol).astype(np.float32)
    assert succ.tolist() == [0.0, 1.0]
    np.testing.assert_array_equal(np.concatenate([r["masks"] for r in rows]), 1.0 - succ)
    np.testing.assert_array_equal(np.concatenate([r["rewards"] for r in rows]), succ - 1.0)
    col.close()


def test_freezing_the_flow_keeps_it_exactly_and_trains_the_rest():
    from fidec.agents import make_agent

    cfg = online_config(agent="fql", online_freeze_flow=True)
    task = goal_task()
    agent = make_agent(cfg, task.obs_dim, task.action_dim)
    state = agent.init(jax.random.PRNGKey(0))
    batch = {k: jnp.asarray(v[:32]) for k, v in task.train.items()}
    new, info = jax.jit(lambda s: agent.update(s, batch, frozen=("flow",)))(state)
    before, after = state.params, new.params
    for x, y in zip(jax.tree_util.tree_leaves(before["flow"]), jax.tree_util.tree_leaves(after["flow"]), strict=True):
        np.testing.assert_array_equal(x, y)
    assert float(info["grad_norm_flow"]) == 0.0 and float(info["flow_loss"]) > 0
    for net in ("critic", "onestep"):
        pairs = zip(jax.tree_util.tree_leaves(before[net]), jax.tree_util.tree_leaves(after[net]), strict=True)
        assert all(not np.array_equal(x, y) for x, y in pairs), net


# ---------------------------------------------------------------------------------------------- the loop
def test_online_run_grows_the_buffer_by_one_per_env_step_and_resumes_bit_identically(tmp_path, monkeypatch):
    """README 'Offline to online': after a kill, the resumed run equals the uninterrupted one bit for bit
    (parameters, optimiser, online buffer, counters, every metric record but timings)."""
    import fidec.train.online as phase

    kw = dict(num_seeds=2, log_every=10, eval_every=20, checkpoint_every=20, eval_episodes=2, online_steps=40)
    a, b = tmp_path / "a", tmp_path / "b"
    task = goal_task()
    n_data = len(task.train["observations"])
    Trainer.create(online_config(**kw), a, task=task, progress=False).run()

    real = phase.make_online_chunk_fn

    def killed_in_third_online_chunk(*args):
        run, calls = real(*args), []

        def wrapped(states, data, rings, m0, n):
            calls.append(n)
            if len(calls) == 3:  # updates 31-40: after the step-20 checkpoint (online step 10) and step-30 record
                raise KeyboardInterrupt
            return run(states, data, rings, m0, n)

        return wrapped

    monkeypatch.setattr(phase, "make_online_chunk_fn", killed_in_third_online_chunk)
    with pytest.raises(KeyboardInterrupt):
        Trainer.create(online_config(**kw), b, task=task, progress=False).run()
    meta = checkpoint_payload(b)["meta"]
    assert meta["step"] == 20 and meta["online"]["env_steps"] == 10
    monkeypatch.setattr(phase, "make_online_chunk_fn", real)
    Trainer.resume(b, task=task, progress=False).run()

    # the buffer: one transition per environment step and seed
    online = [r for r in MetricsLog(a).records("train") if r.get("phase") == "online"]
    assert [r["env_steps"] for r in online if r["seed"] == 0] == [10, 20, 30, 40]
    for r in online:
        assert r["buffer_online"] == r["env_steps"] and r["buffer_size"] == n_data + r["env_steps"]
    seg_a = segments(a)
    assert sum(v["rewards"].shape[1] for v in seg_a.values()) == 40
    assert all(v["observations"].shape[0] == 2 for v in seg_a.values())
    # the resumed run equals the uninterrupted one
    pa, pb = checkpoint_payload(a), checkpoint_payload(b)
    assert pa["meta"]["online"] == pb["meta"]["online"] and pa["meta"]["step"] == pb["meta"]["step"] == 50
    la, lb = jax.tree_util.tree_leaves(pa["state"]), jax.tree_util.tree_leaves(pb["state"])
    assert len(la) == len(lb)
    for x, y in zip(la, lb, strict=True):
        np.testing.assert_array_equal(x, y)
    seg_b = segments(b)
    assert seg_a.keys() == seg_b.keys()
    for name in seg_a:
        for k in KEYS:
            np.testing.assert_array_equal(seg_a[name][k], seg_b[name][k])
    assert records(a) == records(b)
    summary = json.loads((a / "summary.json").read_text())
    assert summary["final_step"] == 50 and summary["online"]["online_steps"] == 40


def test_online_from_the_command_line_on_an_ogbench_task(tiny_dataset_dir, tmp_path):
    """One seed (the chunk's no-vmap path), OGBench's cube env, balanced sampling and a frozen flow. (fd and deflow
    online: the same loop with another agent.update; benchmarks/online/runs ran all three.)"""
    run = tmp_path / "run"
    argv = [
        "train",
        "--agent",
        "fql",
        "--env",
        TINY_ENV,
        "--preset",
        "tiny",
        "--dataset-dir",
        str(tiny_dataset_dir),
        "--steps",
        "20",
        "--online-steps",
        "20",
        "--eval-episodes",
        "0",
        "--balanced-sampling",
        "--online-freeze-flow",
        "--run-dir",
        str(run),
        "--no-progress",
    ]
    assert main(argv) == 0
    train = MetricsLog(run).records("train")
    assert [r.get("phase", "offline") for r in train] == ["offline", "offline", "online", "online"]
    assert train[-1]["env_steps"] == 20 and train[-1]["buffer_online"] == 20
    assert json.loads((run / "summary.json").read_text())["final_step"] == 40


# ---------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "flags, needle",
    [
        (["--online-steps", "-1"], "online_steps must be x >= 0"),
        (["--balanced-sampling"], "add --online-steps N"),
        (["--online-freeze-flow"], "add --online-steps N"),
        (["--agent", "bc", "--online-steps", "10"], "no online phase"),
        (["--online-steps", "10", "--online-updates-per-step", "3"], "multiple of online_updates_per_step"),
    ],
)
def test_bad_online_input_is_one_line_and_writes_nothing(flags, needle, tmp_path, capsys):
    run = tmp_path / "run"
    rc = main(["train", "--env", TINY_ENV, "--preset", "tiny", "--run-dir", str(run), "--no-progress", *flags])
    err = capsys.readouterr().err
    assert rc != 0 and needle in err and len(err.strip().splitlines()) == 1, err
    assert not run.exists()


def test_an_env_that_cannot_be_stepped_is_one_line_and_writes_nothing(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(FidecError, match="cannot be stepped") as e:
        Trainer.create(online_config(), run, task=goal_task(env=BrokenEnv), progress=False)
    assert "\n" not in str(e.value)
    assert not run.exists()
