"""ReBRAC (Tarasov et al., 2023): TD3+BC with LayerNorm critics and separate actor and critic BC penalties, as
FQL's ``agents/rebrac.py``.

Deterministic policy ``pi(s) = tanh(mu(s))`` (:class:`~fidec.networks.GaussianActor`'s mean; FQL's tanh-squashed
actor acting with its mode). One optimiser, one total loss:

- critic: ``E[(Q_j(s, a) - y)^2]`` over both heads, ``y = r + discount * mask * (min_j Q_target_j(s', a') -
  alpha_critic * ||a' - a_next||^2)``, with ``a' = clip(pi_target(s') + clip(sigma * z, -c, c), -1, 1)`` (target
  policy smoothing) and ``a_next`` the dataset's next action;
- actor: ``-E[min_j Q_j(s, pi(s))] / stopgrad(E|Q|) + alpha_actor * E[||pi(s) - a||^2]``, only every
  ``rebrac_actor_freq``-th update (FQL's ``full_update``); in between its loss is 0, so its gradient is 0 and
  Adam's momentum alone moves it, as in FQL's single optimiser.

Both target networks (critic and actor) follow by Polyak (``tau``) on the actor's updates only. Acting:
``pi(s)`` (FQL's evaluation, temperature 0); online exploration adds the clipped noise (temperature 1).

Batches carry ``next_actions``: the action of the dataset's next row (FQL's ``return_next_actions``; see
:func:`fidec.data.loading.with_next_actions`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from fidec.agents.base import Agent
from fidec.agents.common import apply_gradients, critic_loss, polyak, q_objective
from fidec.agents.iql import q_min
from fidec.networks import GaussianActor


def smoothed_target_actions(policy_actions, noise, scale: float, clip: float) -> jax.Array:
    """``clip(a + clip(scale * z, -clip, clip), -1, 1)``: TD3's target policy smoothing (``z`` standard normal)."""
    return jnp.clip(policy_actions + jnp.clip(scale * noise, -clip, clip), -1.0, 1.0)


def bc_penalty(actions, reference) -> jax.Array:
    """``||actions - reference||^2`` per row (summed over the action dimensions)."""
    return jnp.sum((actions - reference) ** 2, axis=-1)


class ReBRACAgent(Agent):
    name = "rebrac"
    #: batches must carry the dataset's next action (the critic's BC penalty)
    needs_next_actions = True

    def __init__(self, config, obs_dim, action_dim):
        super().__init__(config, obs_dim, action_dim)
        self.actor_net = GaussianActor(config.hidden_dims, action_dim, const_std=True, weight_init=config.weight_init)

    def init_params(self, key):
        k_critic, k_actor = jax.random.split(key)
        obs, act, _ = self._dummy()
        return {
            "critic": self.init_net(k_critic, self.critic_net, obs, act),
            "actor": self.init_net(k_actor, self.actor_net, obs),
        }

    def target_of(self, params):
        return {"critic": params["critic"], "actor": params["actor"]}

    def policy(self, actor_params, obs):
        """pi(s) = tanh(mu(s)): the mode of FQL's tanh-squashed Gaussian."""
        mean, _ = self.actor_net.apply({"params": self.mlp_params(actor_params)}, self.features(actor_params, obs))
        return jnp.tanh(mean)

    def full_update(self, step) -> jax.Array:
        """Whether the update made at ``state.step = step`` trains the actor and moves the targets: FQL's
        ``i % actor_freq == 0`` with ``i = step + 1`` counted from 1."""
        return (step + 1) % self.config.rebrac_actor_freq == 0

    def draw_noise(self, key, batch):
        return {"next": jax.random.normal(key, batch["actions"].shape)}  # target policy smoothing at s'

    def losses(self, params, state, batch, noise):
        c = self.config
        p, tgt = state.params, state.target_params
        obs, next_obs = batch["observations"], batch["next_observations"]

        # critic: TD target from the smoothed target policy, minus the critic's BC penalty
        next_a = smoothed_target_actions(
            self.policy(tgt["actor"], next_obs), noise["next"], c.rebrac_actor_noise, c.rebrac_actor_noise_clip
        )
        next_q = q_min(self.critic(tgt["critic"], next_obs, next_a), c.q_agg)
        critic_bc = bc_penalty(next_a, batch["next_actions"])
        target = batch["rewards"] + c.discount * batch["masks"] * (next_q - c.rebrac_alpha_critic * critic_bc)
        q_data = self.critic(params["critic"], obs, batch["actions"])
        c_loss = critic_loss(q_data, target)

        # actor: normalised Q of the deterministic policy plus its BC penalty, on the actor's updates only
        pi = self.policy(params["actor"], obs)
        q_pi = q_min(self.critic(p["critic"], obs, pi), c.q_agg)
        q_loss = -q_objective(q_pi, normalize=True)
        actor_bc = jnp.mean(c.rebrac_alpha_actor * bc_penalty(pi, batch["actions"]))
        a_loss = q_loss + actor_bc
        total = c_loss + jnp.where(self.full_update(state.step), a_loss, 0.0)
        return total, {
            "critic_loss": c_loss,
            "actor_loss": a_loss,
            "actor_q_loss": q_loss,
            "actor_bc_loss": actor_bc,
            "critic_bc": jnp.mean(critic_bc),
            "q_data": jnp.mean(q_data),
            "q_policy": jnp.mean(q_pi),
            "td_target": jnp.mean(target),
        }

    def apply_update(self, state, grads, rng):
        """Adam on every parameter (the actor's gradient is 0 between its updates); the targets move only on the
        actor's updates (FQL: ``target_update`` under ``full_update``)."""
        params, opt_state = apply_gradients(self.tx, state, grads)
        source = params if self.config.target_update == "post-update" else state.params
        moved = polyak(state.target_params, self.target_of(source), self.config.tau)
        full = self.full_update(state.step)
        target = jax.tree_util.tree_map(lambda new, old: jnp.where(full, new, old), moved, state.target_params)
        return state.replace(params=params, target_params=target, opt_state=opt_state, rng=rng, step=state.step + 1)

    def sample_actions(self, params, obs, key):
        return jnp.clip(self.policy(params["actor"], obs), -1.0, 1.0)

    def exploration_actions(self, params, obs, key):
        c = self.config
        pi = self.policy(params["actor"], obs)
        return smoothed_target_actions(
            pi, jax.random.normal(key, pi.shape), c.rebrac_actor_noise, c.rebrac_actor_noise_clip
        )
