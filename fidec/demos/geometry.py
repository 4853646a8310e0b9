"""The geometry demo: Fisher refinement stays on the behaviour support, isotropic refinement leaves it.

A one-state problem (the state is a constant 1-d zero) with 2-D actions. The behaviour data come from
anisotropic distributions with a known density:

- ``arc``: a thin curved band, angle uniform on an arc of a circle plus isotropic Gaussian noise of
  width ``width``. Its density ``(1/dtheta) * int N(x; c + R u(theta), width^2 I) dtheta`` has no closed
  form and is computed by the midpoint rule on 512 angles (node spacing < 0.11 * width, so the sum is
  accurate to float precision);
- ``mixture``: elongated Gaussians with different orientations (analytic density);
- ``gaussian``: one Gaussian ``N(0, diag(s1^2, s2^2))`` (analytic; used by the tests).

The reward is linear, ``r(a) = w^T a``, with ``w`` oblique to the band. Everything the method does is
fidec's own code: the behaviour flow is :class:`~fidec.agents.refine.RefinementAgent`'s velocity field
trained with :func:`~fidec.flows.flow_matching_loss` (``agent.flow_loss``), base actions are
``agent.base_actions`` (K Euler steps), the Fisher metric is ``agent.fisher`` with the config's
``fisher_locality`` / ``score_estimator`` set per variant, and the refinement is trained on
``agent.refinement_loss`` (the actor objective, with the known reward, or optionally a critic learned
from rewards, in place of Q) plus :func:`~fidec.agents.refine.lagrange_loss` for the multiplier, so
every target divergence eps is met under each metric's own ``D``. The flow is frozen once trained; the
base actions and their Fisher estimates are drawn once into a pool of i.i.d. rows (the agent's update
draws the same quantities fresh every step; with a frozen flow a pool has the same distribution).

Measured per metric and eps on fresh base actions: the mean reward of the refined actions, the mean
log-density of the refined actions under the true behaviour density, and the fraction inside the
highest-density region holding 99 % of the behaviour mass (density above the 1 % quantile of the
behaviour samples' densities).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fidec.agents.common import critic_loss, make_optimizer
from fidec.agents.refine import RefinementAgent, lagrange_loss
from fidec.config import resolve
from fidec.metrics import anisotropy

OBS_DIM = 1
ACTION_DIM = 2
HDR_MASS = 0.99
FRONTIER_TOL = 0.005  # in-region fractions closer than this (0.5 points) count as equal: sampling noise
EPS_REF = 0.01  # alpha_0 = alpha_init (10, the method's) at this eps; see initial_log_alpha


# --------------------------------------------------------------------------------------------------------------
# Behaviour distributions with a true density


def _rotation(deg: float) -> np.ndarray:
    a = math.radians(deg)
    return np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])


@dataclass(frozen=True)
class Arc:
    """A thin curved band: ``c + R (cos theta, sin theta) + width * N(0, I)``, theta ~ U[theta0, theta1]."""

    name: str = "arc"
    center: tuple[float, float] = (0.0, -0.3)
    radius: float = 0.75
    theta_deg: tuple[float, float] = (20.0, 160.0)
    width: float = 0.035
    reward_w: tuple[float, float] = (0.97, 0.243)  # oblique to the band everywhere on it
    nodes: int = 512

    @property
    def description(self) -> str:
        t0, t1 = self.theta_deg
        return (
            f"arc of radius {self.radius} centred at {self.center}, angle uniform on [{t0:g}, {t1:g}] deg, "
            f"isotropic Gaussian noise sd {self.width}; density by the midpoint rule on {self.nodes} angles"
        )

    def _thetas(self, n):
        t0, t1 = (math.radians(t) for t in self.theta_deg)
        return t0 + (jnp.arange(n) + 0.5) * (t1 - t0) / n

    def sample(self, key, n: int) -> jax.Array:
        k_th, k_eps = jax.random.split(key)
        t0, t1 = (math.radians(t) for t in self.theta_deg)
        th = jax.random.uniform(k_th, (n,), minval=t0, maxval=t1)
        ring = jnp.stack([jnp.cos(th), jnp.sin(th)], axis=-1)
        return jnp.asarray(self.center) + self.radius * ring + self.width * jax.random.normal(k_eps, (n, 2))

    def log_density(self, x: jax.Array) -> jax.Array:
        th = self._thetas(self.nodes)
        mu = jnp.asarray(self.center) + self.radius * jnp.stack([jnp.cos(th), jnp.sin(th)], axis=-1)
        sq = jnp.sum((x[:, None, :] - mu[None]) ** 2, axis=-1)
        log_n = -sq / (2 * self.width**2) - jnp.log(2 * jnp.pi * self.width**2)
        return jax.scipy.special.logsumexp(log_n, axis=1) - jnp.log(self.nodes)

    def normal(self, x: np.ndarray) -> np.ndarray:
        """The band's unit normal at (near) ``x``: the radial direction from the arc's centre."""
        r = np.asarray(x) - np.asarray(self.center)
        return r / np.linalg.norm(r, axis=-1, keepdims=True)


@dataclass(frozen=True)
class GaussianMixture:
    """Equal-weight Gaussians, each ``N(mean, R(angle) diag(s_long^2, s_short^2) R(angle)^T)``."""

    name: str = "mixture"
    means: tuple[tuple[float, float], ...] = ((0.0, 0.0), (0.0, 0.0))
    angles_deg: tuple[float, ...] = (30.0, 120.0)
    stds: tuple[tuple[float, float], ...] = ((0.35, 0.04), (0.35, 0.04))
    reward_w: tuple[float, float] = (0.985, -0.174)  # 40 and 50 degrees from the two axes

    @property
    def description(self) -> str:
        comps = "; ".join(
            f"mean {m}, axis {a:g} deg, sd {s[0]} x {s[1]}"
            for m, a, s in zip(self.means, self.angles_deg, self.stds, strict=True)
        )
        return f"equal-weight mixture of elongated Gaussians ({comps}); analytic density"

    def _factors(self) -> np.ndarray:
        return np.stack([_rotation(a) @ np.diag(s) for a, s in zip(self.angles_deg, self.stds, strict=True)])

    @property
    def covariances(self) -> np.ndarray:
        f = self._factors()
        return np.einsum("kij,klj->kil", f, f)

    def sample(self, key, n: int) -> jax.Array:
        k_c, k_z = jax.random.split(key)
        comp = jax.random.randint(k_c, (n,), 0, len(self.means))
        z = jax.random.normal(k_z, (n, 2))
        f = jnp.asarray(self._factors(), jnp.float32)[comp]
        return jnp.asarray(self.means, jnp.float32)[comp] + jnp.einsum("nij,nj->ni", f, z)

    def log_density(self, x: jax.Array) -> jax.Array:
        cov = self.covariances
        prec = jnp.asarray(np.linalg.inv(cov), jnp.float32)
        log_norm = jnp.asarray(-0.5 * np.log(np.linalg.det(2 * np.pi * cov)) - np.log(len(self.means)), jnp.float32)
        diff = x[:, None, :] - jnp.asarray(self.means, jnp.float32)[None]
        maha = jnp.einsum("nki,kij,nkj->nk", diff, prec, diff)
        return jax.scipy.special.logsumexp(log_norm - 0.5 * maha, axis=1)


def gaussian(sd_wide: float = 0.3, sd_thin: float = 0.03, reward_w=(0.7071, 0.7071)) -> GaussianMixture:
    """``N(0, diag(sd_wide^2, sd_thin^2))`` as a one-component mixture."""
    return GaussianMixture(
        name="gaussian", means=((0.0, 0.0),), angles_deg=(0.0,), stds=((sd_wide, sd_thin),), reward_w=tuple(reward_w)
    )


DISTRIBUTIONS = {"arc": Arc(), "mixture": GaussianMixture()}


# --------------------------------------------------------------------------------------------------------------
# Settings and the metric variants compared


@dataclass(frozen=True)
class DemoSettings:
    hidden_dims: tuple[int, ...] = (64, 64, 64)
    lr: float = 3e-3  # flow (and critic) learning rate
    refine_lr: float = 3e-3  # refinement and Lagrange multiplier learning rate
    num_data: int = 20_000  # behaviour samples (the offline data set)
    flow_steps_train: int = 1500
    flow_batch: int = 512
    refine_steps: int = 1000
    refine_batch: int = 128
    pool_size: int = 4096  # base actions (and their Fisher estimates) the refinement trains on
    eval_size: int = 4096  # fresh base actions the refinement is measured on
    eps: tuple[float, ...] = (3e-4, 1e-3, 3e-3, 1e-2, 3e-2)
    eps_show: float = 0.003  # the eps of the side-by-side figure
    density_samples: int = 100_000  # behaviour samples for the 99 % region's density threshold
    critic_steps: int = 2000
    ellipse_points: int = 32


FULL = DemoSettings()
QUICK = DemoSettings(
    num_data=4000,
    flow_steps_train=800,
    flow_batch=256,
    refine_steps=500,
    pool_size=1024,
    eval_size=1024,
    eps=(3e-4, 1e-3, 3e-3, 1e-2, 3e-2),
    eps_show=3e-3,
    density_samples=20_000,
    critic_steps=300,
    ellipse_points=16,
)


@dataclass(frozen=True)
class Variant:
    key: str
    metric: str  # 'isotropic' | 'fisher'
    locality: str | None = None
    estimator: str | None = None

    @property
    def label(self) -> str:
        if self.metric == "isotropic":
            return "isotropic (DeFlow)"
        return f"Fisher {self.locality}, {self.estimator} score"


VARIANTS = (
    Variant("isotropic", "isotropic"),
    Variant("per-state/velocity", "fisher", "per-state", "velocity"),
    Variant("per-state/exact", "fisher", "per-state", "exact"),
    Variant("per-action/velocity", "fisher", "per-action", "velocity"),
    Variant("per-action/exact", "fisher", "per-action", "exact"),
)


def make_agent(settings: DemoSettings, variant: Variant) -> RefinementAgent:
    """fidec's refinement agent for ``variant`` (FD for the Fisher metrics, DeFlow for the isotropic one)."""
    # fidec's recipe (zero-initialised refinement, Lecun init, no Q normalisation): the configuration the demo's
    # published numbers were measured with; each variant sets its own Fisher locality and score estimator.
    over = {
        "agent": "deflow" if variant.metric == "isotropic" else "fd",
        "preset": "fidec",
        "hidden_dims": settings.hidden_dims,
    }
    over["lr"] = settings.lr
    if variant.metric == "fisher":
        over.update(fisher_locality=variant.locality, score_estimator=variant.estimator)
    return RefinementAgent(resolve(over), OBS_DIM, ACTION_DIM)


