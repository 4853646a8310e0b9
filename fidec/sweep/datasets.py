"""The datasets a sweep's jobs need: generated when missing and generatable, else one error naming them all."""

from __future__ import annotations

from fidec.data.catalog import dataset_name_for_env, get_spec
from fidec.data.generate import generate_dataset
from fidec.errors import FidecError
from fidec.paths import dataset_files
from fidec.sweep.jobs import Job
from fidec.sweep.suites import Suite


def ensure_datasets(suite: Suite, jobs: list[Job], generate: bool, workers: int, log=print) -> list[str]:
    """Generate the missing generatable datasets the jobs need (suite's episode counts); returns the names
    generated. Raises one error naming every dataset that is missing and is not generated."""
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
                log(f"generating {name} ({eps} episodes) into {d} ...")
                generate_dataset(name, episodes=eps, seed=0, workers=workers, dataset_dir=d, progress=True)
                made.append(name)
    if problems:
        raise FidecError("; ".join(problems))
    return made
