"""``fidec data generate | download | verify | list``: OGBench datasets, offline or official; Minari datasets.

All four use the dataset directory setting: ``--dataset-dir``, else ``$FIDEC_DATASET_DIR``, else
``~/.ogbench/data`` (OGBench's own default), the same one ``fidec train`` reads. Minari datasets
(``minari:ID``) live in Minari's root, ``$MINARI_DATASETS_PATH`` else ``~/.minari/datasets``.
"""

from __future__ import annotations

import argparse
import sys

from fidec.config import DATA_CONVENTIONS
from fidec.config.coerce import nonneg_int, positive_int
from fidec.data.catalog import (
    ANTSOCCER_EXPERT_HOURS,
    ANTSOCCER_REASON,
    CATALOG,
    HUMANOID_EXPERT_DAYS,
    HUMANOID_REASON,
    get_spec,
)
from fidec.data.expert import EXPERT_FILE, EXPERTS, Expert, default_expert_dir
from fidec.data.provenance import sidecar_path
from fidec.errors import ConfigError, DatasetError, FidecError
from fidec.io import read_json
from fidec.paths import dataset_dir, dataset_files
from fidec.tasknames import canonical_env, source_of

# The modules that load NumPy, JAX, OGBench or Minari are imported inside the command that needs them, so that
# `fidec --help` and the other commands start quickly (start-up time).


def _add_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dataset-dir",
        default=None,
        metavar="DIR",
        help="dataset directory (default: $FIDEC_DATASET_DIR, else ~/.ogbench/data)",
    )


def register(sub) -> None:
    p = sub.add_parser(
        "data",
        help="generate, download, verify and list OGBench datasets",
        description=__doc__.splitlines()[0],
    )
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION", parser_class=type(p))
    dsub.required = True

    g = dsub.add_parser(
        "generate",
        help="make a dataset locally with OGBench's scripted oracles (no network needed)",
        description="Make DATASET (train and -val) with OGBench's oracles, in OGBench's file format.",
    )
    g.add_argument("dataset", metavar="DATASET", help="e.g. cube-single-play-v0 (see 'fidec data list')")
    g.add_argument(
        "--episodes",
        type=positive_int,
        default=None,
        metavar="N",
        help="train episodes (validation gets N//10, at least 1); default: OGBench's recipe",
    )
    g.add_argument("--seed", type=nonneg_int, default=0, metavar="S", help="random seed (default 0)")
    g.add_argument(
        "--workers",
        type=positive_int,
        default=None,
        metavar="W",
        help="worker processes (default: all cores)",
    )
    g.add_argument(
        "--backend",
        choices=("local", "ray"),
        default="local",
        help="local processes, or Ray tasks across a cluster (needs fidec[ray])",
    )
    g.add_argument("--force", action="store_true", help="replace existing files")
    g.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    g.add_argument("--chunk-episodes", type=positive_int, default=None, help=argparse.SUPPRESS)
    g.add_argument("--episode-length", type=positive_int, default=None, help=argparse.SUPPRESS)  # quick checks, tests
    g.add_argument(
        "--image-size",
        type=positive_int,
        default=None,
        metavar="PX",
        help="visual-* datasets: render PX x PX frames (default OGBench's 64; smaller for quick checks)",
    )
    g.add_argument(
        "--expert",
        default=None,
        metavar="PATH",
        help="ant mazes: the expert (expert.npz or its folder) from 'fidec data expert ant' "
        "(default: DATASET_DIR/experts/ant/expert.npz)",
    )
    _add_dir(g)
    g.set_defaults(func=cmd_generate)

    e = dsub.add_parser(
        "expert",
        help="train the ant locomotion expert the ant maze datasets are collected with (OGBench's SAC recipe)",
        description="Train OGBench's directional ant expert (SAC on online-ant-xy-v0, 400k steps, as in OGBench's "
        "data_gen_scripts/commands.sh) into DATASET_DIR/experts/ant, resuming an interrupted run exactly; "
        "then report its goal-reaching success in a maze.",
    )
    e.add_argument("expert", metavar="NAME", help="ant (humanoid and antball are not built: see 'fidec data list')")
    e.add_argument("--out", default=None, metavar="DIR", help="expert folder (default: DATASET_DIR/experts/NAME)")
    e.add_argument(
        "--steps", type=positive_int, default=None, metavar="N", help="SAC steps (default: 400000, OGBench's)"
    )
    e.add_argument("--seed", type=nonneg_int, default=0, metavar="S", help="random seed (default 0)")
    e.add_argument("--force", action="store_true", help="start over, discarding a checkpoint in the folder")
    e.add_argument(
        "--check-maze",
        default="antmaze-large-v0",
        metavar="ENV",
        help="after training, the maze whose 5 evaluation tasks measure goal-reaching success ('' to skip)",
    )
    e.add_argument("--check-episodes", type=positive_int, default=2, metavar="N", help="episodes per task (default 2)")
    e.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    _add_dir(e)
    e.set_defaults(func=cmd_expert)

    d = dsub.add_parser(
        "download",
        help="OGBench's official download, or a Minari dataset's (minari:ID) (needs network)",
        description="Download DATASET from OGBench's server, or minari:ID from Minari's; without network, fail fast.",
    )
    d.add_argument("dataset", metavar="DATASET", help="an OGBench dataset name or minari:ID")
    _add_dir(d)
    d.set_defaults(func=cmd_download)

    v = dsub.add_parser(
        "verify",
        help="check a dataset's files and print statistics",
        description="Verify DATASET's train and -val files: schema, shapes, dtypes, episode boundaries, "
        "action range, finiteness and the checksum recorded at generation.",
    )
    v.add_argument(
        "dataset", metavar="DATASET", help="dataset or singletask env name, minari:ID, a .npz or a D4RL .hdf5 file"
    )
    v.add_argument(
        "--env-id", default=None, help="Minari/.npz/.hdf5: the Gymnasium environment to check the data against"
    )
    v.add_argument(
        "--data-convention",
        default="episodes",
        choices=DATA_CONVENTIONS,
        help="Minari: the data view training would use (fidec train --data-convention; default episodes)",
    )
    _add_dir(v)
    v.set_defaults(func=cmd_verify)

    li = dsub.add_parser(
        "list",
        help="known datasets, whether they are here, and how to get them",
        description="Every dataset fidec knows, its state in the dataset directory and how to obtain it.",
    )
    li.add_argument("pattern", nargs="?", default=None, help="only names containing this text")
    _add_dir(li)
    li.set_defaults(func=cmd_list)


