"""Benchmark sweeps: a suite file (agents x tasks x seeds x overrides) run as independent training runs.

A *suite* is a TOML (or YAML) file, either one shipped in ``fidec/suites/`` (``smoke``, ``cpu``,
``paper``) or a user file. Schema (every key but ``agents`` and ``tasks`` is optional)::

    name = "cpu"                      # default: the file's stem
    description = "..."
    agents = ["fd", "deflow", "fql", "bc"]
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
``key=value,...``. ``OUT/sweep_status.json`` lists every job's status after each completion.

Status of a job folder: *done* (``summary.json`` with ``final_step`` == the suite's steps), *interrupted*
(a run was started: resumed exactly from its checkpoint with :meth:`Trainer.resume`), *failed*
(``error.txt``; retried on the next sweep unless ``--no-retry-failed``), *conflict* (the folder holds a run
with another configuration: never touched), *pending* (nothing yet).

Backends: ``local`` runs jobs in a pool of spawned processes (one fresh process per job); ``ray`` submits
each job as a Ray task (``ray.init(address=...)``; a cluster needs fidec installed on every node and the
sweep folder and dataset directory on a shared filesystem).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import itertools
import json
import math
import os
import re
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from fidec.console import enable_compilation_cache
from fidec.errors import ConfigError, FidecError
from fidec.io import atomic_write_text, read_json, write_json

SUITE_SUFFIXES = (".toml", ".yaml", ".yml")
STATUS_FILE = "sweep_status.json"
JOB_FILE = "sweep.json"
ERROR_FILE = "error.txt"
LOG_FILE = "sweep.log"
BACKENDS = ("local", "ray")

DONE, INTERRUPTED, FAILED, CONFLICT, PENDING = "done", "interrupted", "failed", "conflict", "pending"

SUITE_KEYS = {
    "name",
    "description",
    "agents",
    "tasks",
    "seeds",
    "seeds_per_process",
    "cpus_per_run",
    "gpus_per_run",
    "dataset_dir",
    "datasets",
    "config",
    "agent_config",
    "grid",
    "agent_grid",
    "vmap_target_divergence",
}
#: Config fields a suite may not set in [config]/[grid]: the sweep sets them per job.
JOB_FIELDS = {"agent", "env", "seed", "num_seeds", "dataset_dir", "family"}
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


# ---------------------------------------------------------------------------------------------- suites
@dataclass
class Suite:
    name: str
    source: str  # the file it came from
    text: str  # the file's content (saved into the sweep folder)
    agents: list[str]
    tasks: list[str]
    seeds: list[int] = field(default_factory=lambda: [0])
    seeds_per_process: int = 1
    cpus_per_run: float = 1
    gpus_per_run: float = 0
    dataset_dir: str | None = None
    datasets: dict[str, int] = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    agent_config: dict[str, dict] = field(default_factory=dict)
    grid: dict[str, list] = field(default_factory=dict)
    agent_grid: dict[str, dict[str, list]] = field(default_factory=dict)
    description: str = ""
    vmap_target_divergence: bool = False  # the grid's target divergences of one configuration in one process

    @property
    def fmt(self) -> str:
        return "yaml" if Path(self.source).suffix in (".yaml", ".yml") else "toml"


def packaged_suites() -> dict[str, Path]:
    """Suites shipped with fidec: name -> file."""
    from importlib.resources import files

    root = files("fidec") / "suites"
    out = {}
    try:
        for entry in root.iterdir():
            p = Path(str(entry))
            if p.suffix in SUITE_SUFFIXES:
                out[p.stem] = p
    except (FileNotFoundError, NotADirectoryError):
        pass
    return dict(sorted(out.items()))


def find_suite(name_or_path: str) -> Path:
    """A packaged suite by name (``cpu``) or a user's suite file by path."""
    p = Path(name_or_path).expanduser()
    if p.is_file():
        return p
    known = packaged_suites()
    if name_or_path in known:
        return known[name_or_path]
    if p.suffix in SUITE_SUFFIXES or os.sep in name_or_path:
        raise FidecError(f"suite file {p} does not exist")
    raise FidecError(
        f"unknown suite {name_or_path!r}; packaged suites: {', '.join(known)} (or give a .toml/.yaml path)"
    )


def expand_braces(pattern: str) -> list[str]:
    """Shell-style brace expansion: ``task{1..3}`` -> task1, task2, task3; ``{a,b}`` -> a, b."""
    m = re.search(r"\{([^{}]*)\}", pattern)
    if not m:
        return [pattern]
    body = m.group(1)
    rng = re.fullmatch(r"(-?\d+)\.\.(-?\d+)", body)
    if rng:
        a, b = int(rng.group(1)), int(rng.group(2))
        items = [str(i) for i in (range(a, b + 1) if a <= b else range(a, b - 1, -1))]
    elif "," in body:
        items = body.split(",")
    else:
        return [pattern]
    out = []
    for item in items:
        out += expand_braces(pattern[: m.start()] + item + pattern[m.end() :])
    return out


