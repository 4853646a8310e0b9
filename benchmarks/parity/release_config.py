"""The release's settings read from its own scripts, compared with fidec's resolved ``paper`` preset.

Reads, from a checkout of the Fisher Decorator release (ARC0127/Fisher-Decorator) and of FQL (seohongpark/fql):

- the agents' ``get_config()`` defaults (``agents/fidec.py``, ``agents/deflow.py``, FQL's ``agents/fql.py``) and
  ``main.py``'s flag defaults, parsed with ``ast`` (nothing of the releases is imported or run);
- the flags each run script passes: ``scripts/ogbench_env_flags.sh`` (the paper-table flags of the default
  tasks), ``scripts/fql_scope_registry.sh`` (per-task flags, steps and reported steps of the grids), the grid and
  paper-table scripts' own defaults (``VAR="${VAR:-default}"``) and the flags of their ``main.py`` command lines;
- FQL's README commands (offline and offline-to-online).

For one task of every family (OGBench state default and non-default tasks, pixels, D4RL antmaze and adroit,
offline-to-online) and each agent, the release's value of every setting is compared with fidec's resolved field
(``fidec.config.resolve``). Writes ``release_config.json`` (committed; ``tests/test_release_config.py`` pins it
against fidec's presets without any checkout) and ``release_config.md``.

    python benchmarks/parity/release_config.py --release PATH/Fisher-Decorator --fql PATH/fql

Standard library only, besides fidec itself.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: D4RL's dataset names -> the Minari ids fidec trains them as (Minari's D4RL namespace).
MINARI_ID = {
    "antmaze-large-diverse-v2": "minari:D4RL/antmaze/large-diverse-v1",
    "pen-cloned-v1": "minari:D4RL/pen/cloned-v2",
}

#: release name -> fidec Config field (agent config keys and main.py flags).
AGENT_KEYS = {
    "lr": "lr",
    "batch_size": "batch_size",
    "actor_hidden_dims": "hidden_dims",
    "value_hidden_dims": "hidden_dims",
    "discount": "discount",
    "tau": "tau",
    "grad_clip": "grad_clip",
    "q_agg": "q_agg",
    "use_lagrange": "lagrangian",
    "target_divergence": "target_divergence",
    "num_fisher_samples": "fisher_samples",
    "fisher_t": "fisher_t_max",
    "fisher_t_width": "fisher_t_width",
    "fisher_damping": "fisher_damping",
    "flow_steps": "flow_steps",
    "normalize_q_loss": "normalize_q",
    "encoder": "encoder",
    "fix_bc_flow_online": "online_freeze_flow",
}
MAIN_FLAGS = {
    "offline_steps": "steps",
    "online_steps": "online_steps",
    "buffer_size": "buffer_size",
    "log_interval": "log_every",
    "eval_interval": "eval_every",
    "save_interval": "checkpoint_every",
    "eval_episodes": "eval_episodes",
    "p_aug": "p_aug",
    "frame_stack": "frame_stack",
    "balanced_sampling": "balanced_sampling",
}
#: Settings that are not Config fields: compared with the constant fidec uses.
CONSTANTS = {"action_clip_eps": ("fidec.data.sources.conventions", "ACTION_CLIP_EPS")}

#: fidec's deliberate differences: (field, the scenarios they apply to: a glob on the scenario id) -> reason.
DELIBERATE = {
    ("checkpoint_every", "*"): "fidec saves every 100k steps for exact resume; the release saves at 1M offline "
    "(100k online), which no result depends on",
    ("eval_every", "*d4rl*offline*"): "the release evaluates every 100k but reports only the 500k evaluation "
    "(PAPER_EVAL_STEPS=\"500000\"); fidec runs that one evaluation",
}


# ---------------------------------------------------------------------------------------------- python sources
def _literal(node):
    """A literal's value; ``ml_collections.config_dict.placeholder(...)`` -> None."""
    if isinstance(node, ast.Call):
        return None
    return ast.literal_eval(node)


def get_config_defaults(path: Path) -> dict:
    """The keyword arguments of the ``dict(...)`` inside ``get_config()`` of an agent file."""
    tree = ast.parse(path.read_text())
    for fn in tree.body:
        if isinstance(fn, ast.FunctionDef) and fn.name == "get_config":
            for node in ast.walk(fn):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "dict":
                    return {kw.arg: _literal(kw.value) for kw in node.keywords}
    raise ValueError(f"{path}: no get_config() dict")


