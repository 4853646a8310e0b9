"""A suite's jobs: one training process each (an agent on a task, one variant of overrides, a group of seeds),
and the overrides a command line adds to every job (``--seeds``, ``--set``)."""

from __future__ import annotations

import dataclasses
import fnmatch
import itertools
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from fidec.config import AGENT_METRIC, Config, from_text, resolve
from fidec.errors import ConfigError, FidecError
from fidec.paths import dataset_dir
from fidec.sweep.job import PENDING
from fidec.sweep.suites import JOB_FIELDS, Suite
from fidec.train import sub_run_name


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
                lo, hi = int(m.group(1)), int(m.group(2))
                if lo > hi:
                    raise FidecError(f"--seeds: the range {part!r} is empty; put the lower seed first: {hi}-{lo}")
                out += list(range(lo, hi + 1))
            elif part.isdigit():
                out.append(int(part))
            else:
                raise FidecError(f"--seeds: expected integers or ranges like 0-4, got {part!r}")
    return sorted(set(out))


def parse_set(items: list[str] | None) -> dict:
    """``--set steps=20000 --set hidden_dims=256,256``: Config fields, read as their flags read them."""
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