def cmd_generate(args) -> int:
    from fidec.data.generate import generate  # deferred: start-up time

    report = generate(
        args.dataset,
        episodes=args.episodes,
        seed=args.seed,
        workers=args.workers,
        dataset_dir=args.dataset_dir,
        progress=args.progress,
        backend=args.backend,
        force=args.force,
        chunk_episodes=args.chunk_episodes,
        expert=args.expert,
        image_size=args.image_size,
        episode_length=args.episode_length,
    )
    print(report.summary())
    return 0


def cmd_expert(args) -> int:
    import json
    import shutil
    from pathlib import Path

    from fidec.experts import ExpertTrainer, SACConfig, maze_success  # deferred: start-up time (JAX)

    if args.expert not in EXPERTS:
        known = {
            "humanoid": HUMANOID_REASON.format(h=HUMANOID_EXPERT_DAYS),
            "antball": ANTSOCCER_REASON.format(s=ANTSOCCER_EXPERT_HOURS),
        }
        why = known.get(args.expert, "unknown expert")
        raise FidecError(f"cannot train expert {args.expert!r}: {why}; fidec trains: {', '.join(EXPERTS)}")
    out = Path(args.out).expanduser() if args.out else default_expert_dir(args.dataset_dir, args.expert)
    if args.force and out.exists():
        shutil.rmtree(out)
    config = SACConfig(seed=args.seed, **({"train_steps": args.steps} if args.steps else {}))
    result = ExpertTrainer(config, out, progress=args.progress).run(resume=True)
    print(f"expert: {out / EXPERT_FILE} (step {result['step']})")
    for ev in result["evaluations"]:
        print(f"  step {ev['step']}: directional return {ev['return_mean']:.1f} +- {ev['return_std']:.1f}")
    if args.check_maze:
        res = maze_success(Expert.load(out / EXPERT_FILE), args.check_maze, args.check_episodes, seed=args.seed)
        print(
            f"  goal-reaching success in {args.check_maze} (waypoint oracle, no noise): {res['success']:.2f} "
            f"{json.dumps(res['per_task'])}"
        )
    return 0


def _is_minari(name: str) -> bool:
    return source_of(name) == "minari"


def cmd_download(args) -> int:
    from fidec.data.download import download_dataset, download_minari  # deferred: start-up time

    if _is_minari(args.dataset):
        print(download_minari(args.dataset))
        return 0

    train, val = download_dataset(args.dataset, args.dataset_dir)
    print(f"{train}\n{val}")
    return 0


