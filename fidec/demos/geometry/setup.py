"""Settings of the geometry demo and the metric variants it compares: one RefinementAgent per variant."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from fidec.agents.refine import RefinementAgent
from fidec.config import resolve

OBS_DIM = 1
ACTION_DIM = 2
HDR_MASS = 0.99
FRONTIER_TOL = 0.005  # in-region fractions closer than this (0.5 points) count as equal: sampling noise
EPS_REF = 0.01  # alpha_0 = alpha_init (10, the method's) at this eps; see initial_log_alpha


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
    obs, act, t = zeros_obs(1), jnp.zeros((1, ACTION_DIM)), jnp.zeros((1, 1))
    out = {
        "flow": agent.flow_net.init(k_flow, obs, act, t)["params"],
        "refine": agent.refine_net.init(k_ref, obs, act)["params"],
    }
    if critic:
        out["critic"] = agent.critic_net.init(k_critic, obs, act)["params"]
    return out


def zeros_obs(n: int) -> jax.Array:
    return jnp.zeros((n, OBS_DIM), jnp.float32)
