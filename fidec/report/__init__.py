"""``fidec report``: Markdown + PNG figures that answer "does Fisher Decorator beat its baselines?".

Input: run folders, or folders holding run folders (a sweep's ``OUT``). Each (run folder, seed) is one
run. A run's score follows the paper's protocol: the mean of its last three evaluations (success rate).

Sections: setup; per-task table (mean ± std over seeds); per-family aggregates; IQM and mean over all
runs with 95 % stratified-bootstrap confidence intervals and the probability of improvement of FD over
each baseline (rliable; Agarwal et al., 2021); learning curves per task with seed bands; training
diagnostics (α, divergence in both metrics, refinement length, Q gain, Fisher anisotropy); the published
numbers (docs/presets.md, "Published numbers") beside ours, with what differs; the runs left out and why;
the offline-to-online gain and the budget frontier (:mod:`fidec.frontier`) when the runs have them.
``report.json`` holds the same numbers for scripts.

Modules: :mod:`~fidec.report.runs` (run folders read), :mod:`~fidec.report.stats` (the numbers),
:mod:`~fidec.report.figures`, :mod:`~fidec.report.published` (the published numbers and what differs),
:mod:`~fidec.report.markdown` (one function per section), :mod:`~fidec.report.build` (``write_report``). The
command is :mod:`fidec.commands.report`.
"""

from __future__ import annotations

import importlib

# name -> the module that defines it, loaded on first use: fidec.frontier reads run folders with
# fidec.report.runs, and the report's build step uses fidec.frontier; importing the package does not load both.
_EXPORTS = {
    "fidec.report.runs": (
        "AGENT_ORDER DIAGNOSTICS DIAGNOSTICS_TAIL FD Run family_order find_run_dirs load_runs method_order "
        "run_diagnostics task_family task_label task_order"
    ),
    "fidec.report.stats": (
        "MIN_RUNS_FOR_CI NO_CI aggregates diagnostics online_gain per_family per_task probability_of_improvement "
        "score_matrices"
    ),
    "fidec.report.published": (
        "PAPER PUBLISHED PUBLISHED_COLUMN PUBLISHED_METHODS PUBLISHED_SOURCE dataset_provenance published_family "
        "what_differs"
    ),
    "fidec.report.figures": "method_colors plot_aggregates plot_curves plot_poi",
    "fidec.report.markdown": "ReportData online_markdown render_markdown",
    "fidec.report.build": "write_report",
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names.split()}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'fidec.report' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
