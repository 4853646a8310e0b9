"""What fidec prints and how it sets up a process: progress bars, durations, warnings, the compilation cache."""

from __future__ import annotations

import os
import sys
import warnings


def format_duration(seconds: float) -> str:
    """``3d 04h``, ``2h 05m``, ``4m 10s`` or ``12s``."""
    s = int(round(seconds))
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    if d:
        return f"{d}d {h:02d}h"
    if h:
        return f"{h}h {m:02d}m"
    return f"{m}m {s:02d}s" if m else f"{s}s"


def progress_bar(total: int, *, desc: str, unit: str, initial: int = 0, enabled: bool = True, **options):
    """One tqdm bar on stderr, as every long fidec loop shows it (``options`` go to tqdm as they are)."""
    from tqdm.auto import tqdm  # tqdm's import is deferred to the loops that draw a bar (start-up time)

    return tqdm(
        total=total,
        initial=initial,
        desc=desc,
        unit=unit,
        disable=not enabled,
        dynamic_ncols=True,
        file=sys.stderr,
        **options,
    )


def quiet_warnings() -> None:
    """Silence the harmless warnings every environment creation prints: gymnasium's 'precision lowered by
    casting to float32' (OGBench's observation spaces), its 'render_mode not in the possible render_modes' (OGBench
    environments render rgb_array without declaring it; ``evaluate --video``) and GLFW's 'no DISPLAY' on headless
    machines."""
    warnings.filterwarnings("ignore", message=r".*precision lowered by casting.*")
    warnings.filterwarnings("ignore", message=r".*render_mode=.* not in the possible render_modes.*")
    warnings.filterwarnings("ignore", message=r".*DISPLAY.*")
    warnings.filterwarnings("ignore", message=r".*GLFW.*")


def enable_compilation_cache() -> None:
    """Reuse XLA compilations across runs (resume, sweeps, repeated jobs); FIDEC_JAX_CACHE=off disables it."""
    where = os.environ.get("FIDEC_JAX_CACHE", "~/.cache/fidec/jax")
    if where.lower() in ("", "0", "off", "none"):
        return
    import jax  # deferred: `fidec --help` and the data commands start without loading JAX (start-up time)

    jax.config.update("jax_compilation_cache_dir", os.path.expanduser(where))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
