"""One job of a sweep, in the process that runs it (a spawned process of the local pool, or a Ray task).

This module loads nothing heavy when it is imported (fidec.config loads neither NumPy nor JAX): a job's process
sets its environment first (:func:`_prepare_process`), and only then loads NumPy and JAX, which read that
environment when they load.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from pathlib import Path

from fidec.config import resolve
from fidec.console import enable_compilation_cache
from fidec.errors import FidecError, Preempted, RunFolderBusy
from fidec.io import atomic_write_text, read_json, write_json
from fidec.preemption import pending_stop
from fidec.runs import RunLock

JOB_FILE = "sweep.json"
LOG_FILE = "sweep.log"
ERROR_FILE = "error.txt"

DONE, INTERRUPTED, FAILED, CONFLICT, PENDING = "done", "interrupted", "failed", "conflict", "pending"
#: A run folder whose lock another process holds (a run training there now).
RUNNING = "running"
#: A job's result when another process held its run folder: nothing in the folder was touched.
HELD = "held"

#: Fields that may differ between a run folder's saved config and the job without a conflict.
MUTABLE_FIELDS = {
    "steps",
    "online_steps",
    "dataset_dir",
    "family",
    "metric",
    "eval_mode",
    "eval_envs",
    "eval_workers",
    "eval_from",
    "logger",
}


def config_conflict(run_dir: Path, overrides: dict) -> str | None:
    """Which fields of the run folder's saved configuration differ from the job's, or None."""
    saved = read_json(run_dir / "config.json")
    if not saved or "config" not in saved:
        return None
    want = resolve(overrides).to_dict()
    diff = sorted(
        k for k in set(want) | set(saved["config"]) if k not in MUTABLE_FIELDS and saved["config"].get(k) != want.get(k)
    )
    if not diff:
        return None
    shown = ", ".join(f"{k} (saved {saved['config'].get(k)!r}, suite {want.get(k)!r})" for k in diff[:4])
    return f"run folder holds a run with another configuration: {shown}; delete it or choose another --out"


def _prepare_process(share_device: bool, threads: int | None) -> None:
    """Environment of a fresh job process, before JAX is imported."""
    if share_device:  # several runs on one accelerator: allocate memory on demand
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    if threads:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(var, str(threads))


def run_job(job: dict) -> dict:
    """Train (or resume) one job's run folder. Never raises: failures are returned and written to error.txt.

    The entry point of both backends (a spawned process of the local pool, a Ray task).
    """
    t0 = time.time()
    run_dir = Path(job["run_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    _prepare_process(job.get("share_device", False), job.get("threads"))
    enable_compilation_cache()  # jobs of one sweep share compilations (same agent, same shapes)
    result = {"name": job["name"], "pid": os.getpid(), "started_at": t0}
    log = open(run_dir / LOG_FILE, "a")  # noqa: SIM115 - closed below
    old_out, old_err = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = log
    try:
        # deferred until _prepare_process has set this process's environment (NumPy and JAX read it as they load)
        from fidec.train import Trainer

        config = resolve(job["overrides"])
        with RunLock(run_dir):  # nothing is written into a folder another process holds
            summary = _prepare_folder(job, run_dir)
        # released for the Trainer, which takes the lock again: a process that took it meanwhile makes this job
        # HELD (below), and the folder's status is read again when the job is retried
        if summary and summary.get("final_step") == config.total_steps:
            action = "skipped"
        elif pending_stop():  # the sweep was asked to stop while this process started: nothing to checkpoint yet
            raise Preempted(f"stopped by {pending_stop().name} before training")
        else:
            print(f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] job {job['name']} in pid {os.getpid()}", flush=True)
            if (run_dir / "config.json").exists():
                action = "resumed"
                trainer = Trainer.resume(
                    run_dir, steps=config.steps, online_steps=config.online_steps or None, progress=False
                )
            else:
                action = "started"
                trainer = Trainer.create(config, run_dir, progress=False)
            result["from_step"] = trainer.step
            summary = trainer.run()
        (run_dir / ERROR_FILE).unlink(missing_ok=True)
        result.update(status=DONE, action=action, score_mean=summary.get("score_mean"))
    except RunFolderBusy as e:  # another process trains this run: not ours to record
        result.update(status=HELD, action="held", error=str(e))
    except KeyboardInterrupt:  # stopped (Ctrl-C, or a stop request: Preempted), not failed: the next sweep resumes it
        result.update(status=INTERRUPTED, action="interrupted", error="interrupted")
    except BaseException as e:  # noqa: BLE001 - recorded, never propagated (the other runs go on)
        tb = traceback.format_exc()
        msg = f"{type(e).__name__}: {e}".splitlines()[0] if str(e) else type(e).__name__
        atomic_write_text(run_dir / ERROR_FILE, f"{msg}\n\n{tb}")
        result.update(status=FAILED, action="failed", error=msg, traceback=tb)
    finally:
        sys.stdout, sys.stderr = old_out, old_err
        log.close()
    result["wall_s"] = time.time() - t0
    return result


def _prepare_folder(job: dict, run_dir: Path) -> dict | None:
    """Under the run folder's lock: check the saved configuration, write ``sweep.json`` (and each ε sub-run's),
    and return the folder's summary (None before a run finished)."""
    write_json(run_dir / JOB_FILE, {k: job[k] for k in ("name", "agent", "env", "tag", "seeds", "suite") if k in job})
    conflict = config_conflict(run_dir, job["overrides"])
    if conflict:
        raise FidecError(conflict)
    for sub, tag in (job.get("sub_tags") or {}).items():  # each ε's folder is reported as the job it replaces
        (run_dir / sub).mkdir(exist_ok=True)
        write_json(
            run_dir / sub / JOB_FILE,
            {"name": f"{job['name']}/{sub}", "tag": tag, **{k: job[k] for k in ("agent", "env", "seeds")}},
        )
    return read_json(run_dir / "summary.json")


def failed_result(job: dict, error: str) -> dict:
    """A failure seen from outside the job (its process died): recorded in the job's error.txt, unless another
    process holds the run folder now (then the job is HELD, and the folder is left to that process)."""
    run_dir = Path(job["run_dir"])
    try:
        with RunLock(run_dir):
            atomic_write_text(run_dir / ERROR_FILE, error + "\n")
    except RunFolderBusy as e:
        return {"name": job["name"], "status": HELD, "action": "held", "error": str(e)}
    return {"name": job["name"], "status": FAILED, "action": "failed", "error": error.splitlines()[0]}
