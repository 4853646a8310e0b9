"""The published numbers a report shows beside ours, and what differs between their setup and these runs'.

Source: ``docs/presets.md``, section "Published numbers" (IQL, ReBRAC and FQL from the FQL paper; DeFlow from the
DeFlow paper; Fisher Decorator from its paper).
"""

from __future__ import annotations

import re
from pathlib import Path

from fidec.data.catalog import CATALOG
from fidec.io import read_json
from fidec.report.runs import Run, distinct_values, join_values

#: Published per-family mean success (%) on OGBench state tasks (5 tasks each, 1M steps, official datasets).
#: None: not available to us.
PUBLISHED_SOURCE = "docs/presets.md, 'Published numbers' (per-family mean success %, OGBench state)"
PUBLISHED_METHODS = ("IQL", "ReBRAC", "FQL", "DeFlow", "Fisher Decorator")
PUBLISHED: dict[str, dict[str, float | None]] = {
    "antmaze-large": {"IQL": 53, "ReBRAC": 81, "FQL": 79, "DeFlow": 81, "Fisher Decorator": 87},
    "antmaze-giant": {"IQL": 4, "ReBRAC": 26, "FQL": 9, "DeFlow": 12, "Fisher Decorator": None},
    "humanoidmaze-medium": {"IQL": 33, "ReBRAC": 22, "FQL": 58, "DeFlow": 48, "Fisher Decorator": 72},
    "humanoidmaze-large": {"IQL": 2, "ReBRAC": 2, "FQL": 4, "DeFlow": 5, "Fisher Decorator": None},
    "antsoccer-arena": {"IQL": 8, "ReBRAC": 0, "FQL": 60, "DeFlow": 67, "Fisher Decorator": None},
    "cube-single": {"IQL": 83, "ReBRAC": 91, "FQL": 96, "DeFlow": 96, "Fisher Decorator": None},
    "cube-double": {"IQL": 7, "ReBRAC": 12, "FQL": 29, "DeFlow": 40, "Fisher Decorator": None},
    "scene": {"IQL": 28, "ReBRAC": 41, "FQL": 56, "DeFlow": 51, "Fisher Decorator": None},
    "puzzle-3x3": {"IQL": 9, "ReBRAC": 21, "FQL": 30, "DeFlow": 43, "Fisher Decorator": None},
    "puzzle-4x4": {"IQL": 7, "ReBRAC": 14, "FQL": 17, "DeFlow": 11, "Fisher Decorator": None},
    "D4RL antmaze (6)": {"IQL": 57, "ReBRAC": 78, "FQL": 84, "DeFlow": 83, "Fisher Decorator": 87},
    "D4RL adroit (12)": {"IQL": 53, "ReBRAC": 59, "FQL": 52, "DeFlow": 52, "Fisher Decorator": None},
}
#: Our agent -> its column in the published table.
PUBLISHED_COLUMN = {"fd": "Fisher Decorator", "deflow": "DeFlow", "fql": "FQL", "iql": "IQL", "rebrac": "ReBRAC"}
#: The published protocol (docs/presets.md, "Published numbers"), for the "what differs" line.
PAPER = {"steps": 1_000_000, "hidden_dims": [512, 512, 512, 512], "eval_every": 100_000, "eval_episodes": 50}


def published_family(family: str) -> str | None:
    """Our family name -> the published table's row ('cube-single-play' -> 'cube-single')."""
    key = re.sub(r"-(play|navigate)$", "", family)
    return key if key in PUBLISHED else None


def dataset_provenance(run: Run) -> str:
    """Where a run's training data came from, from the dataset's provenance sidecar when readable."""
    ds = run.meta.get("dataset") or {}
    name, d = ds.get("name"), ds.get("dir")
    spec = CATALOG.get(name or "")
    official = f"official {spec.episodes} episodes" if spec else "official size unknown"
    if not name or not d:
        return f"{name or 'dataset'}: provenance not recorded"
    side = read_json(Path(d) / f"{name}.npz.json")
    if side:
        eps = side.get("episodes")
        eps = eps.get("train") if isinstance(eps, dict) else eps
        return (
            f"{name}: generated locally by fidec with OGBench's oracles, {eps} episodes, "
            f"seed {side.get('seed')} ({official})"
        )
    if (Path(d) / f"{name}.npz").exists():
        return f"{name}: {ds.get('transitions')} transitions, no fidec provenance (downloaded or made elsewhere)"
    return f"{name}: {ds.get('transitions')} transitions from {d} (not readable here; {official})"


def what_differs(runs: list[Run]) -> list[str]:
    """Differences between these runs' setup and the published one (docs/presets.md)."""
    items = []
    prov = sorted({dataset_provenance(r) for r in runs})
    items.append("data: " + "; ".join(prov))
    steps = distinct_values(runs, lambda r: r.config.get("steps"))
    if steps != [PAPER["steps"]]:
        items.append(f"budget: {join_values(steps)} gradient steps (published: 1M)")
    dims = distinct_values(runs, lambda r: r.config.get("hidden_dims"))
    if dims != [tuple(PAPER["hidden_dims"])]:
        items.append(f"networks: {join_values(dims)} MLPs (published: 4×512)")
    ev = distinct_values(runs, lambda r: (r.config.get("eval_episodes"), r.config.get("eval_every")))
    if ev != [(PAPER["eval_episodes"], PAPER["eval_every"])]:
        items.append(
            "evaluation: "
            + ", ".join(f"{e} episodes every {s} steps" for e, s in ev)
            + " (published: 50 episodes every 100k steps)"
        )
    batch = distinct_values(runs, lambda r: r.config.get("batch_size"))
    if batch != [256]:
        items.append(f"batch size {join_values(batch)} (published: 256)")
    og = distinct_values(runs, lambda r: (r.meta.get("versions") or {}).get("ogbench"))
    timing = distinct_values(runs, lambda r: r.meta.get("success_timing"))
    items.append(
        f"OGBench {join_values(og)} with success_timing {join_values(timing)} "
        "(FQL's published numbers: OGBench 1.1.0, 'post')"
    )
    seeds = sorted({len([x for x in runs if x.label == r.label and x.env == r.env]) for r in runs})
    items.append(f"{'/'.join(map(str, seeds))} seed(s) per method and task")
    return items
