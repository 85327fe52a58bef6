"""Mode-collapse measures for synthetic data with known modes.

Protocol (PacGAN, Lin et al. 2018, following VEEGAN): draw 2500 samples; a sample is high
quality if it lies within 3 standard deviations of its nearest mode; a mode is covered if it is
the nearest mode of at least one high-quality sample; reverse KL is KL(p_gen || uniform) over
modes, where p_gen is the distribution of high-quality samples over their nearest modes.
"""
from __future__ import annotations

import functools

import numpy as np

from jaxgan.metrics.frechet import frechet_distance

PROTOCOL = "PacGAN/VEEGAN: high quality within 3 sigma of the nearest mode; covered if >= 1 such sample"


def mode_coverage(samples: np.ndarray, modes: np.ndarray, sigma: float, threshold: float = 3.0) -> dict:
    """{'modes_covered', 'num_modes', 'high_quality_pct', 'reverse_kl', 'spread_ratio'}.

    reverse_kl is NaN when no sample is of high quality (the distribution is undefined).
    spread_ratio guards against a generator that scores well by collapsing *within* modes (the
    protocol above cannot see that): the RMS distance of high-quality samples to their mode,
    divided by the same quantity for the true mixture (a Gaussian truncated at `threshold`
    sigma). 1.0 is right; near 0 means every mode is a point.
    """
    samples = np.asarray(samples, np.float64)
    dist = np.linalg.norm(samples[:, None, :] - modes[None, :, :], axis=-1)
    nearest = np.argmin(dist, axis=1)
    good = dist[np.arange(len(samples)), nearest] <= threshold * sigma
    counts = np.bincount(nearest[good], minlength=len(modes))
    if counts.sum():
        p = counts / counts.sum()
        nz = p > 0
        reverse_kl = float(np.sum(p[nz] * np.log(p[nz] * len(modes))))
    else:
        reverse_kl = float("nan")
    spread = float("nan")
    if good.any():
        near = dist[np.arange(len(samples)), nearest][good]
        spread = float(np.sqrt(np.mean(near**2)) / _truncated_rms(sigma, modes.shape[1], threshold))
    return {
        "modes_covered": int(np.count_nonzero(counts)),
        "num_modes": int(len(modes)),
        "high_quality_pct": float(100.0 * good.mean()),
        "reverse_kl": reverse_kl,
        "spread_ratio": spread,
    }


@functools.lru_cache(maxsize=None)
def _truncated_rms(sigma: float, dim: int, threshold: float) -> float:
    """RMS distance to the centre of an isotropic Gaussian restricted to radius threshold*sigma."""
    r = np.random.default_rng(0).standard_normal((200_000, dim))
    norms = np.linalg.norm(r, axis=1)
    return float(sigma * np.sqrt(np.mean(norms[norms <= threshold] ** 2)))


def gaussian_fit(samples: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> dict:
    """How well samples match one Gaussian: Fréchet distance, and the spread the generator
    reaches along the data's narrowest and widest whitened directions (1.0 is perfect; a
    generator that collapses a dimension, like seed 001's z_dim=1 run, drives the minimum to 0).
    """
    samples = np.asarray(samples, np.float64)
    mu_g, cov_g = samples.mean(0), np.atleast_2d(np.cov(samples, rowvar=False))
    w, v = np.linalg.eigh(cov)
    whiten = (v / np.sqrt(w)) @ v.T
    ratios = np.linalg.eigvalsh(whiten @ cov_g @ whiten)
    return {
        "frechet_distance": frechet_distance(mu_g, cov_g, mean, cov),
        "variance_ratio_min": float(ratios.min()),
        "variance_ratio_max": float(ratios.max()),
    }


def evaluate_points(samples: np.ndarray, dataset) -> dict:
    """The measures that apply to a toy2d dataset: coverage for mixtures, fit for one Gaussian."""
    if dataset.cov is not None:
        return gaussian_fit(samples, dataset.means[0], dataset.cov)
    return mode_coverage(samples, dataset.means, dataset.sigma)
