"""The repository's committed results can be rebuilt from the repository, and benchmarks/ keeps one folder per study."""

import json
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
#: fidec 0.1's cpu reports, whose run folders were lost to an ignore rule; each carries INPUTS_MISSING.md.
HISTORICAL = {"benchmarks/cpu-v0.1/report", "benchmarks/control/report"}


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
                "metrics (benchmarks/<study>/run.sh, copy_metrics) and build the report from that copy"
            )
    assert exempt <= HISTORICAL, f"reports without inputs: {sorted(exempt - HISTORICAL)}"
    assert HISTORICAL <= exempt, f"stale HISTORICAL exemptions (no such report): {sorted(HISTORICAL - exempt)}"


def test_ignore_rules_keep_benchmark_runs():
    """Run folders under benchmarks/ are results, not scratch: no ignore rule may hide them."""
    probe = "benchmarks/comparison/runs/fd/x/metrics.jsonl"
    out = subprocess.run(["git", "check-ignore", "-q", probe], cwd=ROOT, capture_output=True)
    assert out.returncode == 1, f"{probe} is ignored by .gitignore"


def study_folders() -> list[Path]:
    """benchmarks/<study>/: every folder directly under benchmarks/ except shared helpers (``_lib`` and the like)."""
    return sorted(p for p in BENCHMARKS.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))


def test_each_study_has_a_readme_and_at_most_one_report():
    studies = study_folders()
    assert studies, "no study folder under benchmarks/"
    for study in studies:
        name = study.relative_to(ROOT).as_posix()
        assert (study / "README.md").is_file(), f"{name} has no README.md"
        reports = [p for p in study.rglob("report.json") if "runs" not in p.relative_to(study).parts]
        folders = {p.parent for p in reports}
        found = sorted(f.relative_to(ROOT).as_posix() for f in folders)
        assert len(folders) <= 1, f"{name} has more than one report: {found}"
        for folder in folders:
            where = folder.relative_to(ROOT)
            assert folder == study / "report", f"{name}: the report belongs in {name}/report/, not {where}"
        assert not any(p.name.startswith("report") and p != study / "report" for p in study.iterdir() if p.is_dir()), (
            f"{name} has a report folder other than report/"
        )


def test_benchmarks_readme_names_every_study():
    index = (BENCHMARKS / "README.md").read_text()
    missing = [p.name for p in study_folders() if f"{p.name}/" not in index]
    assert not missing, f"benchmarks/README.md does not name the study folder(s) {missing}"


def test_run_scripts_name_existing_benchmark_paths():
    """A run.sh under benchmarks/ that names a suite or a shared script under benchmarks/ names one that exists."""
    for script in sorted(BENCHMARKS.glob("*/run.sh")):
        for path in re.findall(r"benchmarks/[\w./-]+\.(?:toml|sh|py)", script.read_text()):
            assert (ROOT / path).exists(), f"{script.relative_to(ROOT)} names {path}, which does not exist"
