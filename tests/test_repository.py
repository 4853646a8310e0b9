"""The repository's committed results can be rebuilt from the repository (issue 15)."""

import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: fidec 0.1's cpu reports, whose run folders were lost to an ignore rule; each carries INPUTS_MISSING.md.
HISTORICAL = {"benchmarks/cpu/report", "benchmarks/cpu/report-with-control"}


def committed(pattern: str) -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", pattern], cwd=ROOT, capture_output=True, text=True, check=True)
        return [ROOT / p for p in out.stdout.split()]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: every file is "committed"
        return sorted(ROOT.glob(pattern))


def test_every_committed_report_has_its_inputs():
    reports = committed("benchmarks/**/report.json")
    assert reports, "no committed report.json found under benchmarks/"
    exempt = set()
    for report in reports:
        folder = report.parent.relative_to(ROOT).as_posix()
        if (report.parent / "INPUTS_MISSING.md").exists():
            exempt.add(folder)
            continue
        runs = json.loads(report.read_text())["runs"]
        assert runs, f"{report} lists no runs"
        for run in runs:
            run_dir = ROOT / run["run_dir"]
            assert not Path(run["run_dir"]).is_absolute(), f"{report}: run_dir {run['run_dir']} is absolute"
            assert (run_dir / "eval.csv").exists() or (run_dir / "metrics.jsonl").exists(), (
                f"{report} was built from {run['run_dir']}, which is not in the repository; commit the run's "
                "metrics (benchmarks/*/run.sh copy_metrics) and build the report from that copy"
            )
    assert exempt <= HISTORICAL, f"reports without inputs: {sorted(exempt - HISTORICAL)}"


def test_ignore_rules_keep_benchmark_runs():
    """Run folders under benchmarks/ are results, not scratch: no ignore rule may hide them."""
    probe = "benchmarks/cpu/runs/fd/x/metrics.jsonl"
    out = subprocess.run(["git", "check-ignore", "-q", probe], cwd=ROOT, capture_output=True)
    assert out.returncode == 1, f"{probe} is ignored by .gitignore"
