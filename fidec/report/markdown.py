"""The Markdown of a report: one function per section, each given the report's numbers as one
:class:`ReportData`."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from fidec.config.schema import preset_parts
from fidec.errors import ConfigError
from fidec.report.published import (
    PUBLISHED,
    PUBLISHED_COLUMN,
    PUBLISHED_METHODS,
    PUBLISHED_SOURCE,
    published_family,
    what_differs,
)
from fidec.report.runs import (
    DIAGNOSTICS,
    DIAGNOSTICS_TAIL,
    FD,
    Run,
    config_total_steps,
    distinct_values,
    eval_schedule,
    family_order,
    join_values,
    method_order,
    task_family,
    task_label,
    task_order,
)
from fidec.report.stats import NO_CI


def _pct(x: float | None) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}"


def _ci(ci: list | None, fmt) -> str:
    return f"[{fmt(ci[0])}, {fmt(ci[1])}]" if ci is not None else NO_CI


def _cell(d: dict | None, best: bool = False) -> str:
    if not d:
        return "–"
    s = _pct(d["mean"]) + (f" ± {_pct(d['std'])}" if d.get("std") is not None else "")
    n = d.get("n")
    s += f" ({n})" if n is not None else ""
    return f"**{s}**" if best else s


def _best(row: dict) -> float | None:
    """The best mean of a row, or None when there is nothing to single out (one method, or all equal)."""
    means = [v["mean"] for v in row.values()]
    return max(means) if len(set(means)) > 1 else None


def _row_cells(row: dict, methods: list[str], fields: tuple[str, ...] | None = None) -> list[str]:
    """One table row's cells, the best mean in bold; ``fields`` keeps only those keys of each cell."""
    best = _best(row)
    cells = []
    for m in methods:
        d = row.get(m)
        if d and fields:
            d = {k: d[k] for k in fields}
        cells.append(_cell(d, bool(d) and d["mean"] == best))
    return cells


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


@dataclass
class ReportData:
    """What the Markdown is made from: the runs, the notes on runs left out, the tables (per_task, per_family,
    diagnostics), rliable's aggregates and probabilities of improvement with their notes and bootstrap replicates,
    the figures' file names, and the title."""

    runs: list[Run]
    notes: list[str]
    tables: dict
    aggs: dict
    poi: dict
    agg_notes: list[str]
    figures: dict
    reps: int
    poi_reps: int
    title: str

    @cached_property
    def methods(self) -> list[str]:
        return method_order(r.label for r in self.runs)

    @cached_property
    def envs(self) -> list[str]:
        return task_order(r.env for r in self.runs)

    @cached_property
    def fams(self) -> list[str]:
        return family_order(r.family for r in self.runs)

    @cached_property
    def recipes(self) -> dict[str, str]:
        """Each method's recipe ('paper', 'fidec', or several joined by ', ') from its runs' presets."""
        return {m: join_values(sorted({run_recipe(r) for r in self.runs if r.label == m})) for m in self.methods}

    def recipe_note(self, a: str, b: str) -> str:
        """'' when methods ``a`` and ``b`` ran under one recipe, else a label saying that they did not."""
        ra, rb = self.recipes.get(a, "?"), self.recipes.get(b, "?")
        return "" if ra == rb and "," not in ra else f"unequal recipe: {ra} against {rb}"

    @cached_property
    def n_folders(self) -> int:
        return len({r.run_dir for r in self.runs})


def run_recipe(run: Run) -> str:
    """The recipe part of a run's preset ('paper' or 'fidec'; docs/presets.md), '?' when it does not say."""
    try:
        return preset_parts(run.config.get("preset") or "paper")[0]
    except ConfigError:
        return "?"


def section_header(report: ReportData) -> list[str]:
    """The title, what the report was made from, and how a run is scored."""
    runs = report.runs
    title = report.title
    methods = report.methods
    envs = report.envs
    fams = report.fams
    n_folders = report.n_folders
    L = [f"# {title}", ""]
    L.append(
        f"Generated {time.strftime('%Y-%m-%d %H:%M')} from {len(runs)} runs ({n_folders} run folders; a run is one "
        f"seed of a run folder): {len(methods)} method(s) × {len(envs)} task(s) in {len(fams)} famil"
        f"{'y' if len(fams) == 1 else 'ies'}."
    )
    og = join_values(distinct_values(runs, lambda r: (r.meta.get("versions") or {}).get("ogbench")))
    timing = join_values(distinct_values(runs, lambda r: r.meta.get("success_timing")))
    fidec_v = join_values(distinct_values(runs, lambda r: (r.meta.get("versions") or {}).get("fidec")))
    L.append("")
    L.append(
        f"OGBench version: **{og}**; reward/success timing: **{timing}** ('pre': computed from the state before "
        f"the step, OGBench ≥ 1.2; 'post': OGBench 1.1); fidec {fidec_v}."
    )
    L.append("")
    L.append(
        "Score of a run: success rate (%) averaged over its last three evaluations (the paper's protocol). "
        "Tables give mean ± std over seeds (number of seeds in brackets); the best mean of a row is bold."
    )
    return L


