"""Compiled chunks of updates, below both phases of a run: the offline chunk over device-resident (or host-streamed)
data, the online chunk over the replay buffer, the batched acting policy, and the finite checks that follow every
chunk.

One call of a compiled chunk runs ``n`` updates (``lax.scan``) for every member (seed, ``vmap``), sampling
minibatches on the device. Every random draw comes from the state the chunk is given, so a run resumed from a
checkpoint continues bit-identically.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from fidec import checkpoint
from fidec.data.frames import assemble, label_keys
from fidec.data.loading import sample_batch
from fidec.online import buffer as ob


def make_chunk_fn(agent, batch_size: int, member_eps=None, sampler=None):
    """``run_chunk(states, data, n) -> (states, infos)``: n updates for every member (seed), infos of shape
    (n, members). ``member_eps`` (one target divergence per member, ``Config.target_divergences``) vmaps the
    update over (state, eps): one process trains a whole ε × seed grid. ``sampler(data, key, batch_size)`` draws
    a minibatch on the device (default :func:`sample_batch`; pixels: :func:`fidec.data.frames.sample_frames`)."""
    sampler = sampler or sample_batch

    def one_update(state, data, eps=None):
        rng, k = jax.random.split(state.rng)
        member = agent if eps is None else agent.with_target_divergence(eps)
        return member.update(state.replace(rng=rng), sampler(data, k, batch_size))

    if member_eps is None:
        all_seeds = jax.vmap(one_update, in_axes=(0, None))
    else:
        eps_arr = jnp.asarray(member_eps, jnp.float32)

        def all_seeds(states, data):
            return jax.vmap(one_update, in_axes=(0, None, 0))(states, data, eps_arr)

    @partial(jax.jit, static_argnums=2, donate_argnums=0)
    def run_chunk(states, data, n):
        if jax.tree_util.tree_leaves(states)[0].shape[0] == 1:
            # One seed: no vmap. XLA:CPU compiles a size-1 batch axis into slower code (LayerNorm/GELU
            # backward; 5-15 % per update, benchmarks/speed/README.md). Same computation.
            state = jax.tree_util.tree_map(lambda x: x[0], states)
            eps0 = None if member_eps is None else float(member_eps[0])
            state, infos = jax.lax.scan(lambda s, _: one_update(s, data, eps0), state, None, length=n)
            return jax.tree_util.tree_map(lambda x: x[None], state), jax.tree_util.tree_map(lambda x: x[:, None], infos)
        return jax.lax.scan(lambda s, _: all_seeds(s, data), states, None, length=n)

    return run_chunk


def make_stream_chunk_fn(agent, frame_stack: int, p_aug: float, member_eps=None):
    """``run_chunk(states, chunk) -> (states, infos)`` for host-streamed pixel minibatches
    (:mod:`fidec.data.placement`): ``chunk`` holds pre-gathered frames (n, members, batch, K + 1, H, W, C) and
    labels; each update stacks and augments its minibatch on the device with the key the device path draws it with."""

    def one_update(state, part, eps=None):
        rng, k = jax.random.split(state.rng)
        member = agent if eps is None else agent.with_target_divergence(eps)
        batch = assemble(part["gathered"], {key: part[key] for key in label_keys(part)}, frame_stack, p_aug, k)
        return member.update(state.replace(rng=rng), batch)

    eps_arr = None if member_eps is None else jnp.asarray(member_eps, jnp.float32)

    def all_members(states, part):
        if eps_arr is None:
            return jax.vmap(one_update)(states, part)
        return jax.vmap(one_update)(states, part, eps_arr)

    @partial(jax.jit, donate_argnums=0)
    def run_chunk(states, chunk):
        return jax.lax.scan(all_members, states, chunk)

    return run_chunk


def make_online_chunk_fn(agent, config, n_data: int, ring: int):
    """``run(states, data, rings, m0, n) -> (states, infos)``: the updates of online steps m0+1..m0+n, infos of
    shape (n x updates per step, seeds). The update after online step ``m`` samples from the buffer as it was after
    step ``m`` (:mod:`fidec.online.buffer`)."""
    sample = ob.make_sampler(config, n_data, ring)
    utd = config.online_updates_per_step
    frozen = ("flow",) if config.online_freeze_flow else ()

    def one_update(state, data, buf, m):
        rng, k = jax.random.split(state.rng)
        return agent.update(state.replace(rng=rng), sample(data, buf, k, m), frozen=frozen)

    all_seeds = jax.vmap(one_update, in_axes=(0, None, 0, None))

    @partial(jax.jit, static_argnums=4, donate_argnums=0)
    def run(states, data, rings, m0, n):
        single = jax.tree_util.tree_leaves(states)[0].shape[0] == 1
        if single:  # as the offline chunk: no size-1 vmap on XLA:CPU (slower code, same computation)
            states = jax.tree_util.tree_map(lambda x: x[0], states)
            rings = jax.tree_util.tree_map(lambda x: x[0], rings)
            upd = lambda s, m: one_update(s, data, rings, m)  # noqa: E731
        else:
            upd = lambda s, m: all_seeds(s, data, rings, m)  # noqa: E731

        def env_step(s, j):
            m = m0 + j + 1
            return jax.lax.scan(lambda s2, _: upd(s2, m), s, None, length=utd)

        states, infos = jax.lax.scan(env_step, states, jnp.arange(n))
        infos = jax.tree_util.tree_map(lambda x: x.reshape((n * utd, *x.shape[2:])), infos)
        if single:
            states = jax.tree_util.tree_map(lambda x: x[None], states)
            infos = jax.tree_util.tree_map(lambda x: x[:, None], infos)
        return states, infos

    return run


def make_act_fn(agent):
    """A jitted ``(params, obs, base_keys, t) -> actions`` for one observation per seed (seeds axis first): the
    online phase's exploring policy (:meth:`~fidec.agents.base.Agent.exploration_actions`)."""

    def one(params, obs, base_key, t):
        return agent.act(params, obs, jax.random.fold_in(base_key, t), explore=True)

    return jax.jit(jax.vmap(one, in_axes=(0, 0, 0, None)))


