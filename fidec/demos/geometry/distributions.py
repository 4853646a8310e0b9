"""Behaviour distributions of the geometry demo, each with its true density: an arc, a mixture of elongated
Gaussians, one Gaussian."""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np


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
