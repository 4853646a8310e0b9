"""The release's settings, read from its scripts by benchmarks/parity/release_config.py and committed as
benchmarks/parity/release_config.json, against fidec's presets as they are now (no release checkout needed)."""

import fnmatch
import json
from pathlib import Path

import pytest

from fidec.config import FAMILY_TABLE, preset_family, resolve
from fidec.data.sources.conventions import ACTION_CLIP_EPS

TABLE = json.loads((Path(__file__).parents[1] / "benchmarks/parity/release_config.json").read_text())
CONSTANTS = {"action_clip_eps": ACTION_CLIP_EPS}


def fidec_value(run: dict, field: str):
    over = {"agent": run["agent"], "env": run["env"]}
    if run["phase"] == "online":
        over["online_steps"] = run["settings"]["online_steps"][0]
    if field in CONSTANTS:
        return CONSTANTS[field]
    v = resolve(over).to_dict()[field]
    return list(v) if isinstance(v, tuple) else v


def deliberate_reason(run_id: str, field: str) -> str | None:
    return next(
        (d["reason"] for d in TABLE["deliberate"] if d["field"] == field and fnmatch.fnmatchcase(run_id, d["runs"])),
        None,
    )


@pytest.mark.parametrize("run", TABLE["runs"], ids=[r["id"] for r in TABLE["runs"]])
def test_every_release_setting_is_fidecs_or_a_listed_difference(run):
    for field, (release, recorded, source) in run["settings"].items():
        mine = fidec_value(run, field)
        assert mine == recorded, f"{run['id']} {field}: fidec now gives {mine!r}, the table records {recorded!r}"
        if release != mine:
            assert deliberate_reason(run["id"], field), (
                f"{run['id']} {field}: the release ran {release!r} ({source}), fidec gives {mine!r} and no "
                "deliberate difference lists it"
            )


def test_the_table_covers_every_family_and_both_phases():
    assert TABLE["release_commit"] == "8c90736" and TABLE["fql_commit"] == "719d044"
    families = {preset_family(r["env"]) for r in TABLE["runs"]}
    assert set(FAMILY_TABLE) <= families  # every row of docs/presets.md's per-family table is checked
    assert {r["phase"] for r in TABLE["runs"]} == {"offline", "online"}
    assert {r["agent"] for r in TABLE["runs"]} == {"fd", "deflow", "fql"}
    assert all(d["reason"] for d in TABLE["deliberate"])
    # Q normalisation follows each release script: on for the default tasks, off on the grid's other tasks
    norm = {(r["env"] in TABLE["default_tasks"], r["settings"]["normalize_q"][0]) for r in TABLE["runs"]
            if r["agent"] == "fd" and r["phase"] == "offline" and not r["env"].startswith(("visual-", "minari:"))}
    assert norm == {(True, True), (False, False)}