def main_flag_defaults(path: Path) -> dict:
    """``flags.DEFINE_*('name', default, ...)`` of a ``main.py``."""
    out = {}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "").startswith("DEFINE_") and node.args:
            name = node.args[0]
            if isinstance(name, ast.Constant) and len(node.args) > 1:
                try:
                    out[name.value] = _literal(node.args[1])
                except ValueError:
                    pass
    return out


# ---------------------------------------------------------------------------------------------- shell sources
def _value(text: str):
    """A flag value as the release's absl/ml_collections parsing reads it."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


def parse_flags(tokens: list[str]) -> dict:
    """``--a.b=1 --c=x`` -> {'a.b': 1, 'c': 'x'}; ``--flag value`` pairs too."""
    out, i = {}, 0
    while i < len(tokens):
        t = tokens[i]
        if t.startswith("--"):
            if "=" in t:
                k, v = t[2:].split("=", 1)
                out[k] = _value(v)
            elif i + 1 < len(tokens) and not tokens[i + 1].startswith("--"):
                out[t[2:]] = _value(tokens[i + 1])
                i += 1
        i += 1
    return out


def shell_defaults(path: Path) -> dict:
    """``VAR="${ENV:-default}"`` lines of a script -> {VAR: (default, line)} and {ENV: (default, line)}."""
    out = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        m = re.match(r'\s*(\w+)="\$\{(\w+):-(.*)\}"\s*\\?$', line)
        if m:
            out[m.group(1)] = out[m.group(2)] = (m.group(3), n)
    return out


def case_arms(path: Path, function: str) -> tuple[list[tuple[str, int]], list[tuple[list[str], list[tuple[str, int]]]]]:
    """The body of ``function`` in a script: its lines before ``case`` and each case arm (patterns, lines)."""
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(f"{function}()"))
    pre, arms, cur, in_case = [], [], None, False
    for i in range(start + 1, len(lines)):
        s = lines[i].strip()
        if s == "}":
            break
        if s.startswith("case "):
            in_case = True
            continue
        if s == "esac":
            in_case = False
            continue
        if not in_case:
            pre.append((s, i + 1))
        elif re.fullmatch(r"[^()\s]+\)", s):
            cur = (s[:-1].split("|"), [])
            arms.append(cur)
        elif s == ";;":
            cur = None
        elif cur is not None:
            cur[1].append((s, i + 1))
    return pre, arms


def apply_lines(lines: list[tuple[str, int]], state: dict, src: str) -> None:
    """``ENV_FLAGS=(...)``, ``ENV_FLAGS+=(...)`` and ``VAR=value`` lines into ``state`` (flag -> (value, where))."""
    for s, n in lines:
        m = re.fullmatch(r"ENV_FLAGS(\+?)=\((.*)\)", s)
        if m:
            if not m.group(1):
                state["flags"] = {}
            for k, v in parse_flags(shlex.split(m.group(2))).items():
                state["flags"][k] = (v, f"{src} L{n}")
            continue
        m = re.fullmatch(r"(\w+)=\"?([^\"]*)\"?", s)
        if m:
            state["vars"][m.group(1)] = (m.group(2), f"{src} L{n}")


def script_flags(path: Path, function: str, env: str, src: str) -> dict:
    """The flags and variables ``function`` sets for ``env``: {'flags': {...}, 'vars': {...}} with sources."""
    pre, arms = case_arms(path, function)
    state = {"flags": {}, "vars": {}}
    apply_lines(pre, state, src)
    for patterns, body in arms:
        if any(fnmatch.fnmatchcase(env, p) for p in patterns):
            apply_lines(body, state, src)
            return state
    raise ValueError(f"{src}: {function} has no case for {env}")


def command_flags(path: Path, src: str) -> dict:
    """The literal and variable flags of the ``main.py`` command line of a script (and its ``extra_arr+=``
    additions): {flag: (value or '$VAR', where)}."""
    text = path.read_text().splitlines()
    out = {}
    in_cmd = False
    for n, line in enumerate(text, 1):
        s = line.strip()
        if "main.py" in s:
            in_cmd = True
        if in_cmd or s.startswith("extra_arr+=("):
            for m in re.finditer(r"--([\w.]+)[= ]\"?(\$\{?\w+\}?|[^\s\"\\)]+)\"?", s):
                if m.group(1) in ("agent", "env_name", "save_dir", "run_group", "seed", "restore_path"):
                    continue
                out[m.group(1)] = (m.group(2), f"{src} L{n}")
        if in_cmd and not s.endswith("\\"):
            in_cmd = False
    return out


def resolve_vars(cmd: dict, defaults: dict, src: str, local: dict | None = None) -> dict:
    """Command flags with ``$VAR`` replaced by the script's default (or ``local``, a function's own variables)."""
    out = {}
    for k, (v, where) in cmd.items():
        m = re.fullmatch(r"\$\{?(\w+)\}?", v)
        if m:
            name = m.group(1)
            if local and name in local:
                val, w = local[name]
                out[k] = (_value(val), f"{where} <- {w}")
            elif name in defaults:
                val, n = defaults[name]
                out[k] = (_value(val.split()[0]) if val else val, f"{where} <- {src} L{n}")
            continue
        out[k] = (_value(v), where)
    return out


def extra_defaults(defaults: dict, name: str, src: str) -> dict:
    """A ``VAR="${VAR:---a=1 --b=2}"`` default read as flags."""
    text, n = defaults[name]
    return {k: (v, f"{src} L{n} ({name})") for k, v in parse_flags(shlex.split(text)).items()}


# ---------------------------------------------------------------------------------------------- FQL's README
def fql_readme_commands(path: Path) -> dict:
    """FQL's README commands for FQL itself: {('offline' | 'online', env_name): (flags, where)}."""
    out, section = {}, None
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.startswith("### Offline-to-online"):
            section = "online"
        elif line.startswith("### Offline RL"):
            section = "offline"
        elif line.startswith("python main.py") and section and "--agent=" not in line:
            flags = parse_flags(shlex.split(line)[2:])
            env = flags.pop("env_name")
            out.setdefault((section, env), (flags, f"fql README.md L{n}"))
    return out