def init_networks(agent: RefinementAgent, key, *, critic: bool = False) -> dict:
    """Initial parameters of the agent's flow and refinement nets (and critic), as ``agent.init_params`` makes them
    (which also builds the critic and multiplier; initialising only what is used halves the compile time)."""
    k_flow, k_ref, k_critic = jax.random.split(key, 3)
    obs, act, t = _zeros_obs(1), jnp.zeros((1, ACTION_DIM)), jnp.zeros((1, 1))
    out = {
        "flow": agent.flow_net.init(k_flow, obs, act, t)["params"],
        "refine": agent.refine_net.init(k_ref, obs, act)["params"],
    }
    if critic:
        out["critic"] = agent.critic_net.init(k_critic, obs, act)["params"]
    return out


def _zeros_obs(n: int) -> jax.Array:
    return jnp.zeros((n, OBS_DIM), jnp.float32)


# --------------------------------------------------------------------------------------------------------------
# Training: behaviour flow, critic (optional), refinement


def _scan_trainer(agent: RefinementAgent, loss_fn, steps: int, batch_size: int, lr: float):
    """A jitted ``run(params, data, targets, key) -> (params, losses)``: Adam (``make_optimizer``) on
    ``loss_fn(params, obs, data_batch, target_batch, key)`` over ``steps`` minibatches of ``data``."""
    tx = make_optimizer(dataclasses.replace(agent.config, lr=lr), {"net": None})
    obs = _zeros_obs(batch_size)

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
    obs = _zeros_obs(batch_size)

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
        return agent.policy(params, _zeros_obs(base_eval.shape[0]), base_eval), hist

    over_eps = jax.vmap(train_one, in_axes=(None, 0, None, None, 0, None, 0, None))
    return jax.jit(jax.vmap(over_eps, in_axes=(None, None, None, 0, None, None, 0, None)))


