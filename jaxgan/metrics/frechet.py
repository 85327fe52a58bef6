"""Fréchet distance between Gaussians, stable for singular covariances."""
from __future__ import annotations

import numpy as np


def _sqrt_psd(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)).

    Tr((S1 S2)^(1/2)) is computed as the sum of square roots of the eigenvalues of the symmetric
    PSD matrix S1^(1/2) S2 S1^(1/2) (same spectrum as S1 S2), which needs no matrix inverse and
    so stays finite when a covariance is singular (e.g. a collapsed generator).
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    root = _sqrt_psd(s1)
    inner = root @ s2 @ root
    tr_sqrt = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh((inner + inner.T) / 2), 0.0, None)))
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2.0 * tr_sqrt)


def gaussian_stats(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (unbiased, float64) of (n, d) features, as pytorch-fid computes them."""
    f = np.asarray(features, np.float64)
    if len(f) < 2:
        raise ValueError(f"Fréchet statistics need at least 2 samples, got {len(f)}")
    return f.mean(axis=0), np.atleast_2d(np.cov(f, rowvar=False))


def save_stats(path, mu, sigma, **extra) -> None:
    """Write statistics as pytorch-fid's `.npz` (keys `mu`, `sigma`); `extra` arrays are kept
    beside them (pytorch-fid ignores other keys)."""
    np.savez(path, mu=np.asarray(mu), sigma=np.asarray(sigma), **extra)


def load_stats(path) -> tuple[np.ndarray, np.ndarray]:
    """`mu`, `sigma` of a pytorch-fid statistics file."""
    with np.load(path) as f:
        missing = {"mu", "sigma"} - set(f.files)
        if missing:
            raise ValueError(f"{path}: not a pytorch-fid statistics file (no {sorted(missing)}; "
                             f"it has {f.files})")
        return f["mu"], f["sigma"]