# ---------------------------------------------------------------------------------------------- scenarios
def default_task_name(env: str) -> str:
    """FQL's README names default tasks without '-taskN' (OGBench maps them): the bare name of a default task."""
    return re.sub(r"-singletask-task\d+-v0$", "-singletask-v0", env)


def build(rel: Path, fql: Path) -> dict:
    rel_main = main_flag_defaults(rel / "main.py")
    fql_main = main_flag_defaults(fql / "main.py")
    agent_cfg = {
        "fd": get_config_defaults(rel / "agents/fidec.py"),
        "deflow": get_config_defaults(rel / "agents/deflow.py"),
        "fql": get_config_defaults(fql / "agents/fql.py"),
    }
    sources = {"fd": "agents/fidec.py get_config", "deflow": "agents/deflow.py get_config", "fql": "fql agents/fql.py"}
    scripts = rel / "scripts"
    flags_sh, registry = scripts / "ogbench_env_flags.sh", scripts / "fql_scope_registry.sh"
    readme = fql_readme_commands(fql / "README.md")

    # the default tasks: the case arms of ogbench_env_flags.sh
    _, arms = case_arms(flags_sh, "get_state_ogbench_flags")
    default_tasks = [next(p for p in pats if re.search(r"-task\d+-v0$", p)) for pats, _ in arms if pats != ["*"]]

    def env_utils_clip() -> tuple:
        text = (rel / "envs/env_utils.py").read_text().splitlines()
        n = next(i for i, s in enumerate(text, 1) if "def make_env_and_datasets" in s)
        return _value(re.search(r"action_clip_eps=([\d.e-]+)", text[n - 1]).group(1)), f"envs/env_utils.py L{n}"

    scenarios = []

    def add(sid, env, agent, phase, script_values: dict, main_defaults: dict, src_main: str, note: str):
        vals = {}
        cfg = agent_cfg[agent]
        for key, field in AGENT_KEYS.items():
            if key in cfg:
                vals[field if key != "alpha" else None] = (cfg[key], f"{sources[agent]}")
        if "grad_clip" not in cfg:
            vals["grad_clip"] = (0.0, f"{sources[agent]} (no grad_clip: no clipping)")
        alpha_field = "fql_alpha" if agent == "fql" else "alpha_init"
        vals[alpha_field] = (cfg["alpha"], sources[agent])
        for key, field in MAIN_FLAGS.items():
            if key in main_defaults:
                vals[field] = (main_defaults[key], f"{src_main} flag default")
        for k, (v, where) in script_values.items():
            key = k.removeprefix("agent.")
            if key == "alpha":
                vals[alpha_field] = (v, where)
            elif key in AGENT_KEYS:
                vals[AGENT_KEYS[key]] = (v, where)
            elif key in MAIN_FLAGS:
                vals[MAIN_FLAGS[key]] = (v, where)
        vals["action_clip_eps"] = env_utils_clip()
        vals.pop(None, None)
        scenarios.append(
            {"id": sid, "env": env, "agent": agent, "phase": phase, "note": note, "release": vals}
        )

    # 1. OGBench state, default tasks: the paper-table scripts (fd, deflow) and FQL's README (fql)
    table_sh = scripts / "run_ogbench_state5_baseline_variant.sh"
    table_defaults = shell_defaults(table_sh)
    fidec_sh = scripts / "run_ogbench_default_task5_baseline_fidec.sh"
    fidec_extra = extra_defaults(shell_defaults(fidec_sh), "VARIANT_EXTRA", fidec_sh.name)
    table_cmd = resolve_vars(command_flags(table_sh, table_sh.name), table_defaults, table_sh.name)
    for env in default_tasks:
        fam = re.sub(r"-singletask-task\d+-v0$", "", env)
        ogf = script_flags(flags_sh, "get_state_ogbench_flags", env, flags_sh.name)["flags"]
        for agent in ("fd", "deflow"):
            extra = fidec_extra if agent == "fd" else {}
            add(f"{fam}/default/{agent}/offline", env, agent, "offline", {**table_cmd, **ogf, **extra}, rel_main,
                "main.py", "paper-table scripts (ogbench_env_flags.sh)")
        flags, where = readme[("offline", default_task_name(env))]
        add(f"{fam}/default/fql/offline", env, "fql", "offline", {k: (v, where) for k, v in flags.items()},
            fql_main, "fql main.py", "FQL's README")

    # 2. OGBench state, a non-default task, and pixels, D4RL: the 50-task grid with the registry (fd, deflow)
    grid_sh = scripts / "run_fqlscope_offline_grid_2x4090.sh"
    grid_defaults = shell_defaults(grid_sh)
    grid_cmd_raw = command_flags(grid_sh, grid_sh.name)
    t_default = grid_defaults["FIDEC_T_VALUES"][0].split()[0]
    local_t = {"fidec_t": (t_default, f"{grid_sh.name} L{grid_defaults['FIDEC_T_VALUES'][1]} (FIDEC_T_VALUES)")}
    grid_envs = []
    for env in default_tasks:
        m = re.search(r"-task(\d+)-v0$", env)
        other = 1 if int(m.group(1)) != 1 else 2
        grid_envs.append((re.sub(r"-task\d+-v0$", f"-task{other}-v0", env), "state"))
    pixel_envs = [ln for ln in registry.read_text().splitlines() if ln.startswith("visual-")]
    grid_envs += [(e, "pixels") for e in pixel_envs]
    grid_envs += [(e, "d4rl") for e in MINARI_ID]
    for env, kind in grid_envs:
        reg = script_flags(registry, "get_env_flags_and_steps", env, registry.name)
        local = {"OFFLINE_STEPS": reg["vars"]["OFFLINE_STEPS"], **local_t}
        cmd = resolve_vars(grid_cmd_raw, grid_defaults, grid_sh.name, local)
        fam = re.sub(r"-singletask-task\d+-v0$", "", env) if kind != "d4rl" else f"d4rl-{env}"
        task = MINARI_ID.get(env, env)
        for agent in ("fd", "deflow") if kind != "state" else ("fd",):
            vals = {**cmd, **reg["flags"]}
            if agent == "deflow":
                vals = {k: v for k, v in vals.items() if not k.startswith("agent.fisher") and "num_fisher" not in k}
            add(f"{fam}/{'grid' if kind == 'state' else 'paper'}/{agent}/offline", task, agent, "offline", vals,
                rel_main, "main.py", f"offline grid + registry ({kind})")
        if kind != "state":
            flags, where = readme[("offline", env)]
            add(f"{fam}/paper/fql/offline", task, "fql", "offline", {k: (v, where) for k, v in flags.items()},
                fql_main, "fql main.py", "FQL's README")

    # 3. offline-to-online: OGBench default task (the paper-table online script), D4RL (the online grid); FQL README
    o2o_sh = scripts / "run_ogbench_default_task5_online_from_offline.sh"
    o2o_defaults = shell_defaults(o2o_sh)
    o2o_cmd = resolve_vars(command_flags(o2o_sh, o2o_sh.name), o2o_defaults, o2o_sh.name)
    o2o_env = next(e for e in default_tasks if e.startswith("humanoidmaze-medium"))
    ogf = script_flags(flags_sh, "get_state_ogbench_flags", o2o_env, flags_sh.name)["flags"]
    fidec_o2o = extra_defaults(o2o_defaults, "FIDEC_EXTRA", o2o_sh.name)
    restore = o2o_cmd.pop("restore_epoch")
    o2o_cmd["offline_steps"] = restore  # the online run restores the offline checkpoint of this step
    add("humanoidmaze-medium-navigate/default/fd/online", o2o_env, "fd", "online",
        {**o2o_cmd, **ogf, **fidec_o2o}, rel_main, "main.py", "online-from-offline script (ogbench_env_flags.sh)")
    flags, where = readme[("online", default_task_name(o2o_env))]
    add("humanoidmaze-medium-navigate/default/fql/online", o2o_env, "fql", "online",
        {k: (v, where) for k, v in flags.items()}, fql_main, "fql main.py", "FQL's README")
    on_sh = scripts / "run_fqlscope_online_grid_2x4090.sh"
    on_defaults = shell_defaults(on_sh)
    on_cmd_raw = command_flags(on_sh, on_sh.name)
    for env in MINARI_ID:
        reg = script_flags(registry, "get_env_flags_and_steps", env, registry.name)
        cmd = resolve_vars(on_cmd_raw, on_defaults, on_sh.name, local_t)
        restore = cmd.pop("restore_epoch")
        cmd["offline_steps"] = restore
        add(f"d4rl-{env}/paper/fd/online", MINARI_ID[env], "fd", "online", {**cmd, **reg["flags"]}, rel_main,
            "main.py", "online grid + registry")
        flags, where = readme[("online", env)]
        add(f"d4rl-{env}/paper/fql/online", MINARI_ID[env], "fql", "online",
            {k: (v, where) for k, v in flags.items()}, fql_main, "fql main.py", "FQL's README")
    return {"default_tasks": default_tasks, "scenarios": scenarios}