# --------------------------------------------------------------------------------------------------------------
# One distribution, every variant and eps


def initial_log_alpha(alpha_init: float, eps) -> jax.Array:
    """log alpha_0 per eps: ``alpha_init`` at eps = EPS_REF, scaled by sqrt(EPS_REF / eps).

    The multiplier at the optimum scales as 1 / sqrt(eps) (for the isotropic metric and a linear reward it is
    exactly ``|w| / sqrt(2 eps)``), so over a sweep spanning decades a single alpha_0 leaves the small-eps runs
    far from their constraint at the end of a short training; the Lagrangian itself is unchanged.
    """
    eps = jnp.asarray(eps, jnp.float32)
    return jnp.log(alpha_init) + 0.5 * jnp.log(EPS_REF / eps)


def _fisher_fn(agents: list[RefinementAgent]):
    """jitted ``(flow, base, key) -> tuple of F_hat``, one per agent, all from the same random draws."""
    return jax.jit(
        lambda flow, base, key: tuple(a.fisher(flow, _zeros_obs(base.shape[0]), base, key)[0] for a in agents)
    )


def expected_fisher(fisher_fn, flow, points: jax.Array, key, total: int) -> tuple[jax.Array, ...]:
    """E[F_hat | a] at each of ``points`` (m, 2): the mean of ``total // m`` independent estimates each.

    The refinement's penalty is linear in F_hat, so this is the metric it effectively sees at ``a``.
    """
    m = points.shape[0]
    draws = total // m
    out = fisher_fn(flow, jnp.repeat(points, draws, axis=0), key)
    return tuple(jnp.mean(f.reshape(m, draws, ACTION_DIM, ACTION_DIM), axis=1) for f in out)


