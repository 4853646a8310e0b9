"""The refinement agent: Fisher Decorator (Fisher metric) and DeFlow (isotropic metric) in one class.

Policy: ``pi(s) = clip(a_beta + delta_phi(s, a_beta), -1, 1)`` with the base action ``a_beta`` from the
behaviour flow, held fixed. Actor objective: ``E[-Q(s, pi(s))] + stopgrad(alpha) * E[D(delta; s)]``,
where ``D`` is the metric (:mod:`fidec.metrics`) and ``alpha = exp(log_alpha)`` is a Lagrange multiplier
that rises while ``E[D]`` exceeds the target divergence and falls otherwise.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from fidec.agents.base import Agent
from fidec.agents.common import (
    AgentState,
    Batch,
    critic_loss,
    q_objective,
    td_target,
)
from fidec.config import Config
from fidec.metrics import METRICS, anisotropy, estimate_fisher, fisher_noise
from fidec.networks import Refiner


def lagrange_loss(log_alpha: jax.Array, divergence: jax.Array, target: float) -> jax.Array:
    """-log_alpha * (stopgrad(E[D]) - eps): gradient descent raises alpha while E[D] > eps."""
    return -log_alpha * (jax.lax.stop_gradient(divergence) - target)


class RefinementAgent(Agent):
    """FD when ``metric == 'fisher'``, DeFlow when ``metric == 'isotropic'``: same losses, another metric."""

    def __init__(self, config: Config, obs_dim: int, action_dim: int, metric: str | None = None):
        super().__init__(config, obs_dim, action_dim)
        self.metric = METRICS[metric or config.metric]
        self.name = config.agent
        self.refine_net = Refiner(
            config.hidden_dims, action_dim, zero_init_output=config.refiner_zero_init, weight_init=config.weight_init
        )

    def init_params(self, key) -> dict:
        k_fc, k_ref = jax.random.split(key)
        params = self._init_flow_and_critic(k_fc)
        obs, act, _ = self._dummy()
        params["refine"] = self.init_net(k_ref, self.refine_net, obs, act)
        params["log_alpha"] = jnp.asarray(jnp.log(self.config.alpha_init), jnp.float32)
        return params

    def refine(self, refine_params, obs, base):
        """delta_phi(s, a_base); with pixels the refinement net reads its own encoder's features (the release's
        ``refine_onestep_flow`` encoder)."""
        feats = self.features(refine_params, obs)
        return self.refine_net.apply({"params": self.mlp_params(refine_params)}, feats, base)

    def policy(self, params, obs, base):
        return jnp.clip(base + self.refine(params["refine"], obs, base), -1.0, 1.0)

    def fisher_noise(self, key, batch_size: int) -> dict:
        c = self.config
        return fisher_noise(
            key,
            batch_size,
            self.action_dim,
            num_samples=c.fisher_samples,
            t_max=c.fisher_t_max,
            t_width=c.fisher_t_width,
            locality=c.fisher_locality,
            reuse_base=c.fisher_reuse_base,
        )

    def fisher(self, flow_params, obs, base, key=None, noise=None, encoded: bool = False):
        """F_hat at each row of ``obs``; ``encoded``: ``obs`` already holds the flow's encoder features."""
        c = self.config
        return estimate_fisher(
            self.velocity(flow_params),
            obs if encoded else self.flow_features(flow_params, obs),
            base,
            key,
            num_samples=c.fisher_samples,
            flow_steps=c.flow_steps,
            t_max=c.fisher_t_max,
            t_width=c.fisher_t_width,
            damping=c.fisher_damping,
            estimator=c.score_estimator,
            locality=c.fisher_locality,
            reuse_base=c.fisher_reuse_base,
            noise=self.fisher_noise(key, obs.shape[0]) if noise is None else noise,
        )

    def refinement_loss(self, refine_params, obs, base, q_fn, fisher_hat, alpha) -> tuple[jax.Array, dict]:
        """The actor objective ``E[-Q(s, pi(s))] + stopgrad(alpha) * E[D(delta; s)]``.

        ``q_fn(obs, actions) -> (batch,)`` is the critic (or, in the geometry demo, a known reward);
        ``fisher_hat`` is ignored by the isotropic metric. Returns the loss and its terms.
        """
        delta = self.refine(refine_params, obs, base)
        q_pi = q_fn(obs, jnp.clip(base + delta, -1.0, 1.0))
        divergence = jnp.mean(self.metric.penalty(delta, fisher_hat))
        loss = -q_objective(q_pi, self.config.normalize_q) + jax.lax.stop_gradient(alpha) * divergence
        return loss, {
            "divergence": divergence,
            "q_policy": jnp.mean(q_pi),
            "sq_displacement": jnp.mean(delta**2),
            "refine_norm": jnp.mean(jnp.linalg.norm(delta, axis=-1)),
        }

    def draw_noise(self, key, batch: Batch) -> dict:
        k_next, k_base, k_fisher, k_fm = jax.random.split(key, 4)
        shape = batch["actions"].shape
        noise = {
            "next": jax.random.normal(k_next, shape),  # base action at s' (critic target)
            "base": jax.random.normal(k_base, shape),  # base action being refined at s
            "fm": self.flow_noise(k_fm, batch),
        }
        if self.metric.needs_fisher:
            noise["fisher"] = self.fisher_noise(k_fisher, shape[0])
        return noise

    def losses(self, params, state: AgentState, batch: Batch, noise: dict) -> tuple[jax.Array, dict]:
        c = self.config
        p = state.params
        obs, next_obs = batch["observations"], batch["next_observations"]

        # Forward-only work (no gradient): the critic's target, the base actions and the Fisher metric.
        next_base = self.base_actions(p["flow"], next_obs, noise["next"])
        next_q = self.critic(state.target_params, next_obs, self.policy(p, next_obs, next_base))
        target = td_target(batch["rewards"], batch["masks"], next_q, c.discount, c.q_agg)
        flow_feats = self.flow_features(p["flow"], obs)  # encoded once for the base actions and the Fisher metric
        base = self.base_actions(p["flow"], flow_feats, noise["base"], encoded=True)
        info = {}
        fisher_hat = None
        if self.metric.needs_fisher:
            fisher_hat, fstats = self.fisher(p["flow"], flow_feats, base, noise=noise["fisher"], encoded=True)
            info.update(fstats)
        alpha = jnp.exp(p["log_alpha"])

        q_data = self.critic(params["critic"], obs, batch["actions"])
        c_loss = critic_loss(q_data, target)
        q_fn = lambda o, a: jnp.mean(self.critic(p["critic"], o, a), axis=0)  # noqa: E731  (no gradient)
        a_loss, a_info = self.refinement_loss(params["refine"], obs, base, q_fn, fisher_hat, alpha)
        f_loss = self.flow_loss(params["flow"], batch, noise=noise["fm"])
        l_loss = (
            lagrange_loss(params["log_alpha"], a_info["divergence"], c.target_divergence)
            if c.lagrangian
            else jnp.zeros(())
        )
        total = c_loss + a_loss + f_loss + l_loss
        info.update(
            {
                "critic_loss": c_loss,
                "actor_loss": a_loss,
                "flow_loss": f_loss,
                "alpha_loss": l_loss,
                "q_data": jnp.mean(q_data),
                "td_target": jnp.mean(target),
                "alpha": alpha,
                **a_info,
            }
        )
        return total, info

    def sample_actions(self, params, obs, key):
        c = self.config
        batch = obs.shape[0]
        if c.act_refine_steps > 0:
            return self.iterative_actions(params, obs, key, c.act_refine_steps)
        if c.act_samples == 1:
            base = self.base_actions(params["flow"], obs, jax.random.normal(key, (batch, self.action_dim)))
            return self.policy(params, obs, base)
        # best-of-N: N base actions, keep the one the critic rates highest, refine it (each network's features
        # computed once per observation and broadcast over the N candidates)
        noise = jax.random.normal(key, (batch, c.act_samples, self.action_dim))
        bases = self.base_actions(
            params["flow"], _repeat(self.flow_features(params["flow"], obs), c.act_samples), noise, encoded=True
        )
        q_feats = _repeat(self.features(params["critic"], obs), c.act_samples)
        q = jnp.mean(self.critic(params["critic"], q_feats, bases, encoded=True), axis=0)
        best = jnp.take_along_axis(bases, jnp.argmax(q, axis=1)[:, None, None], axis=1)[:, 0]
        return self.policy(params, obs, best)

    def iterative_actions(self, params, obs, key, steps: int):
        """The release's iterative-refinement acting (``sample_actions_iterative_refinement``): refine the base
        action ``steps`` times in a row (a <- clip(a + delta(s, a))) and act with the candidate (the base action
        included) that the critic's ensemble mean rates highest."""
        a = self.base_actions(params["flow"], obs, jax.random.normal(key, (obs.shape[0], self.action_dim)))
        candidates = [a]
        for _ in range(steps):
            a = self.policy(params, obs, a)
            candidates.append(a)
        cands = jnp.stack(candidates, axis=1)  # (batch, steps + 1, d)
        q_feats = _repeat(self.features(params["critic"], obs), steps + 1)
        q = jnp.mean(self.critic(params["critic"], q_feats, cands, encoded=True), axis=0)
        return jnp.take_along_axis(cands, jnp.argmax(q, axis=1)[:, None, None], axis=1)[:, 0]

    def diagnostics(self, state, batch, key):
        k_act, k_base, k_fisher = jax.random.split(key, 3)
        out = super().diagnostics(state, batch, k_act)
        p, obs = state.params, batch["observations"]
        flow_feats = self.flow_features(p["flow"], obs)
        base = self.base_actions(p["flow"], flow_feats, jax.random.normal(k_base, batch["actions"].shape), encoded=True)
        fisher_hat, _ = self.fisher(p["flow"], flow_feats, base, k_fisher, encoded=True)
        delta = self.refine(p["refine"], obs, base)
        out.update(anisotropy(fisher_hat))
        out["divergence_fisher"] = jnp.mean(METRICS["fisher"].penalty(delta, fisher_hat))
        out["divergence_isotropic"] = jnp.mean(METRICS["isotropic"].penalty(delta))
        return out


def _repeat(x, n: int):
    """(batch, width) -> (batch, n, width): one row's features for each of n candidates."""
    return jnp.broadcast_to(x[:, None], (x.shape[0], n, x.shape[-1]))