def _parse(path: Path) -> dict:
    text = path.read_text()
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml  # PyYAML comes with flax

            data = yaml.safe_load(text)
        else:
            try:
                import tomllib
            except ImportError:  # Python 3.10: the same parser as the 'tomli' package
                import tomli as tomllib

            data = tomllib.loads(text)
    except ImportError as e:
        raise FidecError(f"cannot read {path}: {e} (TOML suites need Python >= 3.11 or 'pip install tomli')") from None
    except Exception as e:  # noqa: BLE001 - a syntax error in the user's file
        raise FidecError(f"cannot parse suite {path}: {e}") from None
    if not isinstance(data, dict):
        raise FidecError(f"suite {path} must be a table of keys (see 'fidec sweep --help')")
    return data


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def check_suite_types(data: dict, where: str) -> None:
    """Every suite key has the type and range the schema says (one-line ``FidecError`` otherwise), so that
    nothing below meets a string where a number or a table belongs. Config values are checked later, when
    each run's Config is resolved."""

    def need(ok: bool, what: str) -> None:
        if not ok:
            raise FidecError(f"{where}: {what}")

    for key in ("agents", "tasks"):
        v = data.get(key)
        need(
            isinstance(v, list) and v and all(isinstance(x, str) for x in v),
            f"'{key}' must be a non-empty list of names",
        )
    for key in ("name", "description", "dataset_dir"):
        need(key not in data or isinstance(data[key], str), f"'{key}' must be a string, got {data.get(key)!r}")
    seeds = data.get("seeds", [0])
    need(
        isinstance(seeds, list) and seeds and all(_is_int(s) and s >= 0 for s in seeds),
        "'seeds' must be a non-empty list of non-negative integers",
    )
    vm = data.get("vmap_target_divergence", False)
    need(isinstance(vm, bool), f"vmap_target_divergence must be true or false, got {vm!r}")
    spp = data.get("seeds_per_process", 1)
    need(_is_int(spp) and spp >= 1, f"seeds_per_process must be an integer >= 1, got {spp!r}")
    cpus, gpus = data.get("cpus_per_run", 1), data.get("gpus_per_run", 0)
    need(_is_num(cpus) and cpus > 0, f"cpus_per_run must be a number > 0, got {cpus!r}")
    need(_is_num(gpus) and gpus >= 0, f"gpus_per_run must be a number >= 0, got {gpus!r}")
    datasets = data.get("datasets") or {}
    need(isinstance(datasets, dict), "[datasets] must be a table of dataset name = episodes")
    for k, v in datasets.items():
        need(_is_int(v) and v >= 0, f"[datasets] {k} must be an episode count >= 0 (0: OGBench's recipe), got {v!r}")
    need(isinstance(data.get("config") or {}, dict), "[config] must be a table of config fields")
    for key in ("agent_config", "grid", "agent_grid"):
        need(isinstance(data.get(key) or {}, dict), f"[{key}] must be a table")
    for a, t in (data.get("agent_config") or {}).items():
        need(isinstance(t, dict), f"[agent_config.{a}] must be a table of config fields")
    grids = [("grid", data.get("grid") or {})]
    grids += [(f"agent_grid.{a}", g) for a, g in (data.get("agent_grid") or {}).items()]
    for name, g in grids:
        need(isinstance(g, dict), f"[{name}] must be a table of field = [values]")
        for k, v in g.items():
            need(isinstance(v, list), f"[{name}] {k} must be a list of values, got {v!r}")


def load_suite(name_or_path: str) -> Suite:
    """Read and validate a suite; every job's configuration is resolved, so errors come before any work."""
    path = find_suite(name_or_path)
    data = _parse(path)
    where = f"suite {path}"
    unknown = sorted(set(data) - SUITE_KEYS)
    if unknown:
        raise FidecError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(SUITE_KEYS))}")
    check_suite_types(data, where)
    tasks = [t for pat in data["tasks"] for t in expand_braces(pat)]
    seeds = data.get("seeds", [0])
    suite = Suite(
        name=str(data.get("name", path.stem)),
        source=str(path),
        text=path.read_text(),
        agents=[str(a) for a in data["agents"]],
        tasks=list(dict.fromkeys(tasks)),
        seeds=sorted(set(seeds)),
        seeds_per_process=int(data.get("seeds_per_process", 1)),
        cpus_per_run=data.get("cpus_per_run", 1),
        gpus_per_run=data.get("gpus_per_run", 0),
        dataset_dir=data.get("dataset_dir"),
        datasets={str(k): int(v) for k, v in (data.get("datasets") or {}).items()},
        config=dict(data.get("config") or {}),
        agent_config={str(k): dict(v) for k, v in (data.get("agent_config") or {}).items()},
        grid={str(k): list(v) for k, v in (data.get("grid") or {}).items()},
        agent_grid={str(a): {str(k): list(v) for k, v in g.items()} for a, g in (data.get("agent_grid") or {}).items()},
        description=str(data.get("description", "")),
        vmap_target_divergence=bool(data.get("vmap_target_divergence", False)),
    )
    validate_suite(suite)
    return suite


