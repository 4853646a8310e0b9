"""The MLPs every agent is built from (Flax linen)."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp

#: Kernel initialisers by config name (``Config.weight_init``); biases start at zero either way.
#: 'glorot' is the authors' release and FQL (``utils/networks.py``: variance_scaling(1, 'fan_avg', 'uniform')
#: on every Dense layer, output layers included); 'lecun' is Flax's default (lecun_normal).
INITIALIZERS = {
    "glorot": nn.initializers.variance_scaling(1.0, "fan_avg", "uniform"),
    "lecun": nn.initializers.lecun_normal(),
}


class MLP(nn.Module):
    """GELU MLP; optional LayerNorm after every hidden activation; linear output."""

    hidden_dims: Sequence[int]
    out_dim: int
    layer_norm: bool = False
    zero_init_output: bool = False
    weight_init: str = "glorot"

    @nn.compact
    def __call__(self, x):
        kernel_init = INITIALIZERS[self.weight_init]
        for width in self.hidden_dims:
            x = nn.Dense(width, kernel_init=kernel_init)(x)
            x = nn.gelu(x)
            if self.layer_norm:
                x = nn.LayerNorm()(x)
        out_init = nn.initializers.zeros if self.zero_init_output else kernel_init
        return nn.Dense(self.out_dim, kernel_init=out_init)(x)


class CriticEnsemble(nn.Module):
    """``num`` independent Q(s, a) MLPs with LayerNorm; returns shape (num, *batch)."""

    hidden_dims: Sequence[int]
    num: int = 2
    weight_init: str = "glorot"

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
        net = ensemble(hidden_dims=self.hidden_dims, out_dim=1, layer_norm=True, weight_init=self.weight_init)
        q = net(jnp.concatenate([obs, actions], axis=-1))
        return q[..., 0]


class Refiner(nn.Module):
    """The residual displacement delta_phi(s, a_base) of the local transport map T_s(a) = a + delta.

    ``zero_init_output`` (fidec's option, ``Config.refiner_zero_init``) starts the output layer at zero, so
    training starts from the identity map (the behaviour policy); the release initialises it like every layer.
    """

    hidden_dims: Sequence[int]
    action_dim: int
    zero_init_output: bool = False
    weight_init: str = "glorot"

    @nn.compact
    def __call__(self, obs, base_actions):
        return MLP(
            self.hidden_dims, self.action_dim, zero_init_output=self.zero_init_output, weight_init=self.weight_init
        )(jnp.concatenate([obs, base_actions], axis=-1))


class OneStepPolicy(nn.Module):
    """FQL's one-step policy mu_omega(s, z)."""

    hidden_dims: Sequence[int]
    action_dim: int
    weight_init: str = "glorot"

    @nn.compact
    def __call__(self, obs, noise):
        return MLP(self.hidden_dims, self.action_dim, weight_init=self.weight_init)(
            jnp.concatenate([obs, noise], axis=-1)
        )


class ValueNet(nn.Module):
    """V(s): one MLP with LayerNorm, returns shape (*batch,) (IQL's value; FQL's ``Value(num_ensembles=1)``)."""

    hidden_dims: Sequence[int]
    weight_init: str = "glorot"

    @nn.compact
    def __call__(self, obs):
        return MLP(self.hidden_dims, 1, layer_norm=True, weight_init=self.weight_init)(obs)[..., 0]


class GaussianActor(nn.Module):
    """FQL's ``Actor`` (``utils/networks.py``): a GELU MLP whose last hidden layer is activated, then a mean layer
    whose kernel starts at ``final_init_scale`` x the Glorot scale (FQL: 0.01). Returns ``(mean, log_std)``: with
    ``const_std`` the log std is 0 (std 1), otherwise one learnt log std per action dimension, independent of
    the state (``state_dependent_std=False`` in both IQL and ReBRAC), clipped to [-5, 2]. The tanh squash, where
    used (ReBRAC), is applied by the agent to the mean."""

    hidden_dims: Sequence[int]
    action_dim: int
    const_std: bool = True
    final_init_scale: float = 0.01
    weight_init: str = "glorot"

    @nn.compact
    def __call__(self, obs):
        x = obs
        for width in self.hidden_dims:
            x = nn.gelu(nn.Dense(width, kernel_init=INITIALIZERS[self.weight_init])(x))
        out_init = nn.initializers.variance_scaling(self.final_init_scale, "fan_avg", "uniform")
        mean = nn.Dense(self.action_dim, kernel_init=out_init)(x)
        if self.const_std:
            log_std = jnp.zeros_like(mean)
        else:
            log_std = self.param("log_stds", nn.initializers.zeros, (self.action_dim,))
        return mean, jnp.broadcast_to(jnp.clip(log_std, -5.0, 2.0), mean.shape)
