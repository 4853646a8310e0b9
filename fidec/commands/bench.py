"""`fidec bench-speed`: training throughput (updates/s, compile time, memory, FLOPs, fraction of matmul peak).

Examples::

    fidec bench-speed                                   # fd, deflow, fql at the paper preset, one seed
    fidec bench-speed --agents fd,fd-per-action,deflow,fql --compare-seeds 3 --out bench.json
    fidec bench-speed --agents fd --preset cpu --sweep batch,fisher --sweep-values 64,256
    fidec bench-speed --preset tiny --dispatch          # seconds; chunked vs one dispatch per update

Its parser lists :mod:`fidec.bench`'s agents and sweeps, so this module imports the benchmark (and JAX) at the top.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import jax

from fidec import bench
from fidec.bench import AGENT_VARIANTS, SWEEPS
from fidec.config import PRESETS
from fidec.errors import ConfigError
from fidec.io import atomic_write_text, write_json


def _csv(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def _ints(text: str) -> list[int]:
    try:
        return [int(x) for x in _csv(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def cmd_bench(args) -> int:
    # compile_s must be a real compilation, not a hit in the CLI's persistent cache (unless --compile-cache)
    previous = jax.config.jax_enable_compilation_cache
    if not args.compile_cache:
        jax.config.update("jax_enable_compilation_cache", False)
    try:
        return _bench(args)
    finally:
        jax.config.update("jax_enable_compilation_cache", previous)


def _render(args) -> int:
    """Markdown from records measured earlier (no measuring)."""
    records = []
    for path in args.render:
        try:
            records += json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            raise ConfigError(f"cannot read bench-speed records from {path}: {e}") from None
    presets = sorted({r["preset"] for r in records})
    md = bench.markdown(records, title=f"fidec bench-speed ({', '.join(presets)} preset)")
    print(md)
    if args.markdown:
        atomic_write_text(args.markdown, md)
    return 0


def _bench(args) -> int:
    if args.render:
        return _render(args)
    overrides = {}
    if args.batch_size is not None:
        overrides["batch_size"] = args.batch_size
    if args.fisher_samples is not None:
        overrides["fisher_samples"] = args.fisher_samples
    if args.hidden_dims is not None:
        overrides["hidden_dims"] = tuple(args.hidden_dims)
    if args.flow_steps is not None:
        overrides["flow_steps"] = args.flow_steps
    sweeps = _csv(args.sweep) if args.sweep else None
    if args.sweep_values and sweeps and len(sweeps) > 1:
        raise ConfigError("--sweep-values applies to one sweep; name a single --sweep with it")
    cases = bench.build_cases(
        _csv(args.agents),
        args.preset,
        overrides,
        args.obs_dim,
        args.action_dim,
        seeds=args.seeds,
        sweeps=sweeps,
        sweep_values=args.sweep_values,
        dispatch=args.dispatch,
        compare_seeds=args.compare_seeds,
        image_shape=tuple(args.image_shape) if args.image_shape else None,
    )
    chunk = args.chunk or bench.DEFAULT_CHUNK[args.preset]
    if chunk < 1 or args.repeats < 1:
        raise ConfigError("--chunk and --repeats must be >= 1")
    log = (lambda m: print(m, file=sys.stderr, flush=True)) if not args.quiet else None
    records = bench.measure(cases, chunk, args.repeats, peak_size=args.peak_size, log=log)
    md = bench.markdown(records, title=f"fidec bench-speed ({args.preset} preset)")
    print(md)
    if args.out:
        write_json(args.out, records)
    if args.markdown:
        atomic_write_text(args.markdown, md)
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "bench-speed",
        help="measure training throughput (updates/s, compile time, memory, FLOPs, fraction of matmul peak)",
        description=__doc__.split("\n\n")[0] + " Synthetic device-resident data: values do not affect cost.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.split("\n\n")[1:]),
    )
    p.add_argument(
        "--agents",
        default="fd,deflow,fql",
        help=f"comma-separated, from {', '.join(AGENT_VARIANTS)} (default fd,deflow,fql)",
    )
    p.add_argument("--preset", choices=PRESETS, default="paper")
    p.add_argument("--out", default=None, help="write the records as a JSON list to this file")
    p.add_argument("--markdown", default=None, help="also write the Markdown tables to this file")
    p.add_argument("--chunk", type=int, default=None, help="updates per timed chunk (default: paper 4, cpu 10, tiny 5)")
    p.add_argument("--repeats", type=int, default=5, help="timed chunks per case (median reported; default 5)")
    p.add_argument("--seeds", type=int, default=1, help="seeds per process (vmap) in every case (default 1)")
    p.add_argument(
        "--compare-seeds",
        type=int,
        default=None,
        metavar="S",
        help="also run S seeds one after another and S seeds vmapped in one process",
    )
    p.add_argument("--dispatch", action="store_true", help="also time one dispatch per update (chunk of 1, n calls)")
    p.add_argument(
        "--sweep",
        default=None,
        help=f"comma-separated sweeps from {', '.join(SWEEPS)}: "
        + "; ".join(f"{k} {','.join(map(str, v))}" for k, v in SWEEPS.items()),
    )
    p.add_argument("--sweep-values", type=_ints, default=None, help="restrict a single sweep to these values")
    p.add_argument("--obs-dim", type=int, default=28, help="observation dimension (default 28, cube-single)")
    p.add_argument("--action-dim", type=int, default=5, help="action dimension (default 5, cube-single)")
    p.add_argument(
        "--image-shape",
        type=_ints,
        default=None,
        metavar="H,W,C",
        help="pixel observations: one frame's shape, e.g. 64,64,3 (OGBench's visual tasks); the preset's visual "
        "configuration (IMPALA encoder per network, frame stack 3, p_aug 0.5) on synthetic uint8 frames",
    )
    p.add_argument("--batch-size", type=int, default=None, help="override the preset's batch size")
    p.add_argument("--fisher-samples", type=int, default=None, help="override N (Fisher samples per state)")
    p.add_argument("--flow-steps", type=int, default=None, help="override K (Euler steps)")
    p.add_argument("--hidden-dims", type=_ints, default=None, metavar="W1,W2,...", help="override the MLP widths")
    p.add_argument("--peak-size", type=int, default=2048, help="matrix size of the matmul-peak probe (default 2048)")
    p.add_argument(
        "--compile-cache",
        action="store_true",
        help="keep the persistent XLA compilation cache on (faster reruns; compile_s may then be a cache hit)",
    )
    p.add_argument(
        "--render",
        nargs="+",
        metavar="JSON",
        default=None,
        help="print (and with --markdown write) the tables of records saved earlier with --out; measures nothing",
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=cmd_bench)