def validate_suite(suite: Suite) -> None:
    from fidec.config import AGENTS
    from fidec.data.catalog import dataset_name_for_env

    where = f"suite {suite.source}"
    bad = [a for a in suite.agents if a not in AGENTS]
    if bad:
        raise FidecError(f"{where}: unknown agent(s) {', '.join(bad)}; choose from {', '.join(AGENTS)}")
    if suite.seeds_per_process < 1:
        raise FidecError(f"{where}: seeds_per_process must be >= 1")
    if not suite.cpus_per_run or suite.cpus_per_run <= 0 or suite.gpus_per_run < 0:
        raise FidecError(f"{where}: cpus_per_run must be > 0 and gpus_per_run >= 0")
    for name, table in [("config", suite.config), ("grid", suite.grid)] + [
        (f"agent_config.{a}", t) for a, t in suite.agent_config.items()
    ]:
        clash = sorted(set(table) & JOB_FIELDS)
        if clash:
            raise FidecError(f"{where}: [{name}] may not set {', '.join(clash)} (the sweep sets them per run)")
    for a in list(suite.agent_config) + list(suite.agent_grid):
        if a not in AGENTS:
            raise FidecError(f"{where}: per-agent table for unknown agent {a!r}")
    for name, g in [("grid", suite.grid)] + [(f"agent_grid.{a}", g) for a, g in suite.agent_grid.items()]:
        for k, v in g.items():
            if not v:
                raise FidecError(f"{where}: [{name}] {k} needs at least one value")
            varied = {kk for x in v if isinstance(x, dict) for kk in x} or {k}
            if varied & JOB_FIELDS:
                raise FidecError(f"{where}: [{name}] may not vary {', '.join(sorted(varied & JOB_FIELDS))}")
    from fidec.data.loading import check_env

    for t in suite.tasks:  # before [datasets]: a misspelled task is an unknown task, not a missing dataset
        try:
            check_env(t)
        except ConfigError as e:
            raise FidecError(f"{where}: {e}") from None
    needed = sorted({dataset_name_for_env(t) for t in suite.tasks})
    missing = [d for d in needed if d not in suite.datasets]
    if missing:
        raise FidecError(
            f"{where}: [datasets] must name every dataset the tasks use; add "
            + ", ".join(f'"{d}" = EPISODES' for d in missing)
        )
    extra = sorted(set(suite.datasets) - set(needed))
    if extra:
        raise FidecError(f"{where}: [datasets] names dataset(s) no task uses: {', '.join(extra)}")


# ---------------------------------------------------------------------------------------------- jobs
@dataclass
class Job:
    """One training process: an agent on a task with one variant of overrides, for a group of seeds."""

    name: str  # relative run folder, e.g. 'fd/cube-single-play-singletask-task1-v0/base/seed0-2'
    agent: str
    env: str
    tag: str
    seeds: list[int]
    overrides: dict  # the input of fidec.config.resolve
    run_dir: str  # absolute
    status: str = PENDING
    error: str | None = None
    sub_tags: dict | None = None  # a --target-divergences job: each ε's variant tag (its sub-run's sweep.json)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _fmt_value(v) -> str:
    if isinstance(v, (list, tuple)):
        return "x".join(_fmt_value(x) for x in v)
    if isinstance(v, bool):
        return str(v).lower()
    return re.sub(r"[^A-Za-z0-9._+-]", "_", str(v))


def variants(grid: dict[str, list]) -> list[tuple[str, dict]]:
    """(tag, overrides) for every combination of the grid; ``base`` for an empty grid."""
    if not grid:
        return [("base", {})]
    keys = list(grid)
    out = []
    for combo in itertools.product(*(grid[k] for k in keys)):
        ov: dict = {}
        for k, v in zip(keys, combo, strict=True):
            ov.update(v if isinstance(v, dict) else {k: v})  # a table's fields vary together
        out.append((",".join(f"{k}={_fmt_value(v)}" for k, v in ov.items()), ov))
    return out


