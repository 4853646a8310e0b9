"""Training in the geometry demo: the behaviour flow, the critic (optional) and the refinement, each a jitted
``lax.scan`` of Adam steps."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax

from fidec.agents.common import critic_loss, make_optimizer
from fidec.agents.refine import RefinementAgent, lagrange_loss
from fidec.demos.geometry.setup import zeros_obs


def _scan_trainer(agent: RefinementAgent, loss_fn, steps: int, batch_size: int, lr: float):
    """A jitted ``run(params, data, targets, key) -> (params, losses)``: Adam (``make_optimizer``) on
    ``loss_fn(params, obs, data_batch, target_batch, key)`` over ``steps`` minibatches of ``data``."""
    tx = make_optimizer(dataclasses.replace(agent.config, lr=lr), {"net": None})
    obs = zeros_obs(batch_size)

    @jax.jit
    def run(params, data, targets, key):
        def step(carry, k):
            params, opt_state = carry
            k_idx, k_loss = jax.random.split(k)
            idx = jax.random.randint(k_idx, (batch_size,), 0, data.shape[0])
            loss, grads = jax.value_and_grad(loss_fn)(params, obs, data[idx], targets[idx], k_loss)
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        (params, _), losses = jax.lax.scan(step, (params, tx.init(params)), jax.random.split(key, steps))
        return params, losses

    return run


def make_flow_trainer(agent: RefinementAgent, steps: int, batch_size: int, lr: float):
    """Conditional flow matching of the behaviour flow on the data (``agent.flow_loss``)."""

    def loss_fn(params, obs, actions, _targets, key):
        return agent.flow_loss(params["net"], {"observations": obs, "actions": actions}, key)

    return _scan_trainer(agent, loss_fn, steps, batch_size, lr)


def make_critic_trainer(agent: RefinementAgent, steps: int, batch_size: int, lr: float):
    """fidec's critic ensemble fitted to the data's rewards (a one-step problem: the TD target is r)."""

    def loss_fn(params, obs, actions, rewards, _key):
        return critic_loss(agent.critic(params["net"], obs, actions), rewards)

    return _scan_trainer(agent, loss_fn, steps, batch_size, lr)


def reward_q(w, obs, actions):
    """The known reward as the actor's Q: ``r(a) = w^T a``."""
    return actions @ w


def critic_q(agent: RefinementAgent):
    return lambda critic_params, obs, actions: jnp.mean(agent.critic(critic_params, obs, actions), axis=0)


def make_refine_trainer(agent: RefinementAgent, q_apply, steps: int, batch_size: int, lr: float):
    """A jitted trainer of refinements vmapped over (Fisher pools) x (target divergences).

    Each refinement minimises ``agent.refinement_loss`` (``E[-Q(s, pi(s))] + stopgrad(alpha) E[D]`` with
    ``agent``'s metric) plus ``lagrange_loss`` for its own multiplier, on minibatches of a fixed pool of base
    actions and Fisher estimates. Call as ``trainer(refine_params0, log_alpha0 (E,), base_pool (P, 2),
    fisher_pools (V, P, 2, 2), eps (E,), q_params, keys (V, E, 2), base_eval (n, 2))``; returns the trained
    policies' actions ``clip(base + delta)`` on ``base_eval`` (V, E, n, 2) and the training history
    (V, E, steps, 3) of (E[D], alpha, E[Q]).
    """
    template = {"refine": None, "log_alpha": None}
    tx = make_optimizer(dataclasses.replace(agent.config, lr=lr), template)
    obs = zeros_obs(batch_size)

    def train_one(refine0, log_alpha0, base_pool, fisher_pool, eps, q_params, key, base_eval):
        params = {"refine": refine0, "log_alpha": log_alpha0}

        def step(carry, k):
            params, opt_state = carry
            idx = jax.random.randint(k, (batch_size,), 0, base_pool.shape[0])
            base, fisher_hat = base_pool[idx], fisher_pool[idx]
            alpha = jnp.exp(params["log_alpha"])
            q_fn = lambda o, a: q_apply(q_params, o, a)  # noqa: E731

            def loss_fn(p):
                a_loss, info = agent.refinement_loss(p["refine"], obs, base, q_fn, fisher_hat, alpha)
                return a_loss + lagrange_loss(p["log_alpha"], info["divergence"], eps), info

            grads, info = jax.grad(loss_fn, has_aux=True)(params)
            updates, opt_state = tx.update(grads, opt_state, params)
            hist = jnp.stack([info["divergence"], alpha, info["q_policy"]])
            return (optax.apply_updates(params, updates), opt_state), hist

        (params, _), hist = jax.lax.scan(step, (params, tx.init(params)), jax.random.split(key, steps))
        return agent.policy(params, zeros_obs(base_eval.shape[0]), base_eval), hist

    over_eps = jax.vmap(train_one, in_axes=(None, 0, None, None, 0, None, 0, None))
    return jax.jit(jax.vmap(over_eps, in_axes=(None, None, None, 0, None, None, 0, None)))