def section_setup(report: ReportData) -> list[str]:
    """## Setup: each method's preset, budget, networks, evaluation, tasks and seeds."""
    runs = report.runs
    methods = report.methods
    L: list[str] = []
    L += ["", "## Setup", ""]
    rows = []
    for m in methods:
        rs = [r for r in runs if r.label == m]
        rows.append(
            [
                m,
                join_values(distinct_values(rs, lambda r: r.config.get("preset"))),
                join_values(distinct_values(rs, lambda r: r.config.get("steps"))),
                join_values(distinct_values(rs, lambda r: r.config.get("hidden_dims"))),
                join_values(distinct_values(rs, lambda r: r.config.get("batch_size"))),
                join_values(distinct_values(rs, eval_schedule)),
                str(len({r.env for r in rs})),
                join_values(sorted({r.seed for r in rs})),
            ]
        )
    L += _table(["method", "preset", "steps", "hidden dims", "batch", "eval episodes every", "tasks", "seeds"], rows)
    recipes = sorted(set(report.recipes.values()))
    if len(recipes) > 1:
        L += [
            "",
            f"**The methods ran under different recipes** ({', '.join(recipes)}; docs/presets.md): a comparison "
            "between two of them measures the recipe as well as the method. Comparisons below say where the "
            "recipes differ.",
        ]
    return L


def section_per_task(report: ReportData) -> list[str]:
    """## Per-task results: mean ± std over seeds."""
    tables = report.tables
    methods = report.methods
    envs = report.envs
    L: list[str] = []
    L += ["", "## Per-task results", ""]
    rows = []
    for env in envs:
        row = tables["per_task"][env]
        rows.append([f"{task_family(env)} {task_label(env)}"] + _row_cells(row, methods))
    L += _table(["task"] + methods, rows)
    return L


def section_per_family(report: ReportData) -> list[str]:
    """## Per-family aggregates."""
    runs = report.runs
    tables = report.tables
    methods = report.methods
    fams = report.fams
    L: list[str] = []
    L += ["", "## Per-family aggregates", ""]
    L.append(
        "Mean over the family's tasks of the per-task means; ± std over seeds of the per-seed family mean "
        "(seeds run on every task of the family)."
    )
    L.append("")
    L.append("Tasks per family: " + ", ".join(f"{f} {len({r.env for r in runs if r.family == f})}" for f in fams) + ".")
    L.append("")
    rows = []
    for fam in fams:
        row = tables["per_family"][fam]
        rows.append([fam] + _row_cells(row, methods, fields=("mean", "std")))
    L += _table(["family"] + methods, rows)
    return L


def section_aggregates(report: ReportData) -> list[str]:
    """## Aggregate metrics: IQM and mean with CIs (rliable)."""
    aggs = report.aggs
    agg_notes = report.agg_notes
    figures = report.figures
    reps = report.reps
    L: list[str] = []
    L += ["", "## Aggregate metrics: IQM and mean with 95% confidence intervals", ""]
    L.append(
        f"Over all runs and tasks (rliable: interquartile mean and mean, 95% stratified-bootstrap confidence "
        f"intervals, percentile method, {reps} bootstrap replicates, runs resampled within each task)."
    )
    single = [m for m, a in aggs.items() if a["iqm_ci"] is None]
    if single:
        L.append(
            f"- {', '.join(single)}: one run per task, so no confidence interval ({NO_CI}); a CI needs several "
            "runs (seeds) per task: run more seeds (e.g. --num-seeds 3 or a sweep's seeds = [0, 1, 2])."
        )
    for n in agg_notes:
        L.append(f"- {n}")
    L.append("")
    if aggs:
        rows = [
            [
                m,
                f"{_pct(a['iqm'])} {_ci(a['iqm_ci'], _pct)}",
                f"{_pct(a['mean'])} {_ci(a['mean_ci'], _pct)}",
                str(a["runs"]),
                str(a["tasks"]),
            ]
            for m, a in aggs.items()
        ]
        L += _table(["method", "IQM % [95% CI]", "mean % [95% CI]", "runs per task", "tasks"], rows)
        if "aggregates" in figures:
            L += ["", f"![IQM and mean]({figures['aggregates']})"]
    else:
        L.append("No task is shared by every method, so there is nothing to aggregate.")
    return L


