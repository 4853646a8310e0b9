"""Image encoders for pixel observations: the IMPALA ResNet that FQL and the authors' release use.

The architecture is FQL's ``utils/encoders.py`` (``ImpalaEncoder``; the release's ``utils/encoders.py`` is the
same file): per stack a 3x3 convolution, a 3x3/2 max-pool and ``num_blocks`` residual blocks of two ReLU-3x3
convolutions; then ReLU, flatten, and one GELU dense layer of 512 (FQL's ``MLP((512,), activate_final=True)``).
Every kernel is Glorot/Xavier uniform, as there. Pixels arrive as ``uint8`` and are scaled to [0, 1] here, on the
device (``x.astype(float32) / 255``), so datasets stay ``uint8`` until this point.

Names (``Config.encoder``):

- ``impala_small``: stacks (16, 32, 32), one residual block each: ``--agent.encoder=impala_small``, what FQL's
  README and the release's ``scripts/fql_scope_registry.sh`` pass for every visual task;
- ``impala``: stacks (16, 32, 32), two blocks (FQL's default ``ImpalaEncoder``);
- ``impala_debug``: stacks (4, 4), one block (FQL's ``impala_debug``), for tests and the tiny preset.

Which networks get one (FQL ``agents/fql.py`` ``create``; the release ``agents/fidec.py`` and ``agents/deflow.py``
``create``): each network has its own encoder, none is shared: the critic ensemble (one encoder in front of
both heads: FQL's ``Value`` encodes once, then the ensemblised MLP), the behaviour flow (its encoder is called
once per observation and the features reused by all K Euler steps: ``compute_flow_actions`` with
``is_encoded=True``), and the policy network (FQL's one-step policy, the release's refinement net). The target
critic holds a Polyak copy of the critic's encoder (``modules_target_critic`` is the whole critic module).
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp

from fidec.config import ENCODERS  # noqa: F401  (the names, with Config.encoder's rule)

#: name -> (stack sizes, residual blocks per stack)
ARCHITECTURES = {
    "impala_small": ((16, 32, 32), 1),
    "impala": ((16, 32, 32), 2),
    "impala_debug": ((4, 4), 1),
}
#: FQL's ImpalaEncoder: ``mlp_hidden_dims=(512,)`` with ``activate_final=True``.
FEATURE_DIM = 512

_xavier = nn.initializers.xavier_uniform()


class ResnetStack(nn.Module):
    """Conv 3x3 -> max-pool 3x3 stride 2 -> ``num_blocks`` x (ReLU, conv, ReLU, conv, + skip)."""

    features: int
    num_blocks: int

    @nn.compact
    def __call__(self, x):
        x = nn.Conv(self.features, (3, 3), strides=1, padding="SAME", kernel_init=_xavier)(x)
        x = nn.max_pool(x, window_shape=(3, 3), strides=(2, 2), padding="SAME")
        for _ in range(self.num_blocks):
            skip = x
            x = nn.relu(x)
            x = nn.Conv(self.features, (3, 3), strides=1, padding="SAME", kernel_init=_xavier)(x)
            x = nn.relu(x)
            x = nn.Conv(self.features, (3, 3), strides=1, padding="SAME", kernel_init=_xavier)(x)
            x = x + skip
        return x


class ImpalaEncoder(nn.Module):
    """uint8 images (..., H, W, C) -> features (..., 512)."""

    stack_sizes: Sequence[int] = (16, 32, 32)
    num_blocks: int = 1
    feature_dim: int = FEATURE_DIM

    @nn.compact
    def __call__(self, x):
        lead = x.shape[:-3]
        x = x.reshape((-1, *x.shape[-3:])).astype(jnp.float32) / 255.0
        for width in self.stack_sizes:
            x = ResnetStack(width, self.num_blocks)(x)
        x = nn.relu(x).reshape((*lead, -1))
        return nn.gelu(nn.Dense(self.feature_dim, kernel_init=_xavier)(x))


def make_encoder(name: str) -> ImpalaEncoder | None:
    """The encoder module named by ``Config.encoder`` ('none': None, the state path)."""
    if name == "none":
        return None
    stacks, blocks = ARCHITECTURES[name]
    return ImpalaEncoder(stack_sizes=stacks, num_blocks=blocks)