class GeometryRun:
    """Everything the demo computes for one behaviour distribution (see :func:`run_distribution`)."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


def run_distribution(
    dist,
    settings: DemoSettings,
    key,
    *,
    agents: dict | None = None,
    variants=VARIANTS,
    critic: bool = False,
    cache: dict | None = None,
    log=print,
) -> GeometryRun:
    """Train the flow on ``dist``, refine with every variant at every eps, measure; returns arrays and metrics.

    ``agents`` / ``cache`` (jitted functions) can be shared between distributions to reuse compilations.
    """
    agents = agents if agents is not None else {v.key: make_agent(settings, v) for v in variants}
    cache = cache if cache is not None else {}
    keys = jax.random.split(key, 10)
    t0 = time.time()
    timings: dict[str, float] = {}
    w = jnp.asarray(dist.reward_w, jnp.float32)
    any_agent = agents[variants[0].key]

    # --- behaviour data, true density, the 99 % region
    # (everything is jitted: eager dispatch compiles one kernel per operation, which costs more than the work)
    sample = jax.jit(dist.sample, static_argnums=1)
    logp_fn = cache.setdefault(("logp", dist.name), jax.jit(dist.log_density))
    both = sample(keys[0], settings.num_data + settings.density_samples)
    data = both[: settings.num_data]
    ref_logp = np.asarray(logp_fn(both[settings.num_data :]))
    threshold = float(np.quantile(ref_logp, 1.0 - HDR_MASS))

    # --- behaviour flow (fidec's flow-matching loss), base actions
    if ("init", critic) not in cache:
        cache[("init", critic)] = jax.jit(lambda k: init_networks(any_agent, k, critic=critic))
    init = cache[("init", critic)](keys[2])
    if "flow_trainer" not in cache:
        cache["flow_trainer"] = make_flow_trainer(
            any_agent, settings.flow_steps_train, settings.flow_batch, settings.lr
        )
    flow, flow_losses = cache["flow_trainer"]({"net": init["flow"]}, data, data[:, 0], keys[3])
    flow, flow_losses = flow["net"], np.asarray(flow_losses)
    base_fn = cache.setdefault("base", jax.jit(lambda f, z: any_agent.base_actions(f, _zeros_obs(z.shape[0]), z)))
    pool = base_fn(flow, jax.random.normal(keys[7], (settings.pool_size, ACTION_DIM)))
    base_eval = base_fn(flow, jax.random.normal(keys[4], (settings.eval_size, ACTION_DIM)))
    timings["flow"] = time.time() - t0
    log(f"  [{dist.name}] flow trained (loss {flow_losses[-100:].mean():.3f}) in {time.time() - t0:.1f}s")

    # --- Fisher pools (agent.fisher with the variant's locality and estimator). The estimators of one locality
    # share their random draws (paired comparison; XLA evaluates the shared ODE solves once).
    fisher_variants = [v for v in variants if v.metric == "fisher"]
    pools, evals, ellipses = {}, {}, {}
    ellipse_pts = base_eval[: settings.ellipse_points]
    for i, locality in enumerate(sorted({v.locality for v in fisher_variants})):
        group = [v for v in fisher_variants if v.locality == locality]
        gkey = ("fisher", tuple(v.key for v in group))
        fn = cache.setdefault(gkey, _fisher_fn([agents[v.key] for v in group]))
        kf = jax.random.fold_in(keys[5], i)
        p_out = fn(flow, pool, jax.random.fold_in(kf, 0))
        e_out = fn(flow, base_eval, jax.random.fold_in(kf, 1))
        el_out = expected_fisher(fn, flow, ellipse_pts, jax.random.fold_in(kf, 2), settings.pool_size)
        for j, v in enumerate(group):
            pools[v.key], evals[v.key], ellipses[v.key] = p_out[j], e_out[j], el_out[j]
    jax.block_until_ready(ellipses)
    timings["fisher"] = time.time() - t0 - sum(timings.values())

    # --- refinement: every variant x every eps, against the known reward (and optionally a critic)
    q_sources = {"reward": (reward_q, w)}
    critic_info = None
    if critic:
        if "critic_trainer" not in cache:
            cache["critic_trainer"] = make_critic_trainer(
                any_agent, settings.critic_steps, settings.flow_batch, settings.lr
            )
        c_params, c_losses = cache["critic_trainer"]({"net": init["critic"]}, data, data @ w, keys[6])
        c_losses = np.asarray(c_losses)
        q_sources["critic"] = (critic_q(any_agent), c_params["net"])
        critic_info = {"final_loss": float(c_losses[-100:].mean())}
    eps = jnp.asarray(settings.eps, jnp.float32)
    n_eps = len(settings.eps)
    log_alpha0 = initial_log_alpha(any_agent.config.alpha_init, settings.eps)
    refined, histories = {}, {}
    for qi, (q_name, (q_apply, q_params)) in enumerate(q_sources.items()):
        for mi, metric in enumerate(("isotropic", "fisher")):
            group = [v for v in variants if v.metric == metric]
            if not group:
                continue
            agent = agents[group[0].key]  # the loss depends on the metric only, not on locality/estimator
            tkey = ("train", metric, q_name)
            if tkey not in cache:
                cache[tkey] = make_refine_trainer(
                    agent, q_apply, settings.refine_steps, settings.refine_batch, settings.refine_lr
                )
            if metric == "fisher":
                stack = jnp.stack([pools[v.key] for v in group])
            else:  # ignored by the isotropic metric
                stack = jnp.broadcast_to(jnp.eye(ACTION_DIM), (1, settings.pool_size, ACTION_DIM, ACTION_DIM))
            tk = jax.random.split(jax.random.fold_in(keys[8], 2 * qi + mi), len(group) * n_eps)
            out, hist = cache[tkey](
                init["refine"], log_alpha0, pool, stack, eps, q_params, tk.reshape(len(group), n_eps, -1), base_eval
            )
            for j, v in enumerate(group):
                refined[(q_name, v.key)] = np.asarray(out[j])
                histories[(q_name, v.key)] = np.asarray(hist[j])
        timings[f"refine_{q_name}"] = time.time() - t0 - sum(timings.values())
        log(f"  [{dist.name}] refinements trained against the {q_name} in {timings[f'refine_{q_name}']:.1f}s")

    # --- measurements

    def support(actions):
        lp = np.asarray(logp_fn(jnp.asarray(actions)))
        return float(np.mean(lp)), float(np.mean(lp >= threshold))

    base_np = np.asarray(base_eval)
    data_lp, data_in = support(np.asarray(data[: settings.eval_size]))
    base_lp, base_in = support(base_np)
    metrics = {
        "description": dist.description,
        "reward_w": list(dist.reward_w),
        "hdr_mass": HDR_MASS,
        "hdr_log_density_threshold": threshold,
        "flow_loss_final": float(flow_losses[-100:].mean()),
        "data": {
            "reward": float(np.mean(np.asarray(data) @ np.asarray(w))),
            "log_density": data_lp,
            "in_region": data_in,
        },
        "base": {"reward": float(np.mean(base_np @ np.asarray(w))), "log_density": base_lp, "in_region": base_in},
        "fisher": {},
        "results": {},
    }
    if critic_info is not None:
        metrics["critic"] = critic_info
    is_arc = hasattr(dist, "normal")
    normals = dist.normal(np.asarray(base_eval)) if is_arc else None
    aniso = cache.setdefault("anisotropy", jax.jit(anisotropy))
    for v in fisher_variants:
        f = np.asarray(evals[v.key])
        mean_f = f.mean(axis=0)
        entry = {k: float(x) for k, x in aniso(f).items()}
        entry.update({f"expected_{k}": float(x) for k, x in aniso(ellipses[v.key]).items()})
        entry["mean_fisher_hat"] = mean_f.round(4).tolist()
        entry.update({f"mean_fisher_{k}": float(x) for k, x in aniso(mean_f[None]).items()})
        if is_arc:
            # share of the penalty on the band's normal: n^T F_hat n / tr F_hat (1 = all on the normal, 0.5 = none)
            nfn = np.einsum("ni,nij,nj->n", normals, np.asarray(f), normals) / ACTION_DIM
            entry["normal_penalty_share"] = float(np.mean(nfn))
        metrics["fisher"][v.key] = entry

    for (q_name, vkey), acts in refined.items():
        v = next(x for x in variants if x.key == vkey)
        rows = []
        for j, e in enumerate(settings.eps):
            a = acts[j]
            disp = a - base_np
            lp, inside = support(a)
            hist = histories[(q_name, vkey)][j]
            tail = hist[-max(1, len(hist) // 10) :]
            if v.metric == "fisher":
                div = float(np.mean(np.einsum("ni,nij,nj->n", disp, np.asarray(evals[vkey]), disp)) / ACTION_DIM)
            else:
                div = float(np.mean(np.sum(disp**2, axis=-1)) / ACTION_DIM)
            row = {
                "eps": e,
                "reward": float(np.mean(a @ np.asarray(w))),
                "log_density": lp,
                "in_region": inside,
                "divergence": div,
                "divergence_train": float(np.mean(tail[:, 0])),
                "alpha": float(np.mean(tail[:, 1])),
                "mean_displacement": np.mean(disp, axis=0).round(5).tolist(),
                "displacement_norm": float(np.mean(np.linalg.norm(disp, axis=-1))),
            }
            if q_name == "critic":
                row["q_policy_train"] = float(np.mean(tail[:, 2]))
            if is_arc:
                row["normal_share"] = float(np.sum(np.sum(disp * normals, -1) ** 2) / max(np.sum(disp**2), 1e-12))
            rows.append(row)
        target = metrics["results"] if q_name == "reward" else metrics.setdefault("results_critic", {})
        target[vkey] = rows
    metrics["frontier_check"] = frontier_checks(metrics)
    if "results_critic" in metrics:
        metrics["frontier_check_critic"] = frontier_checks(metrics, "results_critic")
    timings["measure"] = time.time() - t0 - sum(timings.values())
    metrics["runtime_s"] = {k: round(v, 2) for k, v in timings.items()}
    return GeometryRun(
        dist=dist,
        settings=settings,
        data=np.asarray(data),
        threshold=threshold,
        flow=flow,
        base=base_np,
        refined=refined,
        ellipse_points=np.asarray(ellipse_pts),
        ellipses={k: np.asarray(x) for k, x in ellipses.items()},
        metrics=metrics,
        logp_fn=logp_fn,
    )


# --------------------------------------------------------------------------------------------------------------
# The frontier


def isotropic_frontier(metrics: dict, results_key: str = "results") -> tuple[np.ndarray, np.ndarray]:
    """(reward, in-region fraction) of the base policy (eps = 0) and the isotropic sweep, sorted by reward."""
    pts = [(metrics["base"]["reward"], metrics["base"]["in_region"])]
    pts += [(r["reward"], r["in_region"]) for r in metrics[results_key]["isotropic"]]
    pts.sort()
    return np.array([p[0] for p in pts]), np.array([p[1] for p in pts])


def not_dominated(reward: float, inside: float, iso_r: np.ndarray, iso_f: np.ndarray, tol: float = 0.0) -> bool:
    """True unless the isotropic frontier (piecewise linear through its points) reaches ``reward`` with a larger
    in-region fraction than ``inside`` (+ ``tol``). Beyond the largest isotropic reward nothing dominates."""
    if reward > iso_r[-1]:
        return True
    if reward <= iso_r[0]:
        return inside + tol >= float(np.max(iso_f))
    best = max(float(np.interp(reward, iso_r, iso_f)), float(np.max(iso_f[iso_r >= reward])))
    return inside + tol >= best


def frontier_margin(reward: float, inside: float, iso_r: np.ndarray, iso_f: np.ndarray) -> float | None:
    """In-region fraction minus the isotropic frontier's (piecewise linear) at the same reward; None where the
    isotropic sweep does not span that reward."""
    if not iso_r[0] <= reward <= iso_r[-1]:
        return None
    return inside - float(np.interp(reward, iso_r, iso_f))


def frontier_checks(metrics: dict, results_key: str = "results", tol: float = FRONTIER_TOL) -> dict:
    """Per Fisher variant and eps: is its (reward, in-region) point dominated by the isotropic frontier?
    Also the plain comparison at equal eps (higher-or-equal reward and in-region fraction)."""
    res = metrics[results_key]
    iso_r, iso_f = isotropic_frontier(metrics, results_key)
    out = {}
    for vkey, rows in res.items():
        if vkey == "isotropic":
            continue
        nd = [not_dominated(r["reward"], r["in_region"], iso_r, iso_f, tol) for r in rows]
        eq = [
            r["reward"] >= ri["reward"] and r["in_region"] >= ri["in_region"]
            for r, ri in zip(rows, res["isotropic"], strict=True)
        ]
        margin = [frontier_margin(r["reward"], r["in_region"], iso_r, iso_f) for r in rows]
        out[vkey] = {
            "not_dominated": nd,
            "all_not_dominated": all(nd),
            "margin_at_equal_reward": margin,
            "better_at_equal_eps": eq,
        }
    return out


# --------------------------------------------------------------------------------------------------------------
# Figures

SHOWN = ("isotropic", "per-state/velocity", "per-action/velocity")  # the side-by-side figure, paper estimator
COLORS = {"isotropic": "tab:orange", "per-state": "tab:blue", "per-action": "tab:red"}
GRID = 161


def _color(vkey: str) -> str:
    return COLORS[vkey.split("/")[0]]


def _style(vkey: str) -> str:
    return "--" if vkey.endswith("/exact") else "-"


def _grid(run: GeometryRun):
    if not hasattr(run, "grid"):
        xs = np.linspace(-1, 1, GRID, dtype=np.float32)
        xx, yy = np.meshgrid(xs, xs)
        lp = np.asarray(run.logp_fn(jnp.asarray(np.stack([xx.ravel(), yy.ravel()], -1)))).reshape(GRID, GRID)
        run.grid = (xx, yy, lp)
    return run.grid


def _background(ax, run: GeometryRun, *, region=True):
    xx, yy, lp = _grid(run)
    ax.contourf(xx, yy, np.exp(lp), levels=12, cmap="Greys", alpha=0.45)
    if region:
        ax.contour(xx, yy, lp, levels=[run.threshold], colors="k", linewidths=1.0, linestyles="--")
    lo = np.maximum(np.quantile(run.data, 0.001, axis=0) - 0.15, -1.0)
    hi = np.minimum(np.quantile(run.data, 0.999, axis=0) + 0.15, 1.0)
    ax.set(xlim=(lo[0], hi[0]), ylim=(lo[1], hi[1]), aspect="equal")
    ax.tick_params(labelsize=7)


def _reward_arrow(ax, run: GeometryRun):
    w = np.asarray(run.dist.reward_w)
    (x0, _), (y0, _) = ax.get_xlim(), ax.get_ylim()
    start = np.array([x0 + 0.08, y0 + 0.12])
    ax.annotate("", xy=start + 0.25 * w, xytext=start, arrowprops={"arrowstyle": "-|>", "color": "tab:green", "lw": 2})
    ax.text(start[0], start[1] - 0.09, r"$\nabla r$", color="tab:green", fontsize=9)


def _ellipses(ax, run: GeometryRun, vkey: str, rho: float = 0.035, every: int = 1):
    """The trust region ``delta^T E[F_hat] delta / d = rho^2`` at each ``every``-th ellipse point."""
    from matplotlib.patches import Ellipse

    for a, f in zip(run.ellipse_points[::every], run.ellipses[vkey][::every], strict=True):
        lam, vec = np.linalg.eigh(f)
        axes = 2 * rho * np.sqrt(ACTION_DIM / np.maximum(lam, 1e-6))
        ang = math.degrees(math.atan2(vec[1, 0], vec[0, 0]))
        ax.add_patch(Ellipse(a, axes[0], axes[1], angle=ang, fill=False, color=_color(vkey), lw=1.0))
        ax.plot(*a, ".", color="k", ms=2)


def _refined(ax, run: GeometryRun, vkey: str, eps_index: int, n_arrows: int = 150, q_name: str = "reward"):
    acts = run.refined[(q_name, vkey)][eps_index]
    idx = np.random.default_rng(0).choice(len(acts), size=min(n_arrows, len(acts)), replace=False)
    ax.scatter(*run.base[:1000].T, s=1, c="k", alpha=0.3, label="base actions", zorder=2)
    ax.scatter(*acts[:1000].T, s=2, c=_color(vkey), alpha=0.5, label="refined actions", zorder=2)
    d = acts[idx] - run.base[idx]
    ax.quiver(
        *run.base[idx].T,
        *d.T,
        angles="xy",
        scale_units="xy",
        scale=1,
        width=0.005,
        color="k",
        zorder=3,
        headwidth=3.5,
        headlength=4,
    )
    row = run.metrics["results" if q_name == "reward" else "results_critic"][vkey][eps_index]
    label = next(v.label for v in VARIANTS if v.key == vkey)
    ax.set_title(
        f"{label}\nreward {row['reward']:.3f}, in 99% region {100 * row['in_region']:.1f}%, "
        f"log p {row['log_density']:.2f}",
        fontsize=8,
    )


def _frontier(ax, run: GeometryRun, ykey: str = "in_region", results_key: str = "results"):
    m = run.metrics
    base_y = m["base"][ykey] * (100 if ykey == "in_region" else 1)
    for vkey, rows in m[results_key].items():
        label = next(v.label for v in VARIANTS if v.key == vkey)
        xs = [m["base"]["reward"]] + [r["reward"] for r in rows]
        ys = [base_y] + [r[ykey] * (100 if ykey == "in_region" else 1) for r in rows]
        ax.plot(xs, ys, _style(vkey), color=_color(vkey), marker="o", ms=3, lw=1.3, label=label)
    ax.plot(m["base"]["reward"], base_y, "k*", ms=9, label="behaviour (eps = 0)")
    ax.set_xlabel("mean reward of refined actions")
    ax.set_ylabel("% inside the 99% region" if ykey == "in_region" else "mean log-density")
    if ykey == "log_density":
        ax.set_yscale("symlog", linthresh=1.0)
    ax.grid(alpha=0.3)


def _eps_index(settings: DemoSettings) -> int:
    return int(np.argmin([abs(math.log(e / settings.eps_show)) for e in settings.eps]))


def figures(runs: list[GeometryRun], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fidec.plots import save_figure

    written = []
    n = len(runs)
    k = _eps_index(runs[0].settings)
    eps = runs[0].settings.eps[k]

    # behaviour samples and density contours
    fig, axes = plt.subplots(1, n, figsize=(5 * n, 5), squeeze=False)
    for ax, run in zip(axes[0], runs, strict=True):
        _background(ax, run)
        ax.scatter(*run.data[:2500].T, s=1, c="tab:purple", alpha=0.5)
        _reward_arrow(ax, run)
        ax.set_title(f"{run.dist.name}: behaviour samples, density, 99% region (dashed)", fontsize=9)
    written.append(save_figure(fig, out / "behaviour.png"))

    # Fisher ellipses
    fkeys = [v.key for v in VARIANTS if v.key in runs[0].ellipses]
    fig, axes = plt.subplots(n, len(fkeys), figsize=(4.2 * len(fkeys), 4.4 * n), squeeze=False)
    for row, run in zip(axes, runs, strict=True):
        for ax, vkey in zip(row, fkeys, strict=True):
            _background(ax, run)
            _ellipses(ax, run, vkey)
            f = run.metrics["fisher"][vkey]
            extra = f", normal share {f['normal_penalty_share']:.2f}" if "normal_penalty_share" in f else ""
            ax.set_title(
                f"{run.dist.name}: {vkey}\nE[F_hat] cond {f['expected_fisher_cond_mean']:.1f}{extra}", fontsize=8
            )
    fig.suptitle("Fisher trust regions (delta^T E[F_hat|a] delta / d = const) at base actions", fontsize=10)
    written.append(save_figure(fig, out / "fisher_ellipses.png"))

    # refined actions at equal eps
    shown = [v for v in SHOWN if ("reward", v) in runs[0].refined]
    fig, axes = plt.subplots(n, len(shown), figsize=(4.6 * len(shown), 4.8 * n), squeeze=False)
    for row, run in zip(axes, runs, strict=True):
        for ax, vkey in zip(row, shown, strict=True):
            _background(ax, run)
            _refined(ax, run, vkey, k)
            _reward_arrow(ax, run)
    fig.suptitle(f"base -> refined actions at equal target divergence eps = {eps:g} (each metric's own D)")
    written.append(save_figure(fig, out / "refined.png"))

    # frontiers
    for results_key, name in (("results", "frontier.png"), ("results_critic", "frontier_critic.png")):
        if results_key not in runs[0].metrics:
            continue
        fig, axes = plt.subplots(n, 2, figsize=(11, 4.2 * n), squeeze=False)
        for row, run in zip(axes, runs, strict=True):
            _frontier(row[0], run, "in_region", results_key)
            _frontier(row[1], run, "log_density", results_key)
            row[0].set_title(f"{run.dist.name}: support kept vs reward (eps sweep)", fontsize=9)
            row[1].set_title(f"{run.dist.name}: log-density under the behaviour vs reward", fontsize=9)
        axes[0, 0].legend(fontsize=7)
        q = "a critic learned from rewards" if results_key == "results_critic" else "the known reward"
        fig.suptitle(f"reward-versus-support frontier, refinement against {q}")
        written.append(save_figure(fig, out / name))

    # the main figure: density + per-action ellipses | refined x 3 | frontier
    fig, axes = plt.subplots(n, 2 + len(shown), figsize=(4.3 * (2 + len(shown)), 4.5 * n), squeeze=False)
    for row, run in zip(axes, runs, strict=True):
        _background(row[0], run)
        row[0].scatter(*run.data[:1500].T, s=1, c="tab:purple", alpha=0.35)
        if "per-action/velocity" in run.ellipses:
            _ellipses(row[0], run, "per-action/velocity", every=2)
        _reward_arrow(row[0], run)
        row[0].set_title(
            f"{run.dist.name}: behaviour, 99% region (dashed),\nper-action Fisher trust regions", fontsize=8
        )
        for ax, vkey in zip(row[1:-1], shown, strict=True):
            _background(ax, run)
            _refined(ax, run, vkey, k, n_arrows=120)
        _frontier(row[-1], run, "in_region")
        row[-1].set_title(f"{run.dist.name}: frontier over eps", fontsize=8)
    axes[0, -1].legend(fontsize=6, loc="upper right")
    fig.suptitle(f"Refinement at equal target divergence eps = {eps:g}: isotropic vs Fisher (per-state, per-action)")
    fig.tight_layout()
    written.append(save_figure(fig, out / "geometry.png"))
    return written


# --------------------------------------------------------------------------------------------------------------
# The demo


def format_table(metrics: dict) -> str:
    lines = []
    for name, m in metrics["distributions"].items():
        lines.append(
            f"{name}: behaviour data in 99% region {100 * m['data']['in_region']:.1f}%, "
            f"base actions (flow) {100 * m['base']['in_region']:.1f}% (reward {m['base']['reward']:.3f})"
        )
        lines.append(f"  {'metric':22s} {'eps':>7s} {'reward':>7s} {'in99%':>6s} {'log p':>8s} {'E[D]':>8s}")
        for vkey, rows in m["results"].items():
            for r in rows:
                lines.append(
                    f"  {vkey:22s} {r['eps']:7.4f} {r['reward']:7.3f} {100 * r['in_region']:6.1f} "
                    f"{r['log_density']:8.2f} {r['divergence']:8.5f}"
                )
        for vkey, c in m["frontier_check"].items():
            margins = ", ".join("n/a" if x is None else f"{100 * x:+.1f}" for x in c["margin_at_equal_reward"])
            lines.append(
                f"  {vkey}: not dominated by the isotropic frontier at every eps: {c['all_not_dominated']}; "
                f"in-99% margin at equal reward per eps (points): {margins}"
            )
        if "normal_penalty_share" in next(iter(m["fisher"].values()), {}):
            shares = ", ".join(f"{k} {f['normal_penalty_share']:.2f}" for k, f in m["fisher"].items())
            lines.append(f"  share of the Fisher penalty on the band's normal (0.5 = isotropic): {shares}")
    return "\n".join(lines)


def run_demo(out: str | Path, *, quick: bool = False, seed: int = 0, critic: bool = False, log=print) -> dict:
    """Run the demo on every distribution; write figures and ``metrics.json`` to ``out``; return the metrics."""
    from fidec.io import write_json

    out = Path(out)
    settings = QUICK if quick else FULL
    t0 = time.time()
    agents = {v.key: make_agent(settings, v) for v in VARIANTS}
    cache: dict = {}
    runs = []
    for i, dist in enumerate(DISTRIBUTIONS.values()):
        runs.append(
            run_distribution(
                dist,
                settings,
                jax.random.fold_in(jax.random.PRNGKey(seed), i),
                agents=agents,
                critic=critic,
                cache=cache,
                log=log,
            )
        )
    t_train = time.time() - t0
    written = figures(runs, out)
    metrics = {
        "seed": seed,
        "quick": quick,
        "q_sources": ["reward", "critic"] if critic else ["reward"],
        "settings": {
            **dataclasses.asdict(settings),
            "alpha_init": agents["isotropic"].config.alpha_init,
            "eps_ref": EPS_REF,
            "flow_steps": agents["isotropic"].config.flow_steps,
            "fisher_samples": agents["per-state/velocity"].config.fisher_samples,
            "fisher_t_max": agents["per-state/velocity"].config.fisher_t_max,
            "fisher_t_width": agents["per-state/velocity"].config.fisher_t_width,
        },
        "variants": {v.key: v.label for v in VARIANTS},
        "frontier_tol": FRONTIER_TOL,
        "hdr": f"region {{a: p(a) >= q}} with q the {100 * (1 - HDR_MASS):g}% quantile of p over behaviour samples",
        "distributions": {run.dist.name: run.metrics for run in runs},
        "figures": [p.name for p in written],
        "runtime_s": {"train_and_measure": round(t_train, 2), "total": round(time.time() - t0, 2)},
    }
    write_json(out / "metrics.json", metrics)
    return metrics