def seed_groups(seeds: list[int], per_process: int) -> list[list[int]]:
    """Consecutive runs of seeds, each cut into groups of at most ``per_process`` (Config.num_seeds needs
    consecutive seeds)."""
    seeds = sorted(set(seeds))
    runs: list[list[int]] = []
    for s in seeds:
        if runs and runs[-1][-1] == s - 1:
            runs[-1].append(s)
        else:
            runs.append([s])
    return [r[i : i + per_process] for r in runs for i in range(0, len(r), per_process)]


def suite_dataset_dir(suite: Suite, out: Path, override: str | None = None) -> Path:
    from fidec.paths import dataset_dir

    raw = override or (suite.dataset_dir.replace("{out}", str(out)) if suite.dataset_dir else None)
    return dataset_dir(raw).resolve()


def expand(
    suite: Suite,
    out: str | os.PathLike,
    seeds: list[int] | None = None,
    agents: list[str] | None = None,
    tasks: list[str] | None = None,
    overrides: dict | None = None,
    dataset_dir: str | None = None,
    variants_filter: list[str] | None = None,
) -> list[Job]:
    """The suite's jobs (filtered by ``agents``, ``tasks`` and ``variants_filter`` globs on the variant tag),
    each with its resolved configuration checked."""
    from fidec.config import resolve

    out = Path(out).resolve()
    ds_dir = str(suite_dataset_dir(suite, out, dataset_dir))
    seeds = sorted(set(seeds)) if seeds else suite.seeds
    jobs = []
    for agent in suite.agents:
        if agents and agent not in agents:
            continue
        grid = {**suite.grid, **suite.agent_grid.get(agent, {})}
        for env in suite.tasks:
            if tasks and not any(fnmatch.fnmatch(env, p) or p == env for p in tasks):
                continue
            for tag, var in variants(grid):
                if variants_filter and not any(fnmatch.fnmatch(tag, p) for p in variants_filter):
                    continue
                for group in seed_groups(seeds, suite.seeds_per_process):
                    ov = {**suite.config, **suite.agent_config.get(agent, {}), **var, **(overrides or {})}
                    ov.update(agent=agent, env=env, seed=group[0], num_seeds=len(group), dataset_dir=ds_dir)
                    try:
                        resolve(ov)
                    except ConfigError as e:
                        raise FidecError(f"suite {suite.source}: {agent} on {env} ({tag}): {e}") from None
                    sname = f"seed{group[0]}" if len(group) == 1 else f"seeds{group[0]}-{group[-1]}"
                    name = f"{agent}/{env}/{tag}/{sname}"
                    jobs.append(Job(name, agent, env, tag, group, ov, str(out / name)))
    if not jobs:
        raise FidecError("no runs match the --agents/--tasks/--variants filters")
    if suite.vmap_target_divergence:
        jobs = vmap_target_divergences(jobs, out)
    return jobs


def _without_eps(tag: str) -> str:
    parts = [p for p in tag.split(",") if not p.startswith("target_divergence=")]
    return ",".join(parts) or "base"


def vmap_target_divergences(jobs: list[Job], out: Path) -> list[Job]:
    """Merge the jobs that differ only in ``target_divergence`` (fd/deflow) into one process each, which trains
    the ε × seed grid vmapped (``Config.target_divergences``) and writes one sub-run folder per ε, tagged as the
    job it replaces. On a GPU the update is latency-bound, so a whole grid costs about what one ε does."""
    from fidec.config import AGENT_METRIC, resolve
    from fidec.train import sub_run_name

    groups: dict[tuple, list[Job]] = {}
    order: list = []
    for j in jobs:
        if j.agent not in AGENT_METRIC or "target_divergence" not in j.overrides:
            order.append(j)
            continue
        rest = {k: v for k, v in j.overrides.items() if k != "target_divergence"}
        key = (j.agent, j.env, tuple(j.seeds), _without_eps(j.tag), json.dumps(rest, sort_keys=True, default=str))
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(j)
    merged = []
    for item in order:
        if isinstance(item, Job):
            merged.append(item)
            continue
        members = groups[item]
        if len(members) == 1:
            merged.append(members[0])
            continue
        eps = tuple(sorted(float(j.overrides["target_divergence"]) for j in members))
        j0 = members[0]
        ov = {k: v for k, v in j0.overrides.items() if k != "target_divergence"}
        ov["target_divergences"] = eps
        resolve(ov)
        rest = _without_eps(j0.tag)
        tag = ("" if rest == "base" else rest + ",") + "target_divergences=" + "x".join(f"{e:g}" for e in eps)
        sname = Path(j0.name).name
        name = f"{j0.agent}/{j0.env}/{tag}/{sname}"
        sub_tags = {sub_run_name(float(j.overrides["target_divergence"])): j.tag for j in members}
        merged.append(Job(name, j0.agent, j0.env, tag, j0.seeds, ov, str(out / name), sub_tags=sub_tags))
    return merged


