"""Improved precision and recall (Kynkäänniemi et al. 2019).

Each set's manifold is the union of balls around its samples, of radius the distance to the
sample's k-th nearest neighbour in the same set (k = 3 in the paper). Precision is the fraction
of generated samples inside the real manifold (are the samples realistic?); recall, the fraction
of real samples inside the generated manifold (is the variety covered?).
"""
from __future__ import annotations

import numpy as np

PROTOCOL = "Kynkaanniemi et al. 2019, k-NN balls with k=3, Euclidean distance in feature space"


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.maximum(d, 0.0)


def _kth_radius(x: np.ndarray, k: int, block: int) -> np.ndarray:
    """Squared distance from each row of x to its k-th nearest other row."""
    out = np.empty(len(x))
    for i in range(0, len(x), block):
        d = _sq_dists(x[i:i + block], x)
        out[i:i + block] = np.partition(d, k, axis=1)[:, k]  # index 0 is the point itself
    return out


def _inside(points: np.ndarray, centres: np.ndarray, radii: np.ndarray, block: int) -> np.ndarray:
    inside = np.empty(len(points), bool)
    for i in range(0, len(points), block):
        inside[i:i + block] = (_sq_dists(points[i:i + block], centres) <= radii[None, :]).any(1)
    return inside


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3, block: int = 1000) -> dict:
    """{'precision', 'recall'} of `fake` against `real` (rows are feature vectors)."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if min(len(real), len(fake)) <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} samples per set")
    real_r, fake_r = _kth_radius(real, k, block), _kth_radius(fake, k, block)
    return {"precision": float(_inside(fake, real, real_r, block).mean()),
            "recall": float(_inside(real, fake, fake_r, block).mean())}
