"""Shared fixtures: a tiny OGBench dataset made with OGBench's own oracles (fidec's generator)."""

import os

# The suite's programs are tiny, so its time goes to compiling them, not running them: compile with XLA's CPU
# backend at optimisation level 0 and without LLVM's expensive passes (about 40 % less wall time on a cold
# compilation cache, measured on tests/test_training.py + tests/test_agents.py: 242 s -> 139 s, 2-core CPU). The
# programs' semantics and every property the tests assert are unchanged; fidec itself runs with XLA's defaults.
# Set before JAX starts; subprocesses the tests start inherit it. FIDEC_TEST_XLA_FLAGS overrides ("" = defaults).
os.environ["XLA_FLAGS"] = os.environ.get(
    "FIDEC_TEST_XLA_FLAGS", "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
)

import jax  # noqa: E402
import pytest  # noqa: E402

# Reuse XLA compilations across tests (identical tiny agents are compiled by many tests); the CLI's own cache
# setting (FIDEC_JAX_CACHE) points at the same place so that in-process `fidec` calls do not move it.
os.environ["FIDEC_JAX_CACHE"] = os.environ.get("FIDEC_TEST_JAX_CACHE", "/tmp/fidec-test-jax-cache")
jax.config.update("jax_compilation_cache_dir", os.environ["FIDEC_JAX_CACHE"])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)

# Pixel tests render with MuJoCo's offscreen renderer, whose backend is chosen when MuJoCo is first imported:
# choose it (egl, where libEGL is installed and MUJOCO_GL is unset) before any test imports MuJoCo.
from fidec.rendering import default_offscreen_gl  # noqa: E402

default_offscreen_gl()

TINY_DATASET = "cube-single-play-v0"
TINY_ENV = "cube-single-play-singletask-task1-v0"


@pytest.fixture(scope="session")
def tiny_dataset_dir(tmp_path_factory):
    from fidec.data.generate import generate_dataset

    d = tmp_path_factory.mktemp("ogbench-data")
    generate_dataset(TINY_DATASET, episodes=2, seed=0, workers=1, dataset_dir=d, progress=False)
    return d


@pytest.fixture(scope="session")
def minari_root(tmp_path_factory):
    """A Minari root (MINARI_DATASETS_PATH) holding the tiny datasets of tests/minari_data.py."""
    from . import minari_data

    root = tmp_path_factory.mktemp("minari-datasets")
    old = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(root)
    minari_data.pointmaze(minari_data.POINTMAZE)
    minari_data.pointmaze(minari_data.ANTMAZE_NAMED)
    minari_data.pendulum(minari_data.PENDULUM)
    yield root
    if old is None:
        os.environ.pop("MINARI_DATASETS_PATH", None)
    else:
        os.environ["MINARI_DATASETS_PATH"] = old
