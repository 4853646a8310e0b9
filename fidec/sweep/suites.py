"""Suites: a TOML or YAML file naming agents x tasks x seeds x overrides, read and checked before any work.

The schema is the :class:`Suite` dataclass: every key a suite file may set is one of its fields, and the field's
metadata holds the rule its value follows (checked by :func:`check_suite_types`, with one-line errors). The keys
themselves are described in :mod:`fidec.sweep`.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from fidec.config import AGENTS
from fidec.data.catalog import dataset_name_for_env
from fidec.data.loading import check_env
from fidec.errors import ConfigError, FidecError

SUITE_SUFFIXES = (".toml", ".yaml", ".yml")
#: Config fields a suite may not set in [config]/[grid]: the sweep sets them per job.
JOB_FIELDS = {"agent", "env", "seed", "num_seeds", "dataset_dir", "family"}


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _is_str(x) -> bool:
    return isinstance(x, str)


def _is_names(v) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, str) for x in v)


def _distinct(v: list) -> bool:
    """No value twice (``seeds = [0, 0]`` would run seed 0 once where two runs were asked for)."""
    return len(set(v)) == len(v)


def _is_table(v) -> bool:
    return isinstance(v, dict)


def _rule(check, message: str, entry=None, entry_message: str = "", table: bool = False, required: bool = False):
    """A suite key's rule, kept in its Suite field's metadata: ``check(value)``, else the one-line error
    ``message`` ({key}, {value}); ``entry(value)``, else ``entry_message`` ({name}, {value}), for each entry of
    a table; ``table``: a missing or empty value reads as an empty table; ``required``: the file must set it
    (the others have defaults)."""
    return {"rule": (check, message, entry, entry_message, table, required)}


_STRING = "'{key}' must be a string, got {value!r}"
_NAMES = "'{key}' must be a non-empty list of names"
_TABLE = "[{key}] must be a table"


@dataclass
class Suite:
    name: str = field(metadata=_rule(_is_str, _STRING))
    source: str  # the file it came from
    text: str  # the file's content (saved into the sweep folder)
    agents: list[str] = field(metadata=_rule(_is_names, _NAMES, required=True))
    tasks: list[str] = field(metadata=_rule(_is_names, _NAMES, required=True))
    seeds: list[int] = field(
        default_factory=lambda: [0],
        metadata=_rule(
            lambda v: isinstance(v, list) and bool(v) and all(_is_int(s) and s >= 0 for s in v) and _distinct(v),
            "'seeds' must be a non-empty list of distinct non-negative integers, got {value!r}",
        ),
    )
    seeds_per_process: int = field(
        default=1, metadata=_rule(lambda v: _is_int(v) and v >= 1, "{key} must be an integer >= 1, got {value!r}")
    )
    cpus_per_run: float = field(
        default=1, metadata=_rule(lambda v: _is_num(v) and v > 0, "{key} must be a number > 0, got {value!r}")
    )
    gpus_per_run: float = field(
        default=0, metadata=_rule(lambda v: _is_num(v) and v >= 0, "{key} must be a number >= 0, got {value!r}")
    )
    dataset_dir: str | None = field(default=None, metadata=_rule(_is_str, _STRING))
    datasets: dict[str, int] = field(
        default_factory=dict,
        metadata=_rule(
            _is_table,
            "[datasets] must be a table of dataset name = episodes",
            lambda v: _is_int(v) and v >= 0,
            "[datasets] {name} must be an episode count >= 0 (0: OGBench's recipe), got {value!r}",
            table=True,
        ),
    )
    config: dict = field(
        default_factory=dict, metadata=_rule(_is_table, "[config] must be a table of config fields", table=True)
    )
    agent_config: dict[str, dict] = field(
        default_factory=dict,
        metadata=_rule(
            _is_table, _TABLE, _is_table, "[agent_config.{name}] must be a table of config fields", table=True
        ),
    )
    grid: dict[str, list] = field(default_factory=dict, metadata=_rule(_is_table, _TABLE, table=True))
    agent_grid: dict[str, dict[str, list]] = field(default_factory=dict, metadata=_rule(_is_table, _TABLE, table=True))
    description: str = field(default="", metadata=_rule(_is_str, _STRING))
    # the grid's target divergences of one configuration in one process
    vmap_target_divergence: bool = field(
        default=False,
        metadata=_rule(lambda v: isinstance(v, bool), "vmap_target_divergence must be true or false, got {value!r}"),
    )

    @property
    def fmt(self) -> str:
        return "yaml" if Path(self.source).suffix in (".yaml", ".yml") else "toml"


#: The keys of a suite file: the Suite fields that carry a rule (``source`` and ``text`` come from the file).
SUITE_FIELDS = {f.name: f for f in dataclasses.fields(Suite) if "rule" in f.metadata}
SUITE_KEYS = set(SUITE_FIELDS)


def packaged_suites() -> dict[str, Path]:
    """Suites shipped with fidec: name -> file."""
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
            import yaml  # only YAML suites need PyYAML (installed with flax)

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


def check_suite_types(data: dict, where: str) -> None:
    """Every suite key has the type and range its :class:`Suite` field's rule says (one-line ``FidecError``
    otherwise), so that nothing below meets a string where a number or a table belongs. Config values are checked
    later, when each run's Config is resolved."""

    def need(ok: bool, what: str) -> None:
        if not ok:
            raise FidecError(f"{where}: {what}")

    for key, f in SUITE_FIELDS.items():
        check, message, entry, entry_message, table, required = f.metadata["rule"]
        if key not in data and not required and not table:  # the default applies
            continue
        value = (data.get(key) or {}) if table else data.get(key)
        need(check(value), message.format(key=key, value=value))
        for name, v in value.items() if entry else ():
            need(entry(v), entry_message.format(name=name, value=v))
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