# ---------------------------------------------------------------------------------------------- status
def config_conflict(run_dir: Path, overrides: dict) -> str | None:
    """Which fields of the run folder's saved configuration differ from the job's, or None."""
    from fidec.config import resolve

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


def job_status(job: Job) -> tuple[str, str | None]:
    """(status, error) of a job's run folder."""
    from fidec import checkpoint

    run_dir = Path(job.run_dir)
    from fidec.config import resolve

    steps = resolve(job.overrides).total_steps  # offline steps, then the online phase's updates
    summary = read_json(run_dir / "summary.json")
    started = (run_dir / "config.json").exists() or checkpoint.exists(run_dir)
    if started:
        conflict = config_conflict(run_dir, job.overrides)
        if conflict:
            return CONFLICT, conflict
    if summary and summary.get("final_step") == steps:
        return DONE, None
    if summary and (summary.get("final_step") or 0) > steps:
        return CONFLICT, (
            f"run folder holds a longer run ({summary.get('final_step')} steps) than the suite asks ({steps})"
        )
    err = run_dir / ERROR_FILE
    if err.exists():
        first = next((ln for ln in err.read_text().splitlines() if ln.strip()), "failed")
        return FAILED, first
    if started:
        return INTERRUPTED, None
    return PENDING, None


# ---------------------------------------------------------------------------------------------- one job
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
        from fidec.config import resolve
        from fidec.train import Trainer

        config = resolve(job["overrides"])
        write_json(
            run_dir / JOB_FILE,
            {k: job[k] for k in ("name", "agent", "env", "tag", "seeds", "suite") if k in job},
        )
        conflict = config_conflict(run_dir, job["overrides"])
        if conflict:
            raise FidecError(conflict)
        for sub, tag in (job.get("sub_tags") or {}).items():  # each ε's folder is reported as the job it replaces
            (run_dir / sub).mkdir(exist_ok=True)
            write_json(
                run_dir / sub / JOB_FILE,
                {"name": f"{job['name']}/{sub}", "tag": tag, **{k: job[k] for k in ("agent", "env", "seeds")}},
            )
        summary = read_json(run_dir / "summary.json")
        if summary and summary.get("final_step") == config.total_steps:
            action = "skipped"
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
    except KeyboardInterrupt:  # stopped, not failed: the next sweep resumes it from its checkpoint
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


