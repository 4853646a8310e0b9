"""Benchmark sweeps: a suite file (agents x tasks x seeds x overrides) run as independent training runs.

A *suite* is a TOML (or YAML) file, either one shipped in ``fidec/suites/`` (``smoke``, ``cpu``,
``paper``) or a user file. Schema (every key but ``agents`` and ``tasks`` is optional)::

    name = "cpu"                      # default: the file's stem
    description = "..."
    agents = ["fd", "deflow", "fql", "bc"]  # also "iql", "rebrac"
    tasks = ["cube-single-play-singletask-task{1..5}-v0"]   # {a..b} and {x,y} expand like the shell
    seeds = [0, 1, 2]                 # --seeds overrides
    seeds_per_process = 3             # consecutive seeds of one configuration trained in one process
    cpus_per_run = 1                  # CPUs a run needs (local pool size = cores // cpus_per_run; Ray num_cpus)
    gpus_per_run = 0                  # Ray num_gpus of each run (fractions share a GPU)
    dataset_dir = "{out}/data"        # default: $FIDEC_DATASET_DIR or ~/.ogbench/data; {out} = the sweep folder

    [datasets]                        # every dataset the tasks need -> train episodes to generate if missing
    "cube-single-play-v0" = 1000      # (0: OGBench's recipe count; ignored for download-only datasets)

    [config]                          # Config fields for every run (preset first, then overrides)
    preset = "cpu"
    steps = 100000

    [agent_config.fql]                # Config fields for one agent's runs
    fql_alpha = 300.0

    [grid]                            # key -> list of values: every combination is a variant (all agents)
    target_divergence = [0.001, 0.01]

    [agent_grid.fd]                   # a grid for one agent only
    fisher_locality = ["per-state", "per-action"]
    # a value may be a table: its fields vary together (the key only names the axis), e.g.
    # estimator = [{fisher_locality = "per-state"}, {fisher_locality = "per-action", score_estimator = "exact"}]

Each job is one training process: ``OUT/<agent>/<env>/<variant>/seed<S>`` (or ``seeds<S>-<T>`` when
``seeds_per_process`` > 1), a normal run folder of :mod:`fidec.runs` plus ``sweep.json`` (which job it is)
and, if it failed, ``error.txt`` (error and traceback). The variant is ``base`` without a grid, else
``key=value,...``. ``OUT/sweep_status.json`` lists every job's status, read from the folders, whenever a job
starts or ends.

Status of a job folder: *done* (``summary.json`` with ``final_step`` == the suite's steps), *running* (a process
holds the folder's lock), *interrupted* (a run was started: resumed exactly from its checkpoint with
:meth:`Trainer.resume`), *failed* (``error.txt``; retried on the next sweep unless ``--no-retry-failed``),
*conflict* (the folder holds a run with another configuration: never touched), *pending* (nothing yet). Sweeps on
one folder cooperate: a run another process holds is waited for, and taken over if it is left unfinished.

Modules: :mod:`~fidec.sweep.suites` (the file and its schema), :mod:`~fidec.sweep.jobs` (a suite's jobs),
:mod:`~fidec.sweep.status` (what each job's folder holds), :mod:`~fidec.sweep.job` (one job, in its own
process), :mod:`~fidec.sweep.datasets` (the datasets the jobs need), :mod:`~fidec.sweep.runner` (the sweep).
The command is :mod:`fidec.commands.sweep`.

Backends (:mod:`fidec.procs`): ``local`` runs jobs in a pool of spawned processes (one fresh process per
job); ``ray`` submits each job as a Ray task (``ray.init(address=...)``; a cluster needs fidec installed on
every node and the sweep folder and dataset directory on a shared filesystem).
"""

from __future__ import annotations

import importlib

# name -> the module that defines it. Loaded on first use: a job's process imports fidec.sweep.job alone, and
# must set its environment before NumPy and JAX load (see fidec.sweep.job).
_EXPORTS = {
    "fidec.sweep.suites": (
        "JOB_FIELDS SUITE_FIELDS SUITE_KEYS SUITE_SUFFIXES Suite check_suite_types expand_braces find_suite "
        "load_suite packaged_suites validate_suite"
    ),
    "fidec.sweep.jobs": (
        "Job expand parse_seeds parse_set seed_groups suite_dataset_dir variants vmap_target_divergences"
    ),
    "fidec.sweep.status": (
        "COUNTED STATUS_FILE SWEEP_LOCK SweepResult format_status job_status run_holder sweep_lock write_status"
    ),
    "fidec.sweep.job": (
        "CONFLICT DONE ERROR_FILE FAILED HELD INTERRUPTED JOB_FILE LOG_FILE MUTABLE_FIELDS PENDING RUNNING "
        "config_conflict failed_result run_job"
    ),
    "fidec.sweep.datasets": "ensure_datasets",
    "fidec.sweep.runner": "BACKENDS GRACE_S POLL_S RAY_MAX_RETRIES LocalRuns RayRuns run_sweep",
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names.split()}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'fidec.sweep' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
