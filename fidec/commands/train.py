"""`fidec train`, `fidec evaluate` and `fidec quickstart`.

Every field of :class:`fidec.config.Config` is a flag (``hidden_dims`` -> ``--hidden-dims 256,256``,
booleans as ``--lagrangian/--no-lagrangian``); flags override the preset, which overrides the defaults.

The modules that do the work (and load JAX) are imported inside the ``cmd_*`` functions, for start-up time:
``fidec --help`` builds every command's parser without them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing
from pathlib import Path

from fidec.config import FIELDS, QUICKSTART, UNDOCUMENTED, Config, preset_fields, resolve
from fidec.config.coerce import from_text
from fidec.config.coerce import nonneg_int as _nonneg_int
from fidec.config.coerce import positive_int as _pos_int
from fidec.errors import ConfigError
from fidec.paths import dataset_dir, dataset_files

SKIP_FIELDS = {"family"}
#: fields some preset changes: their --help default is the dataclass default, before the preset applies.
PRESET_FIELDS = preset_fields()


def _flag_type(name: str, typ):
    """The ``type=`` of field ``name``'s flag: :func:`fidec.config.coerce.from_text`, the reading ``--set`` and
    suite files share (``--steps 2e3`` is 2000, ``--steps 2.5`` an error). Errors read as argparse's own:
    ``invalid int value: '2.5'``, ``expected comma-separated integers, got 'a,b'``."""
    listed = {tuple[int, ...]: "integers", tuple[float, ...]: "numbers"}.get(typ)

    def convert(text: str):
        try:
            return from_text(name, text)
        except ConfigError:
            if listed:
                raise argparse.ArgumentTypeError(f"expected comma-separated {listed}, got {text!r}") from None
            raise ValueError(text) from None

    convert.__name__ = getattr(typ, "__name__", "value")  # argparse's message: 'invalid int value: ...'
    return convert


def flag_help(f: dataclasses.Field) -> str:
    """``--help`` text of a config field: what it is, its allowed values and its default (from FIELDS)."""
    rule = FIELDS.get(f.name, UNDOCUMENTED)
    parts = [rule.help]
    allowed = rule.allowed()
    if allowed and not rule.choices:  # argparse lists choices itself
        parts.append(f"allowed: {allowed}")
    default = f.default if f.default is not dataclasses.MISSING else None
    if isinstance(default, tuple):
        default = ",".join(map(str, default))
    if isinstance(default, bool):
        default = "on" if default else "off"
    parts.append(f"default {default}" + (" before the preset" if f.name in PRESET_FIELDS else ""))
    return "; ".join(parts).replace("%", "%%")


def add_config_flags(p: argparse.ArgumentParser) -> None:
    hints = typing.get_type_hints(Config)
    for f in dataclasses.fields(Config):
        if f.name in SKIP_FIELDS:
            continue
        flag = "--" + f.name.replace("_", "-")
        typ = hints[f.name]
        kw: dict = {"dest": f.name, "default": argparse.SUPPRESS}
        if typ is bool:
            kw["action"] = argparse.BooleanOptionalAction
        elif typ == tuple[int, ...]:
            kw.update(type=_flag_type(f.name, typ), metavar="W1,W2,...")
        elif typ == tuple[float, ...]:
            kw.update(type=_flag_type(f.name, typ), metavar="X1,X2,...")
        else:
            kw["type"] = _flag_type(f.name, typ)
        if FIELDS.get(f.name, UNDOCUMENTED).choices:
            kw["choices"] = FIELDS[f.name].choices
        kw["help"] = flag_help(f)
        p.add_argument(flag, **kw)


def overrides_from_args(args: argparse.Namespace) -> dict:
    names = {f.name for f in dataclasses.fields(Config)}
    out = {k: v for k, v in vars(args).items() if k in names}
    if getattr(args, "dataset", None):  # --dataset data.npz | minari:ID: another way to name the task
        from fidec.data.sources import env_from_dataset

        if "env" in out:
            raise ConfigError("give the task once: --env NAME or --dataset (a .npz file or a Minari id), not both")
        out["env"] = env_from_dataset(args.dataset)
    return out


def cmd_train(args) -> int:
    from fidec.train import Trainer, format_summary

    if args.use_previous_checkpoint and not args.resume:
        raise ConfigError("--use-previous-checkpoint goes with --resume DIR (the run folder to continue)")
    if args.resume:
        extra = set(overrides_from_args(args)) - {"steps", "online_steps"}
        if extra:
            raise ConfigError(
                f"--resume continues a run with its saved config; drop {sorted(extra)} "
                "(only --steps or --online-steps may change, to extend it)"
            )
        trainer = Trainer.resume(
            args.resume,
            steps=getattr(args, "steps", None),
            progress=not args.no_progress,
            online_steps=getattr(args, "online_steps", None),
            accept_changed_data=args.accept_changed_data,
            use_previous=args.use_previous_checkpoint,
            log=lambda line: print(line, file=sys.stderr),
        )
    else:
        if args.accept_changed_data:
            raise ConfigError("--accept-changed-data applies to --resume DIR (a new run records the data it begins on)")
        config = resolve(overrides_from_args(args))
        from fidec.data.loading import check_env
        from fidec.data.sources import source_of

        if source_of(config.env) == "ogbench":
            check_env(config.env)  # a misspelled task fails here, before any data is read
        if args.print_config:
            print(config.to_json())
            return 0
        from fidec.data.sources import run_label

        run_dir = args.run_dir or f"runs/{config.agent}_{run_label(config.env)}_seed{config.seed}"
        trainer = Trainer.create(config, run_dir, progress=not args.no_progress)
    print(f"run folder: {trainer.run_dir}", file=sys.stderr)
    summary = trainer.run()
    print(format_summary(summary))
    return 0


def _evaluation_task(run_dir: str):
    """An OGBench state-observation run is evaluated from its environment and saved config alone (its dataset
    may be gone); other runs load their task as training does (None)."""
    from fidec.data.sources import source_of
    from fidec.train.folder import saved_config

    config = Config.from_dict(saved_config(Path(run_dir))["config"])
    if source_of(config.env) != "ogbench" or config.env.startswith("visual-"):
        return None
    from fidec.data.sources.ogbench import env_only_task

    return env_only_task(config.env, config.dataset_dir, success_timing=config.success_timing)


def cmd_evaluate(args) -> int:

    from fidec import checkpoint
    from fidec.evaluate import EnvPool, evaluate, evaluate_seeds, make_render_env, render_kwargs, save_gif
    from fidec.train import Trainer, seed_slice

    trainer = Trainer.resume(args.run_dir, progress=False, read_only=True, task=_evaluation_task(args.run_dir))
    if not checkpoint.exists(args.run_dir):
        raise ConfigError(f"{args.run_dir} has no checkpoint yet; train it first")
    env = make_render_env(trainer.task) if args.video else trainer.env
    eval_seeds = [10_000 + seed for seed in trainer.member_seeds]
    if args.eval_mode == "vectorised":
        # waves of at most the run's eval_envs environments; with --video they render (only episode 0 of each seed
        # calls render) and live in this process
        cfg = trainer.config
        if args.video:
            pool = EnvPool(lambda: trainer.task.make_env(**render_kwargs(trainer.task)), envs=[env])
        else:
            light = dataclasses.replace(trainer.task, train={}, val={})
            pool = EnvPool(light.make_env, workers=cfg.eval_workers, envs=[] if cfg.eval_workers else [env])
        try:
            batched = evaluate_seeds(
                trainer.agent,
                trainer.states.params,
                pool,
                args.episodes,
                eval_seeds,
                render=args.video,
                max_envs=cfg.eval_envs,
            )
        finally:
            pool.close()
    results = {}
    for i, seed in enumerate(trainer.member_labels):  # seeds, or (seed, ε) with --target-divergences
        if args.eval_mode == "vectorised":
            res = batched[i]
        else:
            params = seed_slice(trainer.states.params, i)
            res = evaluate(trainer.agent, params, env, args.episodes, seed=eval_seeds[i], render=args.video)
        if args.video:
            tag = str(seed).replace(", target_divergence ", "_eps")
            gif = save_gif(
                res.pop("frames"),
                Path(args.video_dir or args.run_dir) / f"video_seed{tag}.gif",
                remedy=None if args.video_dir else "write the video elsewhere with --video-dir DIR",
            )
            res["video"] = str(gif)
        if trainer.task.normalize_return is not None:  # Minari datasets with reference scores
            res["normalized_score"] = trainer.task.normalize_return(res["return"])
        results[seed] = res
        print(
            f"seed {seed}: success {res['success']:.3f} ± {res['success_std']:.3f} over {args.episodes} "
            f"episodes (return {res['return']:.1f}, length {res['episode_length']:.0f})"
            + (f", normalised score {res['normalized_score']:.1f}" if "normalized_score" in res else "")
            + (f", video {res['video']}" if args.video else "")
        )
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


def cmd_quickstart(args) -> int:
    """Create the default dataset if absent, then train FD (and optionally flow BC) on the default task."""
    from fidec.train import Trainer, format_summary

    d = dataset_dir(args.dataset_dir)
    train_file, val_file = dataset_files(QUICKSTART["dataset"], d)
    if not (train_file.exists() and val_file.exists()):
        from fidec.data.generate import generate_dataset

        print(
            f"creating {QUICKSTART['dataset']} ({QUICKSTART['dataset_episodes']} episodes, OGBench's oracle) in {d}",
            file=sys.stderr,
        )
        generate_dataset(QUICKSTART["dataset"], episodes=QUICKSTART["dataset_episodes"], seed=0, dataset_dir=d)
    agents = ["fd"] + (["bc"] if args.with_bc else [])
    for agent in agents:
        config = resolve({**QUICKSTART["overrides"], "agent": agent, "seed": args.seed, "dataset_dir": str(d)})
        run_dir = Path(args.out) / f"{agent}_seed{args.seed}"
        if (run_dir / "config.json").exists():
            trainer = Trainer.resume(run_dir, progress=not args.no_progress)
            if trainer.step >= trainer.config.total_steps:
                print(f"{run_dir} is complete; showing its summary (delete the folder to train again)", file=sys.stderr)
                print(format_summary(trainer.finish()))
                trainer.close()
                continue
        else:
            trainer = Trainer.create(config, run_dir, progress=not args.no_progress)
        print(f"run folder: {run_dir}", file=sys.stderr)
        print(format_summary(trainer.run()))
    print(f"learning curves: {Path(args.out)}/*/learning_curve.png", file=sys.stderr)
    return 0


def register(sub) -> None:
    q = sub.add_parser("quickstart", help="the built-in default job: FD on a small offline dataset, minutes on a CPU")
    q.add_argument("--out", default="runs/quickstart", help="parent folder of the run folders")
    q.add_argument("--seed", type=_nonneg_int, default=0, help="random seed; x >= 0 (default 0)")
    q.add_argument(
        "--dataset-dir", default=None, help="dataset directory (default $FIDEC_DATASET_DIR or ~/.ogbench/data)"
    )
    q.add_argument("--with-bc", action="store_true", help="also train flow BC on the same data and budget")
    q.add_argument("--no-progress", action="store_true")
    q.set_defaults(func=cmd_quickstart)

    p = sub.add_parser(
        "train",
        help="train an agent (fd, deflow, fql, bc, iql, rebrac) on an OGBench task, a Minari dataset or your own .npz",
        description=(
            "Train an agent. Every config field is a flag. Flags override the preset, which overrides the "
            "defaults shown here (fields marked 'before the preset' are set by some preset); --print-config "
            "prints the resolved values."
        ),
    )
    p.add_argument("--run-dir", default=None, help="run folder (default runs/AGENT_ENV_seedS)")
    p.add_argument(
        "--resume",
        metavar="DIR",
        default=None,
        help="continue the run in DIR exactly where it stopped (SIGTERM or SIGUSR1 stop a run at its next chunk "
        "boundary with a checkpoint and exit status 75)",
    )
    p.add_argument(
        "--accept-changed-data",
        action="store_true",
        help="with --resume: continue even though the run's data changed since it began (the change, with the old "
        "and new data fingerprint, is recorded in its config.json); without it such a resume is refused",
    )
    p.add_argument(
        "--use-previous-checkpoint",
        action="store_true",
        help="with --resume: the newest checkpoint is damaged (a resume said so); continue from the previous one, "
        "keeping the damaged file as checkpoint.damaged.msgpack",
    )
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.add_argument(
        "--dataset",
        default=None,
        metavar="DATA",
        help="train on your own data: a .npz file (with --env-id) or a Minari id (minari:ID); instead of --env",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_config_flags(p)
    p.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="evaluate a run's latest checkpoint")
    e.add_argument("run_dir")
    e.add_argument("--episodes", type=_pos_int, default=50, help="episodes per seed; x >= 1 (default 50)")
    e.add_argument("--video", action="store_true", help="save a GIF of one episode (needs MUJOCO_GL=egl|osmesa)")
    e.add_argument(
        "--video-dir",
        metavar="DIR",
        default=None,
        help="folder for the --video GIFs (default the run folder; e.g. for a read-only run folder)",
    )
    e.add_argument("--json", action="store_true", help="also print the results as JSON")
    e.add_argument(
        "--eval-mode",
        choices=("vectorised", "sequential"),
        default="vectorised",
        help="vectorised: all episodes and seeds in lockstep, one batched policy call per step (default); "
        "sequential: one episode after another (same per-episode results, slower)",
    )
    e.set_defaults(func=cmd_evaluate)
