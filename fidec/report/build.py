"""``report.md``, ``report.json`` and the figures of a report, written from run folders."""

from __future__ import annotations

import os
from pathlib import Path

from fidec import frontier
from fidec.io import atomic_write_text, write_json
from fidec.report.figures import method_colors, plot_aggregates, plot_curves, plot_poi
from fidec.report.markdown import ReportData, online_markdown, render_markdown
from fidec.report.published import what_differs
from fidec.report.runs import family_order, load_runs, method_order, task_family
from fidec.report.stats import (
    aggregates,
    diagnostics,
    online_gain,
    per_family,
    per_task,
    probability_of_improvement,
    score_matrices,
)


def write_report(
    paths: list,
    out: str | os.PathLike,
    reps: int = 50_000,
    poi_reps: int = 2_000,
    include_incomplete: bool = False,
    title: str = "fidec benchmark report",
) -> Path:
    """Write ``out/report.md`` (+ ``report.json`` and PNG figures); returns the Markdown path."""
    runs, notes = load_runs(paths, include_incomplete)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    methods = method_order(r.label for r in runs)
    colors = method_colors(methods)
    tables = {"per_task": per_task(runs), "per_family": per_family(runs), "diagnostics": diagnostics(runs)}
    mats, agg_tasks, agg_notes = score_matrices(runs, methods)
    aggs = aggregates(mats, reps) if agg_tasks else {}
    poi = probability_of_improvement(mats, poi_reps) if agg_tasks else {}
    figures: dict = {"curves": {}}
    if aggs:
        figures["aggregates"] = plot_aggregates(aggs, out / "aggregates.png", colors).name
    if poi:
        figures["poi"] = plot_poi(poi, out / "probability_of_improvement.png").name
    for fam in family_order(r.family for r in runs):
        figures["curves"][fam] = plot_curves(runs, fam, out / f"curves_{fam}.png", colors).name
    title_md = render_markdown(ReportData(runs, notes, tables, aggs, poi, agg_notes, figures, reps, poi_reps, title))
    online = online_gain(runs)
    if online:
        title_md = title_md.rstrip("\n") + "\n\n" + "\n".join(online_markdown(online)) + "\n"
    front = _frontier(runs, out, poi_reps)
    if front:
        title_md = title_md.rstrip("\n") + "\n\n" + "\n".join(front.pop("markdown")) + "\n"
    md = out / "report.md"
    atomic_write_text(md, title_md)
    write_json(
        out / "report.json",
        {
            "methods": methods,
            "per_task": tables["per_task"],
            "per_family": tables["per_family"],
            "diagnostics": tables["diagnostics"],
            "aggregate_tasks": agg_tasks,
            "aggregates": aggs,
            "probability_of_improvement": poi,
            "what_differs": what_differs(runs),
            "frontier": front or None,
            "online": online or None,
            "notes": notes + agg_notes,
            "runs": [
                {"run_dir": str(r.run_dir), "method": r.label, "env": r.env, "seed": r.seed, "score": r.score}
                for r in runs
            ],
        },
    )
    return md


def _frontier(runs, out: Path, reps: int) -> dict | None:
    """The budget-frontier section (:mod:`fidec.frontier`) when a refinement variant ran at several ε."""
    points = frontier.frontier_points(runs)
    if not frontier.has_frontier(points):
        return None
    tab = frontier.table(points)
    comps = frontier.comparisons(points, reps)
    curve_colors = method_colors(method_order({p.curve for p in points}))
    figs = {}
    for i, env in enumerate(sorted(tab)):
        figs[env] = frontier.plot(points, env, out / f"frontier_{i}_{task_family(env)}.png", curve_colors).name
    return {"table": tab, "comparisons": comps, "figures": figs, "markdown": frontier.markdown(tab, comps, figs)}