def section_improvement(report: ReportData) -> list[str]:
    """## Probability of improvement of FD over each baseline."""
    poi = report.poi
    figures = report.figures
    poi_reps = report.poi_reps
    methods = report.methods
    L: list[str] = []
    L += ["", "## Probability of improvement of FD over each baseline", ""]
    fds = [m for m in methods if m.split(" ")[0] == FD]
    bases = [m for m in methods if m.split(" ")[0] != FD]
    if not fds:
        L.append("Skipped: these runs include no FD (`fd`) agent, so there is nothing to compare with the baselines.")
    elif not bases:
        L.append("Skipped: these runs include only FD, no baseline (deflow, fql, bc) to compare it with.")
    elif not poi:
        L.append("Skipped: FD and the baselines share no task.")
    else:
        L.append(
            "P(X > Y): the probability that a run of X on a task scores higher than a run of Y on the same task "
            f"(Mann-Whitney U statistic, averaged over tasks; rliable), with 95% stratified-bootstrap CIs "
            f"({poi_reps} replicates). 0.5 means no difference; a CI above 0.5 means the first is better. "
            "With several FD variants, each is also compared with the others."
        )
        L.append("")
        rows = [
            [
                f"P({k.replace(' vs ', ' > ')})",
                f"{v['poi']:.2f}",
                _ci(v["ci"], lambda x: f"{x:.2f}"),
                report.recipe_note(*k.split(" vs ", 1)) or "equal",
            ]
            for k, v in poi.items()
        ]
        L += _table(["comparison", "probability of improvement", "95% CI", "recipes"], rows)
        if "poi" in figures:
            L += ["", f"![probability of improvement]({figures['poi']})"]
    return L


def section_curves(report: ReportData) -> list[str]:
    """## Learning curves: one figure per family."""
    figures = report.figures
    fams = report.fams
    L: list[str] = []
    L += ["", "## Learning curves", ""]
    L.append("Success rate against gradient steps per task: mean over seeds, band ± one std over seeds.")
    for fam in fams:
        L += ["", f"### {fam}", "", f"![{fam} learning curves]({figures['curves'][fam]})"]
    return L


def section_diagnostics(report: ReportData) -> list[str]:
    """## Training diagnostics (nothing when no run logged them)."""
    tables = report.tables
    L: list[str] = []
    diag = tables.get("diagnostics") or {}
    if diag:
        L += ["", "## Training diagnostics", ""]
        L.append(
            f"What the agents did, averaged over the training records of the last {DIAGNOSTICS_TAIL:.0%} of steps "
            "and over seeds. α: the Lagrange multiplier; E[D]: the refinement's mean divergence in its own metric "
            "(Fisher for fd, isotropic for deflow), against the target ε; D Fisher / D isotropic: the same "
            "refinement measured in both metrics (the Fisher one with the run's own estimator, per-state unless "
            "the variant says per-action); ‖δ‖: mean refinement length; Q(π) − Q(data): how much higher the "
            "critic rates the policy's actions than the dataset's; top-eigenvalue share of F̂: 1/d is isotropic, "
            "1 is a single direction."
        )
        L.append("")
        cols = [(k, h) for k, h in DIAGNOSTICS if any(k in d for row in diag.values() for d in row.values())]
        rows = []
        for env, row in diag.items():
            for m, d in row.items():
                cells = []
                for k, _ in cols:
                    v = d.get(k)
                    cell = "–" if v is None else f"{v:.3g}"
                    if k == "divergence" and v is not None and "target_divergence" in d:
                        cell += f" (ε {d['target_divergence']:g})"
                    cells.append(cell)
                rows.append([f"{task_family(env)} {task_label(env)}", m] + cells)
        L += _table(["task", "method"] + [h for _, h in cols], rows)
    return L