# ---------------------------------------------------------------------------------------------- comparison
def _norm(field: str, v):
    """The release's value in fidec's terms: None -> the 'off' value of the field; lists -> tuples."""
    if field == "encoder" and v is None:
        return "none"
    if field == "p_aug" and v is None:
        return 0.0
    if field == "frame_stack" and v is None:
        return 1
    if field in ("balanced_sampling",):
        return bool(v)
    if isinstance(v, (list, tuple)):
        return list(v)
    if isinstance(v, int) and not isinstance(v, bool) and field in ("lr", "tau", "fisher_damping", "discount"):
        return float(v)
    return v


def compare(data: dict) -> list[dict]:
    sys.path.insert(0, str(HERE.parents[1]))
    import importlib

    from fidec.config import resolve

    rows = []
    for sc in data["scenarios"]:
        over = {"agent": sc["agent"], "env": sc["env"]}
        rel = sc["release"]
        if sc["phase"] == "online":
            over["online_steps"] = rel["online_steps"][0]
        cfg = resolve(over).to_dict()
        for field, (value, where) in sorted(rel.items()):
            if field in CONSTANTS:
                mod, name = CONSTANTS[field]
                mine = getattr(importlib.import_module(mod), name)
            elif field in cfg:
                mine = cfg[field]
            else:
                continue
            if sc["agent"] != "fd" and field.startswith("fisher"):
                continue  # no Fisher metric outside FD
            if sc["agent"] == "fql" and field in ("alpha_init", "lagrangian", "target_divergence"):
                continue
            release = _norm(field, value)
            mine = list(mine) if isinstance(mine, tuple) else mine
            reason = next(
                (r for (f, pat), r in DELIBERATE.items() if f == field and fnmatch.fnmatchcase(sc["id"], pat)), None
            )
            status = "equal" if release == mine else ("deliberate" if reason else "DIFFERENT")
            rows.append(
                {
                    "scenario": sc["id"],
                    "field": field,
                    "release": release,
                    "fidec": mine,
                    "source": where,
                    "status": status,
                    **({"reason": reason} if status == "deliberate" else {}),
                }
            )
    return rows


