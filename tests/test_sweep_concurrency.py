"""`fidec sweep` as a command the user runs and stops: two sweeps on one folder, a Ctrl-C or a SIGTERM mid-sweep.

Each test runs the real command in subprocesses (its job processes, locks and signals are what is tested)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fidec.checkpoint import read_payload

from .conftest import TINY_ENV
from .test_sweep import write_suite

REPO = Path(__file__).resolve().parents[1]
# subprocess.Popen forks (then execs at once) from a process that has JAX loaded: harmless here
pytestmark = pytest.mark.filterwarnings(r"ignore:os\.fork\(\) was called:RuntimeWarning")


def sweep(suite, out, data, *extra) -> subprocess.Popen:
    """`fidec sweep` in a session of its own (a terminal's Ctrl-C goes to its whole process group)."""
    cmd = [sys.executable, "-m", "fidec.cli", "sweep", str(suite), "--out", str(out), "--dataset-dir", str(data)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [*cmd, *extra], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True, preexec_fn=_sigint_default,
    )  # fmt: skip


def _sigint_default() -> None:
    """SIGINT as a terminal's shell leaves it: pytest-xdist's workers ignore SIGINT, and an ignored signal is
    inherited, so without this the sweep would never see the Ctrl-C the test sends."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def finish(p: subprocess.Popen, timeout: float) -> tuple[int, str]:
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)  # the sweep and its job processes: nothing left behind by a failure
        out, _ = p.communicate()
        pytest.fail(f"fidec sweep still running after {timeout} s:\n{out[-3000:]}")
    return p.returncode, out


def long_sweep(tmp_path, data, checkpoint_every: int, ready: str):
    """A `--workers 1` sweep of two runs far too long to finish in a test, and its two run folders, once the
    first run's ``ready`` file (in its folder) exists: the test stops it there, and the second must never start."""
    suite = write_suite(
        tmp_path / "s.toml", ["bc"], [0, 1],
        extra=f"steps = 2000000\nlog_every = 100\ncheckpoint_every = {checkpoint_every}\neval_every = 2000000\n",
    )  # fmt: skip
    out = tmp_path / "out"
    first, second = out / f"bc/{TINY_ENV}/base/seed0", out / f"bc/{TINY_ENV}/base/seed1"
    p = sweep(suite, out, data, "--workers", "1")
    deadline = time.time() + 240
    while time.time() < deadline and not (first / ready).exists() and p.poll() is None:
        time.sleep(0.25)
    assert (first / ready).exists(), finish(p, 30)[1]
    return p, suite, out, first, second


def run_statuses(out) -> dict:
    return {r["name"]: r["status"] for r in json.loads((out / "sweep_status.json").read_text())["runs"]}


def test_two_sweeps_on_one_folder_run_each_run_once_and_both_succeed(tiny_dataset_dir, tmp_path):
    suite = write_suite(tmp_path / "s.toml", ["bc"], [0, 1])
    out = tmp_path / "out"
    a = sweep(suite, out, tiny_dataset_dir, "--workers", "1")
    b = sweep(suite, out, tiny_dataset_dir, "--workers", "1")
    (rc_a, log_a), (rc_b, log_b) = finish(a, 400), finish(b, 400)
    assert (rc_a, rc_b) == (0, 0), log_a + "\n----\n" + log_b
    names = [f"bc/{TINY_ENV}/base/seed{s}" for s in range(2)]
    for name in names:
        run = out / name
        # trained once: one job line in its log, one set of records, no error left behind
        assert (run / "sweep.log").read_text().count(f"job {name} in pid") == 1, name
        assert not (run / "error.txt").exists()
    trains = {n: [r["step"] for r in map(json.loads, (out / n / "metrics.jsonl").read_text().splitlines())
                  if r["kind"] == "train"] for n in names}  # fmt: skip
    assert all(v == [10, 20, 30, 40] for v in trains.values()), trains
    for log in (log_a, log_b):
        assert "FAILED" not in log and "error.txt" not in log, log
        assert "2 done, 0 failed of 2 runs" in log, log  # each, at its end, saw every run done
    status = json.loads((out / "sweep_status.json").read_text())
    assert status["counts"] == {"done": 2, "failed": 0, "interrupted": 0, "running": 0, "pending": 0}


def test_ctrl_c_stops_a_sweep_at_once_and_leaves_a_true_status(tiny_dataset_dir, tmp_path):
    p, suite, out, first, second = long_sweep(tmp_path, tiny_dataset_dir, 100, "checkpoint.msgpack")
    os.killpg(p.pid, signal.SIGINT)  # what Ctrl-C at a terminal does
    t0 = time.time()
    rc, log = finish(p, 60)
    assert rc == 130, log
    assert time.time() - t0 < 30, log
    assert not (second / "config.json").exists() and not (second / "sweep.log").exists(), log  # never started
    status = run_statuses(out)
    assert (status[str(first.relative_to(out))], status[str(second.relative_to(out))]) == ("interrupted", "pending")
    # the interrupted run is resumable: its checkpoint is there and no process holds its folder
    rc = subprocess.run(
        [sys.executable, "-m", "fidec.cli", "sweep", str(suite), "--out", str(out), "--dry-run",
         "--dataset-dir", str(tiny_dataset_dir)], cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert f"interrupted {first.relative_to(out)}" in " ".join(rc.stdout.split()), rc.stdout + rc.stderr


def test_sigterm_to_a_sweep_checkpoints_each_running_run_at_its_stop_step_and_exits_75(tiny_dataset_dir, tmp_path):
    # what a scheduler or `kill` sends to the sweep alone: before, the sweep died at once and its workers with it,
    # losing every step since the last periodic checkpoint (here: all of them, none is due before 2000000)
    p, _, out, first, second = long_sweep(tmp_path, tiny_dataset_dir, 2000000, "train.csv")  # in its training loop
    assert not (first / "checkpoint.msgpack").exists()
    os.kill(p.pid, signal.SIGTERM)  # the sweep process only, not its workers
    rc, log = finish(p, 120)
    assert rc == 75, log  # EXIT_PREEMPTED: a scheduler requeues the job
    assert "stopped by SIGTERM" in log and "run the same command again" in log, log
    # the stop's checkpoint: at the chunk boundary after the run's last record (log every 100), holding the loss
    # terms of the updates since that record for the next one
    meta = read_payload(first)["meta"]
    records = [json.loads(line) for line in (first / "metrics.jsonl").read_text().splitlines()]
    last = max(r["step"] for r in records if r["kind"] == "train")
    assert 0 < last <= meta["step"] < last + 100, (last, meta["step"])
    window = meta.get("log_window") or {}  # none when the stop fell on a log step
    assert len(window.get("flow_loss", ())) == meta["step"] - last, (last, meta["step"])
    assert not (second / "config.json").exists(), log  # never started
    status = run_statuses(out)
    assert (status[str(first.relative_to(out))], status[str(second.relative_to(out))]) == ("interrupted", "pending")


def test_a_stop_signal_before_the_training_loop_is_kept_for_it_where_deferred():
    # a sweep's job process may be stopped while it loads data: the signal must neither end it nor be lost
    code = (
        "import os, signal, time\n"
        "from fidec.preemption import defer_stop_signals, pending_stop, stop_requests\n"
        "assert pending_stop() is None\n"
        "defer_stop_signals()\n"
        "os.kill(os.getpid(), signal.SIGUSR1)\n"
        "time.sleep(0.2)\n"
        "with stop_requests() as stop:\n"
        "    print(pending_stop().name, stop.signal.name)\n"
        "os.kill(os.getpid(), signal.SIGTERM)\n"
        "time.sleep(0.2)\n"
        "print('alive')\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["SIGUSR1", "SIGUSR1", "alive"], r.stdout
