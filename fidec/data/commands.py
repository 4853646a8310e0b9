"""``fidec data generate | download | verify | list``: OGBench datasets, offline or official.

All four use the dataset directory setting: ``--dataset-dir``, else ``$FIDEC_DATASET_DIR``, else
``~/.ogbench/data`` (OGBench's own default), the same one ``fidec train`` reads.
"""

from __future__ import annotations

import argparse
import sys

from fidec.errors import DatasetError


def _add_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dataset-dir",
        default=None,
        metavar="DIR",
        help="dataset directory (default: $FIDEC_DATASET_DIR, else ~/.ogbench/data)",
    )


def _nonneg_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {v}")
    return v


def _pos_int(text: str) -> int:
    v = _nonneg_int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


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
        type=_pos_int,
        default=None,
        metavar="N",
        help="train episodes (validation gets N//10, at least 1); default: OGBench's recipe",
    )
    g.add_argument("--seed", type=_nonneg_int, default=0, metavar="S", help="random seed (default 0)")
    g.add_argument(
        "--workers",
        type=_pos_int,
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
    g.add_argument("--chunk-episodes", type=_pos_int, default=None, help=argparse.SUPPRESS)
    _add_dir(g)
    g.set_defaults(func=cmd_generate)

    d = dsub.add_parser(
        "download",
        help="OGBench's official download (needs network)",
        description="Download DATASET from OGBench's server; without network, fail fast.",
    )
    d.add_argument("dataset", metavar="DATASET")
    _add_dir(d)
    d.set_defaults(func=cmd_download)

    v = dsub.add_parser(
        "verify",
        help="check a dataset's files and print statistics",
        description="Verify DATASET's train and -val files: schema, shapes, dtypes, episode boundaries, "
        "action range, finiteness and the checksum recorded at generation.",
    )
    v.add_argument("dataset", metavar="DATASET", help="dataset or singletask env name")
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
    from fidec.data.generate import generate

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
    )
    print(report.summary())
    return 0


def cmd_download(args) -> int:
    from fidec.data.download import download_dataset

    train, val = download_dataset(args.dataset, args.dataset_dir)
    print(f"{train}\n{val}")
    return 0


def cmd_verify(args) -> int:
    from fidec.data.catalog import get_spec
    from fidec.data.verify import format_stats, verify_dataset
    from fidec.paths import dataset_files

    spec = get_spec(args.dataset)
    for path in dataset_files(spec.name, args.dataset_dir):
        stats = verify_dataset(path)
        print(format_stats(stats))
    return 0


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def cmd_list(args) -> int:
    from fidec.data.catalog import CATALOG
    from fidec.data.generate import STAGING, sidecar_path
    from fidec.data.npzio import read_json
    from fidec.paths import dataset_dir, dataset_files

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
    if not rows:
        raise DatasetError(f"no known dataset name contains {args.pattern!r}; run 'fidec data list'")
    widths = [max(len(r[i]) for r in rows + [("DATASET", "STATE", "SIZE", "EPISODES", "HOW")]) for i in range(4)]
    out = sys.stdout
    out.write(f"dataset directory: {directory}\n")
    header = ("DATASET", "STATE", "SIZE", "EPISODES", "HOW")
    for r in [header, *rows]:
        out.write("  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4] + "\n")
    return 0