def markdown(out: dict) -> str:
    rows = out["rows"]
    lines = [
        "# The release's settings against fidec's `paper` preset",
        "",
        f"Release {out['release_commit']}, FQL {out['fql_commit']}; generated by `release_config.py` from the scripts "
        "themselves; pinned by `tests/test_release_config.py`.",
        "",
        f"{len(rows)} settings in {len({r['scenario'] for r in rows})} runs: "
        f"{sum(r['status'] == 'equal' for r in rows)} equal, {sum(r['status'] == 'deliberate' for r in rows)} "
        f"deliberate differences, {sum(r['status'] == 'DIFFERENT' for r in rows)} unexplained.",
        "",
        "## Deliberate differences",
        "",
        "| field | runs | release | fidec | why |",
        "|---|---|---|---|---|",
    ]
    seen = {}
    for r in rows:
        if r["status"] == "deliberate":
            seen.setdefault((r["field"], json.dumps(r["release"]), json.dumps(r["fidec"]), r["reason"]), []).append(
                r["scenario"]
            )
    for (field, rel, mine, reason), scs in seen.items():
        lines.append(f"| `{field}` | {len(scs)} | {rel} | {mine} | {reason} |")
    lines += ["", "## Every run", "", "| run | task | what the release ran | settings | differences |"]
    lines += ["|---|---|---|---|---|"]
    by = {}
    for r in rows:
        by.setdefault(r["scenario"], []).append(r)
    notes = {sc["id"]: sc["note"] for sc in out["scenarios"]}
    envs = {sc["id"]: sc["env"] for sc in out["scenarios"]}
    for sid, rs in by.items():
        diff = ", ".join(
            f"`{r['field']}` {json.dumps(r['release'])} -> {json.dumps(r['fidec'])}"
            for r in rs
            if r["status"] != "equal"
        )
        lines.append(f"| {sid} | `{envs[sid]}` | {notes[sid]} | {len(rs)} | {diff or 'none'} |")
    lines += ["", "The file and line of every value: `release_config.json` (`rows[].source`)."]
    return "\n".join(lines) + "\n"