def init_states(agent, seeds: list[int]):
    return jax.jit(jax.vmap(agent.init))(jnp.stack([jax.random.PRNGKey(s) for s in seeds]))


def seed_slice(tree, i: int):
    return jax.tree_util.tree_map(lambda x: x[i], tree)


# ---------------------------------------------------------------------------------------------- finite checks
def first_nonfinite(infos: dict, start_step: int, seeds: list) -> str | None:
    """A message naming the first step, seed and loss term that is NaN/inf, or None."""
    worst = None
    for name, arr in infos.items():
        bad = ~np.isfinite(np.asarray(arr))
        if bad.any():
            t, s = np.argwhere(bad)[0]
            if worst is None or t < worst[0]:
                worst = (int(t), int(s), name)
    if worst is None:
        return None
    t, s, name = worst
    return f"loss term '{name}' became non-finite at step {start_step + t + 1} (seed {seeds[s]})"


@jax.jit
def finite_flags(states) -> jax.Array:
    """(floating-point leaves, seeds) booleans: is every value of that leaf of that seed's state finite?"""
    leaves = [x for x in jax.tree_util.tree_leaves(states) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.stack([jnp.isfinite(x).reshape(x.shape[0], -1).all(axis=1) for x in leaves])


def nonfinite_state(states, start_step: int, n: int, labels: list) -> str | None:
    """A message naming the member and the first state leaf that became NaN/inf in updates ``start_step + 1``
    to ``start_step + n``, or None.

    A loss is computed from the parameters before its update, so a diverging last update of a chunk leaves every
    loss term finite; checking the state itself catches it before anything is saved."""
    flags = np.asarray(jax.device_get(finite_flags(states)))
    if flags.all():
        return None
    seed_i = int(np.argwhere(~flags)[0][1])
    bad = checkpoint.nonfinite_leaves(seed_slice(jax.device_get(states), seed_i))
    return (
        f"the parameters became non-finite during steps {start_step + 1}-{start_step + n} (seed "
        f"{labels[seed_i]}: {len(bad)} non-finite leaves, first {bad[0] if bad else '?'})"
    )
