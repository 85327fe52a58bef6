"""Kernel Inception Distance (Bińkowski et al. 2018): the unbiased estimate of the squared MMD
between feature sets with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over
random subsets (the protocol of the paper's code, torch-fidelity and clean-fid: 100 subsets of
1000 samples each, or all samples when there are fewer)."""
from __future__ import annotations

import numpy as np

PROTOCOL = "unbiased MMD^2, kernel (x.y/d + 1)^3, mean and std over subsets"


def polynomial_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 of two samples (rows) under the cubic polynomial kernel."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    d, m, n = x.shape[1], len(x), len(y)
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1))
                 + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2 * kxy.mean())


def kernel_inception_distance(real: np.ndarray, fake: np.ndarray, num_subsets: int = 100,
                              subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """(mean, std) of `polynomial_mmd2` over `num_subsets` random subsets of `subset_size` of each
    set (drawn without replacement within a subset; deterministic for a given seed)."""
    size = min(subset_size, len(real), len(fake))
    if size < 2:
        raise ValueError(f"KID needs at least 2 samples per set, got {len(real)} and {len(fake)}")
    rng = np.random.default_rng(seed)
    values = [polynomial_mmd2(real[rng.choice(len(real), size, replace=False)],
                              fake[rng.choice(len(fake), size, replace=False)])
              for _ in range(num_subsets)]
    return float(np.mean(values)), float(np.std(values))