def table(out: dict) -> dict:
    """The committed form: per run its settings ``{field: [release, fidec, source]}``, and the deliberate
    differences with their reasons (a row that differs must match one)."""
    runs = []
    for sc in out["scenarios"]:
        rs = [r for r in out["rows"] if r["scenario"] == sc["id"]]
        runs.append({**sc, "settings": {r["field"]: [r["release"], r["fidec"], r["source"]] for r in rs}})
    deliberate = [{"field": f, "runs": pat, "reason": why} for (f, pat), why in DELIBERATE.items()]
    head = {k: v for k, v in out.items() if k not in ("scenarios", "rows")}
    return {**head, "deliberate": deliberate, "runs": runs}


def dumps(out: dict) -> str:
    """The JSON file: one line per run (a short, diffable file)."""
    t = table(out)
    runs = t.pop("runs")
    items = ",\n  ".join(json.dumps(x) for x in runs)
    return json.dumps(t, indent=1)[:-2] + f',\n "runs": [\n  {items}\n ]\n}}\n'


def git_head(path: Path) -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(path), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--release", required=True, type=Path, help="checkout of ARC0127/Fisher-Decorator")
    ap.add_argument("--fql", required=True, type=Path, help="checkout of seohongpark/fql")
    ap.add_argument("--release-commit", default=None, help="the release's commit, when the checkout has no .git")
    ap.add_argument("--fql-commit", default=None, help="FQL's commit, when the checkout has no .git")
    ap.add_argument("--out", type=Path, default=HERE, help="folder for release_config.json/.md")
    args = ap.parse_args(argv)
    data = build(args.release, args.fql)
    out = {
        "release_commit": args.release_commit or git_head(args.release),
        "fql_commit": args.fql_commit or git_head(args.fql),
        "default_tasks": data["default_tasks"],
        "scenarios": [{k: v for k, v in sc.items() if k != "release"} for sc in data["scenarios"]],
        "rows": compare(data),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "release_config.json").write_text(dumps(out))
    (args.out / "release_config.md").write_text(markdown(out))
    bad = [r for r in out["rows"] if r["status"] == "DIFFERENT"]
    for r in bad:
        print(f"DIFFERENT {r['scenario']} {r['field']}: release {r['release']} ({r['source']}), fidec {r['fidec']}")
    print(f"{len(out['rows'])} settings, {len(bad)} unexplained differences -> {args.out / 'release_config.json'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
