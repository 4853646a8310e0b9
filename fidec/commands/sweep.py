"""``fidec sweep``: run a benchmark suite (:mod:`fidec.sweep`), locally or on Ray.

Like every module of :mod:`fidec.commands`, it imports the modules that do the work (and load JAX) inside its
``cmd_*`` functions, for start-up time: ``fidec --help`` builds every command's parser and loads none of them.
"""

from __future__ import annotations

from fidec.errors import FidecError
from fidec.procs import BACKENDS


def cmd_sweep(args) -> int:
    from fidec.report import write_report
    from fidec.sweep import load_suite, packaged_suites, parse_seeds, parse_set, run_sweep

    if args.list:
        for name, path in packaged_suites().items():
            s = load_suite(str(path))
            print(f"{name:8s} {len(s.agents)} agents x {len(s.tasks)} tasks x {len(s.seeds)} seeds: {s.description}")
        return 0
    if not args.suite:
        raise FidecError("name a suite (" + ", ".join(packaged_suites()) + ") or a suite file; --list shows them")
    suite = load_suite(args.suite)
    if args.vmap_target_divergence:
        suite.vmap_target_divergence = True
    backend = args.backend or ("ray" if args.ray_address else "local")
    result = run_sweep(
        suite,
        args.out,
        backend,
        seeds=parse_seeds(args.seeds),
        agents=args.agents,
        tasks=args.tasks,
        variants_filter=args.variants,
        overrides=parse_set(args.set),
        workers=args.workers,
        ray_address=args.ray_address,
        cpus_per_run=args.cpus_per_run,
        gpus_per_run=args.gpus_per_run,
        dataset_dir=args.dataset_dir,
        generate=not args.no_generate,
        retry_failed=not args.no_retry_failed,
        dry_run=args.dry_run,
        log=lambda m: print(m, flush=True),
    )
    if args.report and not args.dry_run:
        path = write_report([result.out], result.out / "report")
        print(f"report: {path}")
    if args.dry_run:
        return 0
    return 0 if result.ok else 1


def register(sub) -> None:
    p = sub.add_parser(
        "sweep",
        help="run a benchmark suite (agents x tasks x seeds x overrides), locally or on Ray",
        description=(
            "Run a suite: a packaged one (smoke, cpu, paper) or a .toml/.yaml file. Re-running skips finished "
            "runs, resumes interrupted ones and retries failed ones; OUT/sweep_status.json lists every run. Several "
            "sweeps may run on one OUT at once: each trains the runs no other process holds and waits for the "
            "others. Ctrl-C stops starting runs at once and interrupts the running ones, resumable; SIGTERM or "
            "SIGUSR1 stops each running run at its next chunk boundary with a checkpoint, then exits with 75."
        ),
    )
    p.add_argument("suite", nargs="?", help="suite name or file")
    p.add_argument("--list", action="store_true", help="list the packaged suites and exit")
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default=None,
        help="local process pool or Ray (default local; ray with --ray-address)",
    )
    p.add_argument(
        "--ray-address", default=None, help="Ray cluster address, e.g. HOST:6379 or auto (implies --backend ray)"
    )
    p.add_argument("--out", default=None, help="sweep folder (default sweeps/SUITE)")
    p.add_argument("--seeds", nargs="+", default=None, metavar="S", help="seeds instead of the suite's: 0 1 2 or 0-4")
    p.add_argument("--agents", nargs="+", default=None, metavar="A", help="only these agents")
    p.add_argument("--tasks", nargs="+", default=None, metavar="GLOB", help="only tasks matching these globs")
    p.add_argument(
        "--variants",
        nargs="+",
        default=None,
        metavar="GLOB",
        help="only variants whose tag matches (e.g. 'target_divergence=0.01,*'), to split a sweep into parts",
    )
    p.add_argument("--set", action="append", default=None, metavar="KEY=VALUE", help="config override for all runs")
    p.add_argument(
        "--vmap-target-divergence",
        action="store_true",
        help="train the grid's target divergences of one fd/deflow configuration in one process (vmapped like the "
        "seeds; pays on a GPU, where an update is latency-bound); the suite key vmap_target_divergence = true does so "
        "too. Each ε's results go to a sub-run folder tagged as the run it replaces",
    )
    p.add_argument("--workers", type=int, default=None, help="local processes at once (default cores // cpus_per_run)")
    p.add_argument("--cpus-per-run", type=float, default=None, help="CPUs per run (default: the suite's)")
    p.add_argument("--gpus-per-run", type=float, default=None, help="Ray GPUs per run (default: the suite's)")
    p.add_argument("--dataset-dir", default=None, help="dataset directory (default: the suite's, else the global one)")
    p.add_argument("--no-generate", action="store_true", help="fail on missing datasets instead of generating them")
    p.add_argument("--no-retry-failed", action="store_true", help="leave failed runs as they are")
    p.add_argument("--dry-run", action="store_true", help="list the runs and their status; run nothing")
    p.add_argument("--report", action="store_true", help="write OUT/report when the sweep is done")
    p.set_defaults(func=cmd_sweep)
