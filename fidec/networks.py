"""The MLPs every agent is built from (Flax linen)."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp


class MLP(nn.Module):
    """GELU MLP; optional LayerNorm after every hidden activation; linear output."""

    hidden_dims: Sequence[int]
    out_dim: int
    layer_norm: bool = False
    zero_init_output: bool = False

    @nn.compact
    def __call__(self, x):
        for width in self.hidden_dims:
            x = nn.Dense(width)(x)
            x = nn.gelu(x)
            if self.layer_norm:
                x = nn.LayerNorm()(x)
        init = nn.initializers.zeros if self.zero_init_output else nn.initializers.lecun_normal()
        return nn.Dense(self.out_dim, kernel_init=init)(x)


class CriticEnsemble(nn.Module):
    """``num`` independent Q(s, a) MLPs with LayerNorm; returns shape (num, *batch)."""

    hidden_dims: Sequence[int]
    num: int = 2

    @nn.compact
    def __call__(self, obs, actions):
        ensemble = nn.vmap(
            MLP,
            variable_axes={"params": 0},
            split_rngs={"params": True},
            in_axes=None,
            out_axes=0,
            axis_size=self.num,
        )
        q = ensemble(hidden_dims=self.hidden_dims, out_dim=1, layer_norm=True)(jnp.concatenate([obs, actions], axis=-1))
        return q[..., 0]


class Refiner(nn.Module):
    """The residual displacement delta_phi(s, a_base) of the local transport map T_s(a) = a + delta.

    The output layer starts at zero, so training starts from the identity map (the behaviour policy).
    """

    hidden_dims: Sequence[int]
    action_dim: int

    @nn.compact
    def __call__(self, obs, base_actions):
        return MLP(self.hidden_dims, self.action_dim, zero_init_output=True)(
            jnp.concatenate([obs, base_actions], axis=-1)
        )


class OneStepPolicy(nn.Module):
    """FQL's one-step policy mu_omega(s, z)."""

    hidden_dims: Sequence[int]
    action_dim: int

    @nn.compact
    def __call__(self, obs, noise):
        return MLP(self.hidden_dims, self.action_dim)(jnp.concatenate([obs, noise], axis=-1))
