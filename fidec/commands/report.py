"""``fidec report``: Markdown + PNG report of run folders or sweeps (:mod:`fidec.report`).

The report (:mod:`fidec.report`, which loads NumPy, matplotlib and rliable) is imported inside ``cmd_report``,
for start-up time: ``fidec --help`` builds every command's parser without it.
"""

from __future__ import annotations

from pathlib import Path


def cmd_report(args) -> int:
    from fidec.report import write_report

    paths = args.run_dirs
    out = args.out or (Path(paths[0]) / "report" if len(paths) == 1 else Path("report"))
    md = write_report(
        paths,
        out,
        reps=args.reps,
        poi_reps=args.poi_reps,
        include_incomplete=args.include_incomplete,
        title=args.title,
    )
    print(f"report: {md}")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "report",
        help="Markdown + PNG report of run folders or sweeps (per-task table, IQM/PoI with CIs, curves)",
        description=(
            "Report on run folders (or folders holding them, e.g. a sweep's OUT): per-task and per-family "
            "tables, IQM and mean with 95%% stratified-bootstrap CIs and probability of improvement of FD over "
            "each baseline (rliable), learning curves, and the published numbers (docs/presets.md)."
        ),
    )
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run folders or folders holding run folders")
    p.add_argument("--out", default=None, help="output folder (default RUN_DIR/report for one RUN_DIR, else ./report)")
    p.add_argument("--reps", type=int, default=50_000, help="bootstrap replicates for IQM/mean CIs (default 50000)")
    p.add_argument("--poi-reps", type=int, default=2_000, help="bootstrap replicates for PoI CIs (default 2000)")
    p.add_argument("--include-incomplete", action="store_true", help="also report unfinished runs")
    p.add_argument("--title", default="fidec benchmark report")
    p.set_defaults(func=cmd_report)