def cmd_verify(args) -> int:
    from fidec.data.verify import check_split_frames, format_stats, verify_dataset  # deferred: start-up time

    if source_of(args.dataset) in ("npz", "hdf5") or _is_minari(args.dataset):
        from fidec.data.sources import load_task  # deferred: start-up time

        convention = "d4rl" if source_of(args.dataset) == "hdf5" else args.data_convention
        print(format_task(load_task(canonical_env(args.dataset), env_id=args.env_id, convention=convention)))
        return 0
    spec = get_spec(args.dataset)
    for path in dataset_files(spec.name, args.dataset_dir):
        stats = verify_dataset(path)
        print(format_stats(stats))
    if spec.pixels:
        check_split_frames(spec.name, args.dataset_dir)  # each split passed alone; both must have one frame size
    return 0


def format_task(task) -> str:
    """``fidec data verify`` for Minari/.npz data: it loaded and passed every check; what training will see."""
    info = task.info
    lines = [
        f"{task.env_name}: OK ({info.get('episodes', '?')} episodes, {len(task.train['observations'])} transitions, "
        f"observation dim {task.obs_dim}, action dim {task.action_dim})",
        f"  evaluated in {info.get('eval_env')}; actions: {info['actions']['rule']}",
        f"  conventions: {info['conventions']['name']} (reward shift {info['conventions']['reward_shift']:+g}); "
        f"masks = 1 - terminations ({int((task.train['masks'] == 0).sum())} terminal transitions)",
    ]
    refs = info.get("ref_scores")
    lines.append(f"  reference scores (min, max): {refs[0]:g}, {refs[1]:g}" if refs else "  no reference scores")
    return "\n".join(lines)


def _minari_rows(pattern: str | None) -> tuple[list[tuple], str]:
    """Rows for the local Minari datasets (or a note why there are none) for ``fidec data list``."""
    from fidec.data.sources import minari as msrc  # deferred: start-up time

    try:
        local = msrc.list_local()
    except ConfigError as e:
        return [], f"Minari datasets: not listed ({e})"
    rows = []
    for did, meta in local.items():
        name = f"minari:{did}"
        if pattern and pattern not in name:
            continue
        refs = "ref scores" if meta.get("ref_max_score") is not None else "no ref scores"
        spec = meta.get("eval_env_spec") or meta.get("env_spec") or ""
        env = spec.split('"id": "', 1)[1].split('"', 1)[0] if '"id": "' in str(spec) else "?"
        rows.append(
            (
                name,
                "present",
                f"{meta.get('total_episodes')} ep",
                f"{meta.get('total_steps')} steps",
                f"env {env}, {refs}",
            )
        )
    return rows, f"Minari root: {msrc.root()}"


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def cmd_list(args) -> int:
    from fidec.data.generate import STAGING  # deferred: start-up time

    directory = dataset_dir(args.dataset_dir)
    rows = []
    for name, spec in CATALOG.items():
        if args.pattern and args.pattern not in name:
            continue
        train, val = dataset_files(name, directory)
        present = [p for p in (train, val) if p.exists()]
        if len(present) == 2:
            state, size = "present", _size(sum(p.stat().st_size for p in present))
            record = read_json(sidecar_path(train))
            made = (record or {}).get("episodes", {}).get("train")
            if made is not None and made != spec.episodes:
                state = f"present ({made} episodes)"
        elif present:
            state, size = "partial", _size(sum(p.stat().st_size for p in present))
        elif (directory / STAGING / name).exists():
            state, size = "unfinished", "-"
        else:
            state, size = "absent", "-"
        rows.append((name, state, size, f"{spec.episodes}x{spec.episode_length}", spec.how()))
    minari_rows, minari_note = _minari_rows(args.pattern)
    if not rows and not minari_rows:
        raise DatasetError(f"no known dataset name contains {args.pattern!r}; run 'fidec data list'")
    out = sys.stdout
    if rows:
        widths = [max(len(r[i]) for r in rows + [("DATASET", "STATE", "SIZE", "EPISODES", "HOW")]) for i in range(4)]
        out.write(f"dataset directory: {directory}\n")
        header = ("DATASET", "STATE", "SIZE", "EPISODES", "HOW")
        for r in [header, *rows]:
            out.write("  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4] + "\n")
    out.write(f"{minari_note}\n")
    if minari_rows:
        widths = [max(len(r[i]) for r in minari_rows) for i in range(4)]
        for r in minari_rows:
            out.write("  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4] + "\n")
    return 0
