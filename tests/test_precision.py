"""--matmul-precision: it reaches every matrix product of the update and the policy, config.json records it with
the device, a resumed run keeps it, and on CPU (float32 products) highest and tf32 train exactly as the default."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.extend.core import jaxprs_in_params

from fidec.agents import make_agent
from fidec.bench import synthetic_data
from fidec.cli import main
from fidec.config import MATMUL_PRECISIONS, resolve
from fidec.precision import JAX_PRECISION, matmul_precision
from fidec.train import Trainer, init_states, make_chunk_fn

from .conftest import TINY_ENV

VISUAL_ENV = "visual-cube-single-play-singletask-task1-v0"
PRODUCTS = ("dot_general", "conv_general_dilated")


def _precisions(jaxpr) -> list:
    """The ``precision`` of every matrix product and convolution in ``jaxpr`` and in every jaxpr nested in it
    (jit, scan, while, cond, custom derivative rules)."""
    out = []

    def walk(jp):
        for eqn in jp.eqns:
            if eqn.primitive.name in PRODUCTS:
                out.append(eqn.params["precision"])
            for sub in jaxprs_in_params(eqn.params):
                walk(sub)

    walk(jaxpr.jaxpr)
    return out


def _expected(name):
    """What a lone product traced under ``name``'s setting records (None: JAX's default, no precision)."""
    with matmul_precision(name):
        (p,) = _precisions(jax.make_jaxpr(jnp.dot)(jnp.ones((2, 2)), jnp.ones((2, 2))))
    return p


def _agent_and_inputs(agent_name: str, precision, pixels: bool = False):
    env = {"env": VISUAL_ENV} if pixels else {"env": TINY_ENV}
    cfg = resolve({**env, "agent": agent_name, "preset": "tiny", "matmul_precision": precision})
    if pixels:
        agent = make_agent(cfg, (16, 16, 9), 5)
        k = jax.random.split(jax.random.PRNGKey(0), 3)
        obs = jax.random.randint(k[0], (4, 16, 16, 9), 0, 256).astype(jnp.uint8)
        batch = {
            "observations": obs,
            "next_observations": obs,
            "actions": jax.random.uniform(k[1], (4, 5), minval=-1, maxval=1),
            "rewards": jnp.zeros(4),
            "masks": jnp.ones(4),
        }
    else:
        agent = make_agent(cfg, 6, 2)
        batch = {k: v[:8] for k, v in synthetic_data(6, 2, size=16).items()}
    return cfg, agent, agent.init(jax.random.PRNGKey(0)), batch


def test_the_choices_are_the_settings_jax_is_given():
    assert tuple(JAX_PRECISION) == MATMUL_PRECISIONS
    assert str(_expected("bf16")) == "BF16_BF16_F32"  # bfloat16 operands: not Precision.DEFAULT (TF32 on GPUs)
    assert _expected("highest") == (jax.lax.Precision.HIGHEST,) * 2
    assert _expected(None) is None


@pytest.mark.parametrize(
    "agent_name,pixels,precision",
    [
        ("fd", False, "bf16"),
        ("deflow", False, "highest"),
        ("fql", False, "bf16"),
        ("bc", False, "tf32"),
        ("fd", True, "bf16"),
    ],
)
def test_every_product_of_the_update_and_the_policy_has_the_run_precision(agent_name, pixels, precision):
    """Forward, gradient (transposed products), acting and diagnostics; convolutions of the pixel encoders too."""
    cfg, agent, state, batch = _agent_and_inputs(agent_name, precision, pixels)
    key = jax.random.PRNGKey(1)
    traced = {
        "update": jax.make_jaxpr(agent.update)(state, batch),
        "act": jax.make_jaxpr(agent.act)(state.params, batch["observations"], key),
        "diagnostics": jax.make_jaxpr(agent.diagnostics)(state, batch, key),
    }
    want = _expected(precision)
    for what, jaxpr in traced.items():
        found = _precisions(jaxpr)
        assert found, f"{what}: no matrix product found"
        assert all(p == want for p in found), f"{what}: {sorted({str(p) for p in found})} != {want}"
    if pixels:
        assert "conv_general_dilated" in str(traced["update"])


def test_the_compiled_chunk_carries_bf16_on_every_product():
    """The executable fidec trains with (vmapped seeds, scan of updates): every dot_general of its StableHLO
    names the bf16 dot algorithm, even when called outside any precision scope."""
    _, agent, _, _ = _agent_and_inputs("fd", "bf16")
    data = synthetic_data(6, 2, size=64)
    text = make_chunk_fn(agent, 8).lower(init_states(agent, [0, 1]), data, 2).as_text()
    dots = text.count("stablehlo.dot_general")
    assert dots > 10
    assert text.count("lhs_precision_type = bf16, rhs_precision_type = bf16, accumulation_type = f32") == dots


def test_highest_and_tf32_train_exactly_as_the_default_on_cpu():
    """XLA:CPU multiplies in float32 whatever the setting: three updates give bit-identical states."""
    assert jax.default_backend() == "cpu"
    data = synthetic_data(6, 2, size=64)
    finals = {}
    for precision in (None, "highest", "tf32"):
        _, agent, _, _ = _agent_and_inputs("bc", precision)
        states, _ = make_chunk_fn(agent, 8)(init_states(agent, [0]), data, 3)
        finals[precision] = [np.asarray(x) for x in jax.tree_util.tree_leaves(states)]
    for precision in ("highest", "tf32"):
        assert all(np.array_equal(a, b) for a, b in zip(finals[None], finals[precision], strict=True)), precision
    first_params = finals[None][0]
    assert not np.array_equal(first_params, np.asarray(jax.tree_util.tree_leaves(init_states(agent, [0]))[0]))


def test_config_json_records_precision_and_device_and_resume_keeps_it(tiny_dataset_dir, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["--agent", "bc", "--env", TINY_ENV, "--preset", "tiny", "--dataset-dir", str(tiny_dataset_dir)]
    args += ["--no-progress"]
    rc = main(
        ["train", *args, "--steps", "10", "--eval-episodes", "0", "--matmul-precision", "bf16"]
        + ["--run-dir", str(run)]
    )
    assert rc == 0
    saved = json.loads((run / "config.json").read_text())
    assert saved["config"]["matmul_precision"] == "bf16"
    assert saved["device"] == {"platform": jax.default_backend(), "device_kind": jax.devices()[0].device_kind}
    t = Trainer.resume(run, steps=20, progress=False)
    try:
        assert t.config.matmul_precision == "bf16" and t.agent.config.matmul_precision == "bf16"
    finally:
        t.close()
    capsys.readouterr()
    # a resumed run keeps its precision: the flag is refused with --resume, in one line
    assert main(["train", "--resume", str(run), "--matmul-precision", "highest", "--no-progress"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "matmul_precision" in err[0]
    with pytest.raises(SystemExit):
        main(["train", "--matmul-precision", "fp8", "--print-config"])
    assert "invalid choice: 'fp8'" in capsys.readouterr().err
