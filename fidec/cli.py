"""The ``fidec`` command. Each command group is a module of :mod:`fidec.commands`, listed here.

Errors in the user's input (``FidecError``, bad flags) are printed as one line on stderr with a non-zero
exit status; tracebacks are reserved for bugs. Exit statuses: 0 done, 1 an error, 2 a bad flag, 130 interrupted
(Ctrl-C), 75 (:data:`fidec.errors.EXIT_PREEMPTED`) stopped by SIGTERM/SIGUSR1 with a checkpoint to resume from.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from fidec import __version__
from fidec.console import enable_compilation_cache, quiet_warnings
from fidec.errors import FidecError, Preempted
from fidec.rendering import align_pyopengl_platform, default_offscreen_gl, names_pixel_task

# module path -> it defines ``register(subparsers)`` adding one or more subcommands with ``func`` set.
COMMAND_MODULES = (
    "fidec.commands.train",
    "fidec.commands.data",
    "fidec.commands.demo",
    "fidec.commands.sweep",
    "fidec.commands.report",
    "fidec.commands.bench",
)

#: Commands that import MuJoCo (through OGBench): checked for a broken MUJOCO_GL first.
USES_MUJOCO = {"train", "evaluate", "quickstart", "data", "sweep", "bench-speed"}


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports errors in one line (what was wrong and where to look) and exits 2."""

    def error(self, message: str):  # noqa: D401 - argparse API
        sys.stderr.write(f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="fidec",
        description="fidec: Fisher Decorator, DeFlow, FQL, flow BC, IQL and ReBRAC for offline RL on OGBench",
    )
    parser.add_argument("--version", action="version", version=f"fidec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    for mod in COMMAND_MODULES:
        importlib.import_module(mod).register(sub)
    return parser


def check_mujoco_gl() -> None:
    """With ``MUJOCO_GL`` set, ``import mujoco`` loads that GL backend and fails deep inside PyOpenGL when its
    library is missing (e.g. osmesa without libosmesa6): say so in one line before any command imports it."""
    backend = os.environ.get("MUJOCO_GL")
    if not backend:
        return
    try:
        import mujoco  # noqa: F401 - the check is the import itself, once MUJOCO_GL is settled
    except Exception as e:  # noqa: BLE001 - whatever the GL loader raises
        lib = {"osmesa": "libosmesa6", "egl": "libegl1"}.get(backend.lower(), "its library")
        raise FidecError(
            f"MuJoCo cannot load its MUJOCO_GL={backend} rendering backend ({type(e).__name__}: "
            f"{' '.join(str(e).split())[:120]}); install {lib}, choose another backend, or unset MUJOCO_GL "
            "(only --video needs it)"
        ) from None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    enable_compilation_cache()
    quiet_warnings()
    try:
        if args.command in USES_MUJOCO and getattr(args, "data_command", None) != "list":
            if names_pixel_task(sys.argv[1:] if argv is None else list(argv)):
                default_offscreen_gl()  # pixel tasks render their observations (fidec/rendering.py)
            align_pyopengl_platform()
            check_mujoco_gl()
        rc = args.func(args)
    except FidecError as e:
        sys.stderr.write(f"fidec {args.command}: error: {e}\n")
        return 1
    except BrokenPipeError:  # e.g. `fidec data list | head`
        sys.stderr.close()
        return 0
    except Preempted as e:  # SIGTERM/SIGUSR1: a checkpoint was saved; EXIT_PREEMPTED asks a scheduler to requeue
        sys.stderr.write(f"fidec {args.command}: {e}\n")
        return e.exit_status
    except KeyboardInterrupt:
        sys.stderr.write(f"fidec {args.command}: interrupted\n")
        return 130
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
