"""Matmul precision of a run (``Config.matmul_precision``): the JAX setting each choice stands for, and the scope
that applies it.

Every matrix product and convolution of an agent runs inside :meth:`fidec.agents.Agent`'s methods, which trace
under :func:`matmul_precision` (``jax.default_matmul_precision``): the setting is read when an operation is traced,
so it reaches the compiled training chunk, the policy and evaluation alike, and the gradient's transposed products
carry the same precision as the forward ones. fidec's own code passes no ``precision=`` of its own anywhere, so the
scope decides for every product (``tests/test_precision.py`` checks each ``dot_general`` and convolution of an
update and of the policy).

On XLA:CPU all three multiply in float32: ``tf32`` and ``highest`` are float32 there, and the CPU backend does not
round the operands of the ``bf16`` dot algorithm (JAX accepts it there; the code it compiles is ordered differently,
so results differ from float32's at rounding level).
"""

from __future__ import annotations

import contextlib

import jax

from fidec.config import MATMUL_PRECISIONS

#: Config.matmul_precision -> the value of ``jax.default_matmul_precision``:
#: highest: float32 products (Precision.HIGHEST); tf32: TensorFloat-32 on NVIDIA GPUs from Ampere on
#: (Precision.HIGH); bf16: the dot algorithm that rounds both operands to bfloat16 and accumulates in float32
#: (``'bfloat16'``, i.e. Precision.DEFAULT, would be TF32 on such GPUs, not bfloat16).
JAX_PRECISION = {"highest": "highest", "tf32": "tensorfloat32", "bf16": "BF16_BF16_F32"}
CHOICES = MATMUL_PRECISIONS  # the keys of JAX_PRECISION (tests/test_precision.py)


def matmul_precision(name: str | None):
    """A context in which traced products use ``name``'s precision; ``None``: JAX's default, left untouched."""
    if name is None:
        return contextlib.nullcontext()
    return jax.default_matmul_precision(JAX_PRECISION[name])


def device_kind() -> dict:
    """The backend and the first device's kind (e.g. ``{'platform': 'gpu', 'device_kind': 'NVIDIA H200'}``)."""
    dev = jax.devices()[0]
    return {"platform": jax.default_backend(), "device_kind": str(dev.device_kind)}
