"""A/B: separate forward-only ODE solves (current) vs one merged solve (same rows, same noise)."""

import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp

from fidec.agents.common import apply_gradients, critic_loss, polyak, td_target
from fidec.agents.refine import RefinementAgent, lagrange_loss
from fidec.bench import synthetic_data
from fidec.config import resolve
from fidec.flows import interpolate, score_from_velocity
from fidec.metrics import fisher_from_scores, normalize_trace
from fidec.train import init_states, make_chunk_fn

jax.config.update("jax_enable_compilation_cache", False)  # compile times are real compilations


class Merged(RefinementAgent):
    def update(self, state, batch):
        c = self.config
        rng, k_next, k_base, k_fisher, k_fm = jax.random.split(state.rng, 5)
        p = state.params
        obs, next_obs = batch["observations"], batch["next_observations"]
        B, d = batch["actions"].shape
        n_next = jax.random.normal(k_next, (B, d))
        n_base = jax.random.normal(k_base, (B, d))
        fisher = self.metric.needs_fisher
        k_noise, k_x0, k_t = jax.random.split(k_fisher, 3)
        N = c.fisher_samples
        extra = fisher and c.fisher_locality == "per-state" and N > 1
        obs_parts, noise_parts = [next_obs, obs], [n_next, n_base]
        if extra:
            nz = jax.random.normal(k_noise, (B, N - 1, d))
            obs_parts.append(jnp.broadcast_to(obs[:, None], (B, N - 1, obs.shape[-1])).reshape(-1, obs.shape[-1]))
            noise_parts.append(nz.reshape(-1, d))
        sol = self.base_actions(p["flow"], jnp.concatenate(obs_parts), jnp.concatenate(noise_parts))
        next_base, base = sol[:B], sol[B : 2 * B]
        next_q = self.critic(state.target_params, next_obs, self.policy(p, next_obs, next_base))
        target = td_target(batch["rewards"], batch["masks"], next_q, c.discount, c.q_agg)
        fisher_hat = None
        info = {}
        if fisher:
            if extra:
                samples = jnp.concatenate([base[:, None], sol[2 * B :].reshape(B, N - 1, d)], axis=1)
            elif c.fisher_locality == "per-state":
                samples = base[:, None]
            else:
                samples = jnp.broadcast_to(base[:, None], (B, N, d))
            obs_n = jnp.broadcast_to(obs[:, None], (B, N, obs.shape[-1]))
            x0 = jax.random.normal(k_x0, (B, N, d))
            t = jax.random.uniform(k_t, (B, N, 1), minval=c.fisher_t_max - c.fisher_t_width, maxval=c.fisher_t_max)
            x_t = interpolate(x0, samples, t)
            scores = score_from_velocity(self.velocity(p["flow"])(obs_n, x_t, t), x_t, t, c.score_estimator)
            f = fisher_from_scores(scores, c.fisher_damping)
            fisher_hat = jax.lax.stop_gradient(normalize_trace(f))
            info["fisher_trace"] = jnp.mean(jnp.trace(f, axis1=-2, axis2=-1))
        alpha = jnp.exp(p["log_alpha"])

        def loss_fn(params):
            q_data = self.critic(params["critic"], obs, batch["actions"])
            c_loss = critic_loss(q_data, target)
            fc = jax.lax.stop_gradient(params["critic"])
            q_fn = lambda o, a: jnp.mean(self.critic(fc, o, a), axis=0)
            a_loss, a_info = self.refinement_loss(params["refine"], obs, base, q_fn, fisher_hat, alpha)
            f_loss = self.flow_loss(params["flow"], batch, k_fm)
            l_loss = lagrange_loss(params["log_alpha"], a_info["divergence"], c.target_divergence)
            return c_loss + a_loss + f_loss + l_loss, {"critic_loss": c_loss, **a_info}

        grads, li = jax.grad(loss_fn, has_aux=True)(p)
        params, opt_state = apply_gradients(self.tx, state, grads)
        info.update(li)
        info["alpha"] = alpha
        return state.replace(
            params=params,
            target_params=polyak(state.target_params, params["critic"], c.tau),
            opt_state=opt_state,
            rng=rng,
            step=state.step + 1,
        ), info


def prep(cls, agent, chunk, **kw):
    cfg = resolve({"agent": agent, "preset": "paper", **kw})
    a = cls(cfg, 28, 5)
    st = init_states(a, [0])
    data = synthetic_data(28, 5)
    t0 = time.perf_counter()
    f = make_chunk_fn(a, cfg.batch_size).lower(st, data, chunk).compile()
    print(cls.__name__, agent, kw, "compile", round(time.perf_counter() - t0, 1), file=sys.stderr, flush=True)
    st, _ = f(st, data)
    jax.block_until_ready(st)
    return [f, st, data, [], []]


agents = sys.argv[1].split(",")
chunk, reps = int(sys.argv[2]), int(sys.argv[3])
kw = {}
if len(sys.argv) > 4:
    kw["fisher_locality"] = sys.argv[4]
cases = {}
for ag in agents:
    cases[(ag, "base")] = prep(RefinementAgent, ag, chunk, **kw)
    cases[(ag, "merged")] = prep(Merged, ag, chunk, **kw)
for r in range(reps):
    for _k, c in cases.items():
        c0 = time.process_time()
        t0 = time.perf_counter()
        c[1], info = c[0](c[1], c[2])
        jax.block_until_ready(c[1])
        c[3].append(time.perf_counter() - t0)
        c[4].append(time.process_time() - c0)
    print(
        "round",
        r,
        os.getloadavg()[0],
        {k: round(chunk / c[3][-1], 3) for k, c in cases.items()},
        file=sys.stderr,
        flush=True,
    )
for ag in agents:
    b, m = cases[(ag, "base")][3], cases[(ag, "merged")][3]
    print(
        ag,
        "base upd/s",
        chunk / statistics.median(b),
        "merged",
        chunk / statistics.median(m),
        "ratio(merged/base speed)",
        statistics.median(b) / statistics.median(m),
        "paired ratios",
        [round(x / y, 3) for x, y in zip(b, m, strict=False)],
    )
    b, m = cases[(ag, "base")][4], cases[(ag, "merged")][4]
    print(
        ag,
        "CPU s/update base",
        statistics.median(b) / chunk,
        "merged",
        statistics.median(m) / chunk,
        "cpu ratio base/merged",
        statistics.median(b) / statistics.median(m),
        [round(x / y, 3) for x, y in zip(b, m, strict=False)],
    )
