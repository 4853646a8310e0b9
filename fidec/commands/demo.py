"""``fidec demo geometry``: see the geometry of the Fisher trust region on a 2-D behaviour distribution.

The demo (:mod:`fidec.demos`, which loads JAX) is imported inside ``cmd_geometry``, for start-up time: ``fidec
--help`` builds every command's parser without it."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from fidec.errors import FidecError

DEFAULT_OUT = "runs/demo-geometry"


def cmd_geometry(args) -> int:
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise FidecError(f"--out {out} exists and is not a directory; pass a directory path")
    from fidec.demos.geometry import format_table, run_demo

    t0 = time.time()
    size = "reduced size (--quick)" if args.quick else "full size"
    print(f"fidec demo geometry: {size}, seed {args.seed}, writing to {out}/", file=sys.stderr)
    metrics = run_demo(
        out, quick=args.quick, seed=args.seed, critic=args.critic, log=lambda m: print(m, file=sys.stderr)
    )
    print(format_table(metrics))
    figs = ", ".join(metrics["figures"])
    print(f"wrote {out}/metrics.json and {figs} in {time.time() - t0:.0f}s")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="small self-contained demonstrations of the method",
        description="Small self-contained demonstrations of the method.",
    )
    dsub = p.add_subparsers(dest="demo_command", metavar="DEMO", parser_class=type(p))
    dsub.required = True
    g = dsub.add_parser(
        "geometry",
        help="2-D demo: Fisher refinement stays on the behaviour support, isotropic refinement leaves it",
        description=(
            "Train a behaviour flow on 2-D anisotropic data (an arc, a mixture of elongated Gaussians), refine it "
            "against a known linear reward with the isotropic (DeFlow) metric and the per-state and per-action "
            "Fisher metrics over a sweep of target divergences, and measure how much of the behaviour support each "
            "keeps. Writes PNG figures and metrics.json. About a minute on a 2-core CPU."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    g.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help="output directory")
    g.add_argument("--quick", action="store_true", help="reduced size (fewer samples and steps; used by the tests)")
    g.add_argument("--seed", type=int, default=0, metavar="S", help="random seed")
    g.add_argument(
        "--critic",
        action="store_true",
        help="also refine against a critic learned from the data's rewards (about doubles the time)",
    )
    g.set_defaults(func=cmd_geometry)
