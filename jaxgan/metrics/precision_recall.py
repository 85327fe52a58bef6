"""Improved precision and recall (Kynkäänniemi et al. 2019), density and coverage (Naeem et al.
2020), from the same k-nearest-neighbour balls.

Each set's manifold is the union of balls around its samples, of radius the distance to the
sample's k-th nearest neighbour in the same set (k = 3 in the paper). Precision is the fraction
of generated samples inside the real manifold (are the samples realistic?); recall, the fraction
of real samples inside the generated manifold (is the variety covered?).

Density and coverage use only the real balls (k = 5 in their paper), so outliers among the
generated samples cannot inflate them: density is the mean number of real balls a generated
sample falls in, divided by k (about 1 when the two sets are alike, and it may exceed 1);
coverage is the fraction of real balls that hold at least one generated sample.
"""
from __future__ import annotations

import numpy as np

PROTOCOL = "Kynkaanniemi et al. 2019, k-NN balls with k=3, Euclidean distance in feature space"
DC_PROTOCOL = "Naeem et al. 2020, real k-NN balls with k=5, Euclidean distance in feature space"


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.maximum(d, 0.0)


def _kth_radii(x: np.ndarray, ks: tuple[int, ...], block: int) -> np.ndarray:
    """(len(ks), len(x)): squared distance from each row of x to its k-th nearest other row."""
    out = np.empty((len(ks), len(x)))
    for i in range(0, len(x), block):
        d = np.partition(_sq_dists(x[i:i + block], x), list(ks), axis=1)
        out[:, i:i + block] = d[:, list(ks)].T  # index 0 is the point itself
    return out


def _kth_radius(x: np.ndarray, k: int, block: int) -> np.ndarray:
    return _kth_radii(x, (k,), block)[0]


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


def prdc(real: np.ndarray, fake: np.ndarray, k: int = 3, k_dc: int = 5, block: int = 1000) -> dict:
    """{'precision', 'recall'} (balls of k neighbours) and {'density', 'coverage'} (real balls of
    k_dc neighbours; left out when a set has k_dc samples or fewer) of `fake` against `real`, from
    one pass over the real radii and one over the fake-to-real distances."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if min(len(real), len(fake)) <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} samples per set")
    if min(len(real), len(fake)) <= k_dc:  # too few for density and coverage: leave them out
        return precision_recall(real, fake, k, block)
    real_r, real_dc = _kth_radii(real, (k, k_dc), block)
    fake_r = _kth_radius(fake, k, block)
    precise, recalled = np.empty(len(fake), bool), np.zeros(len(real), bool)
    covered, inside_dc = np.zeros(len(real), bool), 0
    for i in range(0, len(fake), block):
        d = _sq_dists(fake[i:i + block], real)  # (fakes, reals)
        precise[i:i + block] = (d <= real_r[None, :]).any(1)
        recalled |= (d <= fake_r[i:i + block, None]).any(0)
        in_dc = d <= real_dc[None, :]
        inside_dc += int(in_dc.sum())
        covered |= in_dc.any(0)
    return {"precision": float(precise.mean()), "recall": float(recalled.mean()),
            "density": inside_dc / (k_dc * len(fake)), "coverage": float(covered.mean())}