def _failed_result(job: dict, error: str) -> dict:
    """A failure seen from outside the job (its process died): recorded in the job's error.txt."""
    run_dir = Path(job["run_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / ERROR_FILE, error + "\n")
    return {"name": job["name"], "status": FAILED, "action": "failed", "error": error.splitlines()[0]}


# ---------------------------------------------------------------------------------------------- backends
def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def run_local(payloads: list[dict], workers: int, on_result) -> None:
    """Each job in its own spawned process, ``workers`` at a time."""
    import concurrent.futures as cf
    import multiprocessing as mp

    from fidec.procs import die_with_parent

    # a fresh process per job: no JAX state or memory carried over; none outlives this process
    kw = {"max_workers": workers, "mp_context": mp.get_context("spawn"), "max_tasks_per_child": 1}
    kw.update(initializer=die_with_parent, initargs=(os.getpid(),))
    with cf.ProcessPoolExecutor(**kw) as pool:
        futures = {pool.submit(run_job, p): p for p in payloads}
        try:
            for fut in cf.as_completed(futures):
                p = futures[fut]
                try:
                    res = fut.result()
                except Exception as e:  # noqa: BLE001 - e.g. BrokenProcessPool: the worker died
                    res = _failed_result(p, f"worker process died: {type(e).__name__}: {e} (killed or out of memory?)")
                on_result(p, res)
        except KeyboardInterrupt:
            for f in futures:
                f.cancel()
            raise


def run_ray(payloads: list[dict], address: str | None, cpus: float, gpus: float, on_result) -> None:
    """Each job as a Ray task with ``num_cpus``/``num_gpus`` (a fresh worker process per task)."""
    try:
        import ray
    except ImportError:
        raise FidecError(
            "backend 'ray' needs Ray, which is not installed: pip install 'fidec[ray]' (or use --backend local)"
        ) from None
    started = False
    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False)
        started = True
    try:
        remote = ray.remote(num_cpus=cpus, num_gpus=gpus, max_calls=1, max_retries=1)(run_job)
        refs = {remote.remote(p): p for p in payloads}
        try:
            while refs:
                ready, _ = ray.wait(list(refs), num_returns=1)
                for ref in ready:
                    p = refs.pop(ref)
                    try:
                        res = ray.get(ref)
                    except Exception as e:  # noqa: BLE001 - the task's worker died, node lost, ...
                        res = _failed_result(p, f"Ray task failed: {type(e).__name__}: {e}")
                    on_result(p, res)
        except KeyboardInterrupt:
            for ref in refs:
                ray.cancel(ref, force=True)
            raise
    finally:
        if started:
            ray.shutdown()


# ---------------------------------------------------------------------------------------------- datasets
def ensure_datasets(suite: Suite, jobs: list[Job], generate: bool, workers: int, log=print) -> list[str]:
    """Generate the missing generatable datasets the jobs need (suite's episode counts); returns the names
    generated. Raises one error naming every dataset that is missing and is not generated."""
    from fidec.data.catalog import dataset_name_for_env, get_spec
    from fidec.paths import dataset_files

    by_dir: dict[str, set[str]] = {}
    for j in jobs:
        by_dir.setdefault(j.overrides["dataset_dir"], set()).add(dataset_name_for_env(j.env))
    made, problems = [], []
    for d, names in by_dir.items():
        for name in sorted(names):
            if all(p.exists() for p in dataset_files(name, d)):
                continue
            spec = get_spec(name)
            eps = suite.datasets.get(name) or spec.episodes
            if not spec.generatable:
                problems.append(
                    f"{name} is missing from {d} and cannot be generated here ({spec.reason}); "
                    f"get it with 'fidec data download {name} --dataset-dir {d}' or leave its tasks out with --tasks"
                )
            elif not generate:
                problems.append(
                    f"{name} is missing from {d}; create it with "
                    f"'fidec data generate {name} --episodes {eps} --dataset-dir {d}' (or drop --no-generate)"
                )
            else:
                from fidec.data.generate import generate_dataset

                log(f"generating {name} ({eps} episodes) into {d} ...")
                generate_dataset(name, episodes=eps, seed=0, workers=workers, dataset_dir=d, progress=True)
                made.append(name)
    if problems:
        raise FidecError("; ".join(problems))
    return made


# ---------------------------------------------------------------------------------------------- sweep
@dataclass
class SweepResult:
    out: Path
    jobs: list[Job]
    results: dict[str, dict]  # name -> result of the jobs run now
    status_path: Path

    def counts(self) -> dict[str, int]:
        c = {DONE: 0, FAILED: 0, PENDING: 0}
        for j in self.jobs:
            c[_summary_status(j.status)] += 1
        return c

    @property
    def ok(self) -> bool:
        return all(j.status == DONE for j in self.jobs)


def _summary_status(status: str) -> str:
    return {DONE: DONE, FAILED: FAILED, CONFLICT: FAILED}.get(status, PENDING)


def write_status(out: Path, suite: Suite, jobs: list[Job], results: dict[str, dict], backend: str) -> Path:
    runs = []
    for j in jobs:
        r = results.get(j.name, {})
        runs.append(
            {
                "name": j.name,
                "status": _summary_status(j.status),
                "detail": j.status,
                "agent": j.agent,
                "env": j.env,
                "variant": j.tag,
                "seeds": j.seeds,
                "error": j.error,
                "action": r.get("action"),
                "wall_s": r.get("wall_s"),
            }
        )
    counts = {DONE: 0, FAILED: 0, PENDING: 0}
    for r in runs:
        counts[r["status"]] += 1
    path = out / STATUS_FILE
    write_json(
        path,
        {
            "suite": suite.name,
            "suite_file": suite.source,
            "backend": backend,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "counts": counts,
            "runs": runs,
        },
    )
    return path


def format_status(result: SweepResult) -> str:
    c = result.counts()
    interrupted = sum(j.status == INTERRUPTED for j in result.jobs)
    lines = [
        f"sweep {result.out}: {c[DONE]} done, {c[FAILED]} failed, {c[PENDING]} pending"
        + (f" ({interrupted} interrupted)" if interrupted else "")
        + f" of {len(result.jobs)} runs; status in {result.status_path}"
    ]
    for j in result.jobs:
        if j.status in (FAILED, CONFLICT):
            lines.append(f"  failed  {j.name}: {j.error}  (see {Path(j.run_dir) / ERROR_FILE})")
    for j in result.jobs:
        if _summary_status(j.status) == PENDING:
            lines.append(f"  {j.status:8s}{j.name}")
    return "\n".join(lines)


def run_sweep(
    suite: Suite | str,
    out: str | os.PathLike | None = None,
    backend: str = "local",
    *,
    seeds: list[int] | None = None,
    agents: list[str] | None = None,
    tasks: list[str] | None = None,
    variants_filter: list[str] | None = None,
    overrides: dict | None = None,
    workers: int | None = None,
    ray_address: str | None = None,
    cpus_per_run: float | None = None,
    gpus_per_run: float | None = None,
    dataset_dir: str | None = None,
    generate: bool = True,
    retry_failed: bool = True,
    dry_run: bool = False,
    log=print,
) -> SweepResult:
    """Run (or continue) a sweep: skip done runs, resume interrupted ones, start pending ones."""
    if isinstance(suite, str):
        suite = load_suite(suite)
    if backend not in BACKENDS:
        raise FidecError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    out = Path(out or Path("sweeps") / suite.name).resolve()
    jobs = expand(suite, out, seeds, agents, tasks, overrides, dataset_dir, variants_filter)
    for j in jobs:
        j.status, j.error = job_status(j)
    todo_status = {PENDING, INTERRUPTED} | ({FAILED} if retry_failed else set())
    todo = [j for j in jobs if j.status in todo_status]
    cpus = cpus_per_run or suite.cpus_per_run
    gpus = suite.gpus_per_run if gpus_per_run is None else gpus_per_run
    n_workers = workers or max(1, int(cpu_count() // cpus))
    n_workers = max(1, min(n_workers, len(todo))) if todo else 0
    results: dict[str, dict] = {}
    status_path = out / STATUS_FILE
    result = SweepResult(out, jobs, results, status_path)
    c = {s: sum(j.status == s for j in jobs) for s in (DONE, INTERRUPTED, FAILED, CONFLICT, PENDING)}
    log(
        f"suite {suite.name}: {len(jobs)} runs in {out}: {c[DONE]} done, {c[INTERRUPTED]} interrupted, "
        f"{c[FAILED]} failed{'' if retry_failed else ' (not retried)'}, {c[CONFLICT]} in conflict, "
        f"{c[PENDING]} pending"
    )
    if dry_run:
        for j in jobs:
            log(f"  {j.status:12s}{j.name}")
        return result
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / f"suite{'.yaml' if suite.fmt == 'yaml' else '.toml'}", suite.text)
    write_status(out, suite, jobs, results, backend)
    if not todo:
        log(format_status(result))
        return result

    ensure_datasets(suite, todo, generate, workers=n_workers or 1, log=log)
    by_name = {j.name: j for j in jobs}
    share = (backend == "local" and n_workers > 1) or (0 < gpus < 1)
    threads = max(1, int(cpus))
    payloads = [
        {**j.to_dict(), "suite": suite.name, "share_device": share, "threads": threads, "prior": j.status} for j in todo
    ]
    finished = 0

    def on_result(payload: dict, res: dict) -> None:
        nonlocal finished
        finished += 1
        j = by_name[payload["name"]]
        results[j.name] = res
        j.status = res["status"]
        j.error = res.get("error")
        write_status(out, suite, jobs, results, backend)
        what = res.get("action", res["status"])
        if res["status"] == INTERRUPTED:
            log(f"[{finished}/{len(todo)}] interrupted {j.name}")
        elif res["status"] == DONE:
            score = res.get("score_mean")
            extra = f", score {score:.3f}" if isinstance(score, (int, float)) else ""
            log(f"[{finished}/{len(todo)}] {what} -> done {j.name} ({res.get('wall_s', 0):.0f} s{extra})")
        else:
            log(f"[{finished}/{len(todo)}] FAILED {j.name}: {j.error}")

    where = f"{n_workers} local process(es)" if backend == "local" else f"Ray ({ray_address or 'local instance'})"
    log(f"running {len(todo)} run(s) on {where}")
    if backend == "local":
        run_local(payloads, n_workers, on_result)
    else:
        run_ray(payloads, ray_address, cpus, gpus, on_result)
    write_status(out, suite, jobs, results, backend)
    log(format_status(result))
    return result


# ---------------------------------------------------------------------------------------------- CLI
def parse_seeds(values: list[str] | None) -> list[int] | None:
    """``--seeds 0 1 2`` or ``--seeds 0-4`` or ``--seeds 0,1``."""
    if not values:
        return None
    out = []
    for v in values:
        for part in str(v).split(","):
            if not part:
                continue
            m = re.fullmatch(r"(\d+)-(\d+)", part)
            if m:
                out += list(range(int(m.group(1)), int(m.group(2)) + 1))
            elif part.isdigit():
                out.append(int(part))
            else:
                raise FidecError(f"--seeds: expected integers or ranges like 0-4, got {part!r}")
    return sorted(set(out))


def parse_set(items: list[str] | None) -> dict:
    """``--set steps=20000 --set hidden_dims=256,256``: Config fields, read as their flags read them."""
    from fidec.config import Config, from_text

    if not items:
        return {}
    names = {f.name for f in dataclasses.fields(Config)}
    out = {}
    for item in items:
        if "=" not in item:
            raise FidecError(f"--set expects KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        k = k.strip().replace("-", "_")
        if k not in names or k == "family":
            raise FidecError(f"--set: unknown config field {k!r} (see 'fidec train --help')")
        if k in JOB_FIELDS:
            raise FidecError(f"--set may not change {k} (the sweep sets it per run)")
        try:
            out[k] = from_text(k, v)
        except ConfigError as e:
            raise FidecError(f"--set {k}: {e}") from None
    return out


def cmd_sweep(args) -> int:
    if args.list:
        for name, path in packaged_suites().items():
            s = load_suite(str(path))
            print(f"{name:8s} {len(s.agents)} agents x {len(s.tasks)} tasks x {len(s.seeds)} seeds: {s.description}")
        return 0
    if not args.suite:
        raise FidecError("name a suite (" + ", ".join(packaged_suites()) + ") or a suite file; --list shows them")
    suite = load_suite(args.suite)
    if args.vmap_target_divergence:
        suite.vmap_target_divergence = True
    result = run_sweep(
        suite,
        args.out,
        args.backend,
        seeds=parse_seeds(args.seeds),
        agents=args.agents,
        tasks=args.tasks,
        variants_filter=args.variants,
        overrides=parse_set(args.set),
        workers=args.workers,
        ray_address=args.ray_address,
        cpus_per_run=args.cpus_per_run,
        gpus_per_run=args.gpus_per_run,
        dataset_dir=args.dataset_dir,
        generate=not args.no_generate,
        retry_failed=not args.no_retry_failed,
        dry_run=args.dry_run,
        log=lambda m: print(m, flush=True),
    )
    if args.report and not args.dry_run:
        from fidec.report import write_report

        path = write_report([result.out], result.out / "report")
        print(f"report: {path}")
    if args.dry_run:
        return 0
    return 0 if result.ok else 1


def register(sub) -> None:
    p = sub.add_parser(
        "sweep",
        help="run a benchmark suite (agents x tasks x seeds x overrides), locally or on Ray",
        description=(
            "Run a suite: a packaged one (smoke, cpu, paper) or a .toml/.yaml file. Re-running skips finished "
            "runs, resumes interrupted ones and retries failed ones; OUT/sweep_status.json lists every run."
        ),
    )
    p.add_argument("suite", nargs="?", help="suite name or file")
    p.add_argument("--list", action="store_true", help="list the packaged suites and exit")
    p.add_argument("--backend", choices=BACKENDS, default="local", help="local process pool or Ray (default local)")
    p.add_argument("--ray-address", default=None, help="Ray cluster address (default: RAY_ADDRESS or a local instance)")
    p.add_argument("--out", default=None, help="sweep folder (default sweeps/SUITE)")
    p.add_argument("--seeds", nargs="+", default=None, metavar="S", help="seeds instead of the suite's: 0 1 2 or 0-4")
    p.add_argument("--agents", nargs="+", default=None, metavar="A", help="only these agents")
    p.add_argument("--tasks", nargs="+", default=None, metavar="GLOB", help="only tasks matching these globs")
    p.add_argument(
        "--variants",
        nargs="+",
        default=None,
        metavar="GLOB",
        help="only variants whose tag matches (e.g. 'target_divergence=0.01,*'), to split a sweep into parts",
    )
    p.add_argument("--set", action="append", default=None, metavar="KEY=VALUE", help="config override for all runs")
    p.add_argument(
        "--vmap-target-divergence",
        action="store_true",
        help="train the grid's target divergences of one fd/deflow configuration in one process (vmapped like the "
        "seeds; pays on a GPU, where an update is latency-bound); the suite key vmap_target_divergence = true does so "
        "too. Each ε's results go to a sub-run folder tagged as the run it replaces",
    )
    p.add_argument("--workers", type=int, default=None, help="local processes at once (default cores // cpus_per_run)")
    p.add_argument("--cpus-per-run", type=float, default=None, help="CPUs per run (default: the suite's)")
    p.add_argument("--gpus-per-run", type=float, default=None, help="Ray GPUs per run (default: the suite's)")
    p.add_argument("--dataset-dir", default=None, help="dataset directory (default: the suite's, else the global one)")
    p.add_argument("--no-generate", action="store_true", help="fail on missing datasets instead of generating them")
    p.add_argument("--no-retry-failed", action="store_true", help="leave failed runs as they are")
    p.add_argument("--dry-run", action="store_true", help="list the runs and their status; run nothing")
    p.add_argument("--report", action="store_true", help="write OUT/report when the sweep is done")
    p.set_defaults(func=cmd_sweep)
