"""Synthetic mixtures of Gaussians (seed 001; the PacGAN / VEEGAN 2D benchmarks).

Batches are a pure function of (seed, batch index), so any position in the stream can be
resumed exactly and every process of a multi-host run can draw its own shard.
"""
from __future__ import annotations

import dataclasses
import itertools
from typing import Iterator

import numpy as np

NAMES = ("ring", "grid", "gaussian")


@dataclasses.dataclass(frozen=True)
class GaussianMixture:
    """Equal-weight mixture of isotropic Gaussians, or one full-covariance Gaussian."""

    name: str
    means: np.ndarray  # (M, D) mode centres
    sigma: float  # isotropic std of each mode (mixtures)
    cov: np.ndarray | None = None  # (D, D) full covariance (single Gaussian)
    seed: int = 0
    kind: str = "points"
    num_classes: int = 0

    def with_seed(self, seed: int) -> "GaussianMixture":
        return dataclasses.replace(self, seed=seed)

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.means.shape[1],)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        d = self.means.shape[1]
        if self.cov is not None:
            return rng.multivariate_normal(self.means[0], self.cov, size=n).astype(np.float32)
        idx = rng.integers(len(self.means), size=n)
        return (self.means[idx] + self.sigma * rng.standard_normal((n, d))).astype(np.float32)

    def batches(self, batch_size: int, start: int = 0, *, shard_index: int = 0,
                num_shards: int = 1) -> Iterator[dict[str, np.ndarray]]:
        """Infinite stream of {'x': (batch_size, D)} float32 batches from batch `start` on.

        With several shards each process draws a disjoint slice of the same global batch.
        """
        for i in itertools.count(start):
            rng = np.random.default_rng([self.seed, i])
            x = self.sample(rng, batch_size * num_shards)
            yield {"x": x[shard_index * batch_size:(shard_index + 1) * batch_size]}


def ring(num_modes: int = 8, radius: float = 1.0, sigma: float = 0.01, seed: int = 0):
    angles = 2 * np.pi * np.arange(num_modes) / num_modes
    means = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return GaussianMixture("ring", means, sigma, seed=seed)


def grid(side: int = 5, spacing: float = 2.0, sigma: float = 0.05, seed: int = 0):
    ticks = spacing * (np.arange(side) - (side - 1) / 2)
    means = np.array([(x, y) for x in ticks for y in ticks], dtype=np.float64)
    return GaussianMixture("grid", means, sigma, seed=seed)


def gaussian(dim: int = 2, distribution_seed: int = 0, seed: int = 0):
    """One Gaussian with a random mean and a random, anisotropic covariance (seed 001)."""
    rng = np.random.default_rng(distribution_seed)
    mean = rng.uniform(-2.0, 2.0, size=dim)
    rotation, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    scales = rng.uniform(0.05, 1.0, size=dim)
    scales[0] = 1.0  # at least one long axis, so a collapsed generator is easy to see
    cov = rotation @ np.diag(scales**2) @ rotation.T
    return GaussianMixture("gaussian", mean[None], 0.0, cov=cov, seed=seed)


def build(data_config, seed: int) -> GaussianMixture:
    if data_config.name == "ring":
        return ring(sigma=data_config.sigma or 0.01, seed=seed)
    if data_config.name == "grid":
        return grid(sigma=data_config.sigma or 0.05, seed=seed)
    if data_config.name == "gaussian":
        return gaussian(data_config.dim, data_config.distribution_seed, seed=seed)
    raise ValueError(f"unknown toy2d dataset {data_config.name!r}; choose one of {list(NAMES)}")