def section_published(report: ReportData) -> list[str]:
    """## Published numbers beside ours, and what differs from the published setup."""
    runs = report.runs
    tables = report.tables
    methods = report.methods
    fams = report.fams
    L: list[str] = []
    L += ["", "## Published numbers beside ours", ""]
    L.append(
        f"Published per-family mean success (%) from {PUBLISHED_SOURCE}: 1M gradient steps on the official "
        "datasets. They are a direction, not a target: the comparison that counts is between agents on the "
        "same data and budget (the tables above)."
    )
    L.append("")
    ours = methods
    rows = []
    for fam in fams:
        pub = published_family(fam)
        row = [fam]
        row += [_pct(tables["per_family"][fam].get(m, {}).get("mean")) for m in ours]
        row += [
            "–" if pub is None or PUBLISHED[pub][p] is None else f"{PUBLISHED[pub][p]:g}" for p in PUBLISHED_METHODS
        ]
        rows.append(row)
    L += _table(["family"] + [f"ours: {m}" for m in ours] + [f"published: {p}" for p in PUBLISHED_METHODS], rows)
    if not any(published_family(f) for f in fams):
        L.append("")
        L.append("None of these families has published numbers (e.g. point mazes); the full table follows.")
    L.append("")
    L.append(
        "Columns: ours "
        + ", ".join(f"`{a}` ↔ published {p}" for a, p in PUBLISHED_COLUMN.items())
        + "; `bc` has no published counterpart."
    )
    L.append("")
    L.append("**What differs from the published setup:** " + "; ".join(what_differs(runs)) + ".")
    L += ["", "<details><summary>Full published table (docs/presets.md)</summary>", ""]
    L += _table(
        ["family"] + list(PUBLISHED_METHODS),
        [[f] + ["–" if v is None else f"{v:g}" for v in d.values()] for f, d in PUBLISHED.items()],
    )
    L += ["", "</details>"]
    return L


def section_runs(report: ReportData) -> list[str]:
    """## Runs: how many, the unfinished ones included, the ones left out or renamed."""
    runs = report.runs
    notes = report.notes
    n_folders = report.n_folders
    L: list[str] = []
    L += ["", "## Runs", ""]
    L.append(f"{len(runs)} runs from {n_folders} run folders.")
    unfinished: dict[Path, tuple[set, int]] = {}
    for r in runs:
        if not r.complete:
            unfinished.setdefault(r.run_dir, (set(), config_total_steps(r.config)))[0].update(r.steps)
    if unfinished:
        L += ["", "Unfinished runs included (--include-incomplete); their scores average the evaluations they reached:"]
        L += [
            f"- `{d}`: evaluated at step(s) {', '.join(map(str, sorted(st)))} of {total}"
            for d, (st, total) in unfinished.items()
        ]
    if notes:
        L.append("")
        L.append("Notes on the runs:")
        L += [f"- {n}" for n in notes]
    return L


SECTIONS = (
    section_header,
    section_setup,
    section_per_task,
    section_per_family,
    section_aggregates,
    section_improvement,
    section_curves,
    section_diagnostics,
    section_published,
    section_runs,
)


def render_markdown(report: ReportData) -> str:
    """The report's Markdown: its sections in order."""
    return "\n".join(line for section in SECTIONS for line in section(report)) + "\n"


def online_markdown(table: dict[str, dict[str, dict]]) -> list[str]:
    L = ["## Offline to online", ""]
    L.append(
        "Runs with an online phase: the score at the end of the offline phase (mean of the last three evaluations "
        "up to the offline steps), after the online phase (the run's score), the per-seed gain (percentage "
        "points, mean ± std over seeds, seeds that improved), and the success of the online training episodes "
        "over the last third of the online phase (acting policy, exploration noise included). The release reports "
        "one evaluation at each end instead (its scripts/summarize_fql_scope.py): the last evaluation of the "
        "offline phase ('offline end') and the run's last one ('final')."
    )
    L.append("")
    rows = []
    for env, row in table.items():
        for m, d in row.items():
            ep = d["online_episode_success"]
            rows.append(
                [
                    f"{task_family(env)} {task_label(env)}",
                    m,
                    _cell(d["offline"]),
                    _cell(d["online"]),
                    f"{100 * d['gain']['mean']:+.1f}"
                    + (f" ± {_pct(d['gain']['std'])}" if d["gain"]["std"] is not None else ""),
                    f"{d['seeds_improved']}/{d['gain']['n']}",
                    _cell(ep) if ep else "–",
                    _cell(d.get("offline_end")),
                    _cell(d.get("final")),
                ]
            )
    head = ["task", "method", "offline", "after online", "gain (points)", "seeds improved", "online episodes"]
    L += _table(head + ["offline end", "final"], rows)
    return L
