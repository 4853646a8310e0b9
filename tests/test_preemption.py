"""Preemption and self-verifying checkpoints: SIGTERM/SIGUSR1 stop training at a chunk boundary with a checkpoint
and exit status 75, and the resumed run equals an uninterrupted one; a checkpoint or online buffer segment whose
bytes changed is refused in one line, and the previous checkpoint is the way back (docs/reliability.md)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from fidec import checkpoint
from fidec.cli import main
from fidec.errors import EXIT_PREEMPTED, FidecError, Preempted
from fidec.io import CHECKPOINT_HEADER_BYTES
from fidec.online import buffer as ob
from fidec.preemption import stop_requests
from fidec.runs import MetricsLog
from fidec.train import Trainer

from .conftest import TINY_ENV
from .test_online import KEYS, goal_task, online_config, records, segments
from .test_training import comparable, leaves, tiny

STOPPED = re.compile(r"^fidec train: stopped by (SIG\w+) at step (\d+) of (\d+), checkpoint saved; continue with "
                     r"'fidec train --resume (\S+)'$")


def assert_same_run(a, b, drop_online_timing=False):
    """Every checkpoint array leaf bit-identical, the same step, and every metric record equal but its timings."""
    la, ma = leaves(a)
    lb, mb = leaves(b)
    assert ma["step"] == mb["step"]
    assert len(la) == len(lb)
    for x, y in zip(la, lb, strict=True):
        np.testing.assert_array_equal(x, y)
    if drop_online_timing:
        assert records(a) == records(b)
    else:
        assert comparable(MetricsLog(a).records()) == comparable(MetricsLog(b).records())
    return ma, mb


def flip_low_bit(path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 1
    path.write_bytes(bytes(data))


# ---------------------------------------------------------------------------------------------- the handlers
def test_stop_signals_are_handled_only_inside_the_block_and_sigint_is_left_alone():
    seen = []
    previous = signal.signal(signal.SIGUSR1, lambda *a: seen.append("mine"))
    sigint = signal.getsignal(signal.SIGINT)
    try:
        with stop_requests() as stop:
            assert signal.getsignal(signal.SIGINT) is sigint
            os.kill(os.getpid(), signal.SIGUSR1)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.01)
            assert stop.signal == signal.SIGUSR1 and seen == []  # the first request is the one reported
        os.kill(os.getpid(), signal.SIGUSR1)  # the handler before the block is back
        time.sleep(0.01)
        assert seen == ["mine"] and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL

        def in_a_thread():  # Python installs handlers only in the main thread: elsewhere nothing changes
            with stop_requests() as s:
                seen.append((signal.getsignal(signal.SIGTERM), s.requested))

        t = threading.Thread(target=in_a_thread)
        t.start()
        t.join()
        assert seen[-1] == (signal.SIG_DFL, False)
    finally:
        signal.signal(signal.SIGUSR1, previous)


# ---------------------------------------------------------------------------------------------- real signals
def start_train(argv, run):
    """``fidec train`` in a subprocess; waits until it has written a train record (``online``: an online one)."""
    cmd = [sys.executable, "-m", "fidec.cli", "train", *map(str, argv), "--run-dir", str(run), "--no-progress"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def signal_when_training(p, run, sig, online: bool = False) -> tuple[int, str]:
    try:
        deadline = time.time() + 240
        while time.time() < deadline and p.poll() is None:
            recs = MetricsLog(run).records("train") if (run / "metrics.jsonl").exists() else []
            if any(r.get("phase") == "online" for r in recs) if online else recs:
                break
            time.sleep(0.05)
        assert p.poll() is None, p.communicate()[1]  # still training when the signal is sent
        p.send_signal(sig)
        _, err = p.communicate(timeout=240)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return p.returncode, err


def check_stopped(rc, err, sig, run, total):
    """Exit status 75 and one line saying what happened, the step saved and how to continue; returns the step."""
    assert rc == EXIT_PREEMPTED == 75, err
    lines = [ln for ln in err.strip().splitlines() if "stopped by" in ln]
    assert len(lines) == 1 and err.strip().splitlines()[-1] == lines[0], err
    m = STOPPED.match(lines[0])
    assert m, lines[0]
    assert m.group(1) == sig.name and int(m.group(3)) == total and m.group(4) == str(run)
    step = int(m.group(2))
    assert checkpoint.read_payload(run)["meta"]["step"] == step  # the checkpoint is of the step the line names
    return step


def test_sigterm_stops_offline_training_with_a_checkpoint_and_the_resumed_run_equals_an_uninterrupted_one(
    tiny_dataset_dir, tmp_path
):
    kw = dict(agent="bc", log_every=20, checkpoint_every=50, chunk_size=5, eval_episodes=0)
    run, ref = tmp_path / "run", tmp_path / "ref"
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in kw.items()]
    argv = ["--env", TINY_ENV, "--preset", "tiny", "--dataset-dir", tiny_dataset_dir, "--steps", 100_000, *flags]
    rc, err = signal_when_training(start_train(argv, run), run, signal.SIGTERM)
    step = check_stopped(rc, err, signal.SIGTERM, run, 100_000)
    assert step % 5 == 0 and 20 <= step < 100_000  # a chunk boundary, after the first record
    # continue to a later end (a shorter budget changes no update); the uninterrupted run trains to it directly
    end = (step // 50 + 2) * 50
    assert main(["train", "--resume", str(run), "--steps", str(end), "--no-progress"]) == 0
    Trainer.create(tiny(tiny_dataset_dir, steps=end, **kw), ref, progress=False).run()
    assert_same_run(ref, run)


def test_sigusr1_in_the_online_phase_keeps_the_episodes_going_and_the_resumed_run_equals_an_uninterrupted_one(
    tiny_dataset_dir, tmp_path
):
    kw = dict(agent="fql", steps=20, log_every=10, checkpoint_every=1000, eval_episodes=0, online_collect=5)
    run, ref = tmp_path / "run", tmp_path / "ref"
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in kw.items()]
    argv = ["--env", TINY_ENV, "--preset", "tiny", "--dataset-dir", tiny_dataset_dir, "--online-steps", 100_000]
    rc, err = signal_when_training(start_train([*argv, *flags], run), run, signal.SIGUSR1, online=True)
    step = check_stopped(rc, err, signal.SIGUSR1, run, 100_020)
    online = checkpoint.read_payload(run)["meta"]["online"]
    assert step > 20 and online["env_steps"] == step - 20
    assert online["in_progress"] and max(online["in_progress"]) > 0  # stopped inside an episode (200 steps each)
    # continue to a later end; the ring holds every transition in both runs, so the budget changes no update
    end = step - 20 + 40
    assert main(["train", "--resume", str(run), "--online-steps", str(end), "--no-progress"]) == 0
    Trainer.create(tiny(tiny_dataset_dir, online_steps=end, **kw), ref, progress=False).run()
    ma, mb = assert_same_run(ref, run, drop_online_timing=True)
    assert ma["online"] == mb["online"]  # counters, episodes, segment names and their sha256
    sa, sb = segments(ref), segments(run)
    for name in ma["online"]["segments"]:
        for k in KEYS:
            np.testing.assert_array_equal(sa[name][k], sb[name][k])


# ---------------------------------------------------------------------------------------------- online, exactly
def stop_at_online_chunk(monkeypatch, chunk: int, sig=signal.SIGTERM):
    """A real signal to this process while the ``chunk``-th online chunk runs (a deterministic boundary)."""
    import fidec.train.online as phase

    real = phase.make_online_chunk_fn

    def signalling(*args):
        run, calls = real(*args), []

        def wrapped(states, data, rings, m0, n):
            calls.append(n)
            if len(calls) == chunk:
                os.kill(os.getpid(), sig)
            return run(states, data, rings, m0, n)

        return wrapped

    monkeypatch.setattr(phase, "make_online_chunk_fn", signalling)
    return lambda: monkeypatch.setattr(phase, "make_online_chunk_fn", real)


ONLINE = dict(
    num_seeds=2, chunk_size=5, log_every=5, eval_every=20, checkpoint_every=20, eval_episodes=2, online_collect=5
)


@pytest.fixture(scope="module")
def online_reference(tmp_path_factory):
    """An uninterrupted offline -> online run (10 + 40 steps, toy environment)."""
    task = goal_task()
    a = tmp_path_factory.mktemp("online") / "a"
    Trainer.create(online_config(**ONLINE), a, task=task, progress=False).run()
    return task, a


def test_a_stop_mid_episode_resumes_the_episodes_bit_identically(online_reference, tmp_path, monkeypatch):
    task, a = online_reference
    b = tmp_path / "b"
    restore = stop_at_online_chunk(monkeypatch, 3)  # online steps 10-15: after the step-20 checkpoint
    with pytest.raises(Preempted, match="stopped by SIGTERM at step 25 of 50"):
        Trainer.create(online_config(**ONLINE), b, task=task, progress=False).run()
    restore()
    meta = checkpoint.read_payload(b)["meta"]
    assert meta["step"] == 25 and checkpoint.read_payload(b / checkpoint.PREVIOUS)["meta"]["step"] == 20
    o = meta["online"]
    assert o["open_segment"] == ob.segment_name(10, 15) and o["open_segment"] in o["segments"]
    assert o["in_progress"] and max(o["in_progress"]) > 0  # mid-episode: what the resumed run replays
    Trainer.resume(b, task=task, progress=False).run()
    ma, mb = assert_same_run(a, b, drop_online_timing=True)
    assert ma["online"] == mb["online"]
    assert "open_segment" not in mb["online"] and "in_progress" not in mb["online"]
    sa, sb = segments(a), segments(b)
    for name in ma["online"]["segments"]:
        for k in KEYS:
            np.testing.assert_array_equal(sa[name][k], sb[name][k])


def test_a_damaged_online_segment_is_refused_and_the_previous_checkpoint_resumes_exactly(
    online_reference, tmp_path, monkeypatch
):
    task, a = online_reference
    b = tmp_path / "b"
    restore = stop_at_online_chunk(monkeypatch, 7)  # online steps 30-35: after the step-40 checkpoint
    with pytest.raises(Preempted, match="at step 45 of 50"):
        Trainer.create(online_config(**ONLINE), b, task=task, progress=False).run()
    restore()
    seg = b / ob.SEGMENT_DIR / ob.segment_name(30, 35)  # the stop checkpoint's own segment
    flip_low_bit(seg, seg.stat().st_size // 2)
    with pytest.raises(FidecError) as e:
        Trainer.resume(b, task=task, progress=False).run()
    msg = str(e.value)
    assert "\n" not in msg and f"segment {seg} is damaged" in msg, msg
    assert f"previous checkpoint {b / checkpoint.PREVIOUS} (step 40) is intact" in msg, msg
    assert f"'fidec train --resume {b} --use-previous-checkpoint'" in msg, msg
    lines = []
    Trainer.resume(b, task=task, progress=False, use_previous=True, log=lines.append).run()
    assert lines == [f"continuing {b} from its previous checkpoint (step 40); the damaged one is kept as "
                     f"{b / checkpoint.DAMAGED}"]
    ma, mb = assert_same_run(a, b, drop_online_timing=True)
    assert ma["online"] == mb["online"]


# ---------------------------------------------------------------------------------------------- checkpoints
@pytest.fixture(scope="module")
def offline_reference(tiny_dataset_dir, tmp_path_factory):
    """An uninterrupted 40-step run with a checkpoint every 10 steps (the newest at 40, the previous at 30)."""
    a = tmp_path_factory.mktemp("offline") / "a"
    Trainer.create(tiny(tiny_dataset_dir, steps=40, checkpoint_every=10, agent="bc"), a, progress=False).run()
    return a


def copy_of(run, tmp_path):
    """A copy of a finished run folder whose newest checkpoint a test may damage."""
    return shutil.copytree(run, tmp_path / "run")


def cli_error(argv, capsys) -> str:
    capsys.readouterr()
    rc = main([str(x) for x in argv])
    err = capsys.readouterr().err
    assert rc == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err.strip()


def test_a_flipped_bit_in_the_checkpoint_is_refused_and_the_previous_one_resumes_exactly(
    offline_reference, tmp_path, capsys
):
    run = copy_of(offline_reference, tmp_path)
    newest, prev = run / checkpoint.CHECKPOINT, run / checkpoint.PREVIOUS
    assert checkpoint.read_payload(prev)["meta"]["step"] == 30
    flip_low_bit(newest, (CHECKPOINT_HEADER_BYTES + newest.stat().st_size) // 2)  # one low bit of the payload
    resume = ["train", "--resume", run, "--no-progress"]
    err = cli_error(resume, capsys)
    assert f"checkpoint {newest} is damaged" in err and "sha256" in err, err
    assert f"previous checkpoint {prev} (step 30) is intact" in err, err
    assert f"--resume {run} --use-previous-checkpoint" in err, err
    assert "damaged" in cli_error(["evaluate", run, "--episodes", 1], capsys)  # readers refuse it too
    # the way back: the previous checkpoint; the damaged file is kept
    damaged = newest.read_bytes()
    capsys.readouterr()
    assert main([*map(str, resume), "--use-previous-checkpoint"]) == 0
    assert "from its previous checkpoint (step 30)" in capsys.readouterr().err
    assert (run / checkpoint.DAMAGED).read_bytes() == damaged
    assert_same_run(offline_reference, run)  # steps 31-40 trained again, as the uninterrupted run did
    # asking for the previous checkpoint while the newest verifies is refused (nothing is thrown away)
    err = cli_error([*resume, "--use-previous-checkpoint"], capsys)
    assert "verifies" in err and checkpoint.read_payload(run)["meta"]["step"] == 40
    # only the previous one left (a crash while it was being made the newest): never a fresh start from step 0
    newest.unlink()
    err = cli_error(resume, capsys)
    assert "no checkpoint.msgpack but keeps checkpoint.prev.msgpack" in err and "--use-previous-checkpoint" in err
    assert main([*map(str, resume), "--use-previous-checkpoint"]) == 0
    assert_same_run(offline_reference, run)


def test_a_damaged_checkpoint_without_a_previous_one_says_so(offline_reference, tmp_path, capsys):
    run = copy_of(offline_reference, tmp_path)
    (run / checkpoint.PREVIOUS).unlink()
    newest = run / checkpoint.CHECKPOINT
    flip_low_bit(newest, newest.stat().st_size - 3)
    err = cli_error(["train", "--resume", run, "--no-progress"], capsys)
    assert f"checkpoint {newest} is damaged" in err and "no previous checkpoint is kept" in err, err
    err = cli_error(["train", "--resume", run, "--use-previous-checkpoint", "--no-progress"], capsys)
    assert "no previous checkpoint is kept" in err and newest.exists(), err


def test_a_checkpoint_written_before_checksums_still_loads_and_resumes_exactly(offline_reference, tmp_path):
    run = copy_of(offline_reference, tmp_path)
    newest, prev = run / checkpoint.CHECKPOINT, run / checkpoint.PREVIOUS
    newest.write_bytes(prev.read_bytes()[CHECKPOINT_HEADER_BYTES:])  # step 30 in the format before: the payload alone
    prev.unlink()
    assert checkpoint.read_payload(run)["meta"]["step"] == 30
    Trainer.resume(run, progress=False).run()
    assert newest.read_bytes().startswith(b"FIDECCK2")  # written again with a checksum
    assert_same_run(offline_reference, run)


def test_each_checkpoint_keeps_the_one_before_and_verifies_what_it_wrote(tmp_path):
    state = {"w": np.arange(6, dtype=np.float32).reshape(2, 3)}
    checkpoint.save(tmp_path, state, {"step": 10, "wall_time": 0.0})
    assert not (tmp_path / checkpoint.PREVIOUS).exists()
    before = (tmp_path / checkpoint.CHECKPOINT).read_bytes()
    checkpoint.save(tmp_path, {"w": state["w"] + 1}, {"step": 20, "wall_time": 0.0})
    assert (tmp_path / checkpoint.PREVIOUS).read_bytes() == before
    assert checkpoint.problem(tmp_path / checkpoint.CHECKPOINT) is None
    assert checkpoint.read_meta(tmp_path)["step"] == 20
    restored, meta = checkpoint.load(tmp_path, state)
    np.testing.assert_array_equal(restored["w"], state["w"] + 1)
    # a truncated file (a disk that lost its tail) is refused too, naming what remains
    path = tmp_path / checkpoint.CHECKPOINT
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(FidecError, match=r"damaged.*previous checkpoint .* \(step 10\) is intact"):
        checkpoint.load(tmp_path, state)
