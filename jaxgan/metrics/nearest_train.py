"""Generated images against their nearest training image, in pixel space: memorisation, quality
and diversity where no feature network knows the domain (the 253 emoji flags: no classifier,
and Inception's ImageNet features say little about flags).

The distance between two images is the root mean square of their pixel differences over every
value (H x W x C, RGBA included), on the [-1, 1] scale the networks see: 0 for the same image,
2 for black against white everywhere. Nearest neighbours are those of the Euclidean distance
(the RMS is it divided by sqrt(H W C)). Over the whole training set:

  * `nearest_train_rms`: mean over the samples of the distance to the nearest training image.
    Low is close to the data: good samples, or copies (read it with `copies`).
  * `nearest_train_distinct`: how many different training images are the nearest of at least
    one sample (ties go to the first in the training set's order); `distinct_frac` divides it by
    the training set's size. A collapsed generator sits near a few training images.
  * `nearest_train_copies`: share of samples at most as far from their nearest training image t
    as t is from its own nearest other training image (t's 1-NN radius): inside the ball in
    which the training set has only t, so closer to t than any other training image comes. The
    memorisation indicator; a training image with an identical twin has radius 0, and only
    exact copies of it count.

The training set's own nearest-neighbour distances (their mean is in the protocol) are the
scale: a sample much closer to its neighbour than training images are to theirs is a copy.
"""
from __future__ import annotations

import numpy as np

NAME = "nearest_train"
PROTOCOL = ("pixel space on the [-1, 1] scale, every value (H x W x C); distance = RMS of the "
            "pixel differences; against the whole training split (unflipped)")


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.maximum(d, 0.0)


def nearest(points: np.ndarray, train: np.ndarray, block: int = 512, exclude_self: bool = False
            ) -> tuple[np.ndarray, np.ndarray]:
    """(index, squared Euclidean distance) of each row of `points`' nearest row of `train`;
    `exclude_self` (points is train): the nearest other row. The distance to the chosen row is
    taken directly (the expansion |a|^2 + |b|^2 - 2ab that finds it is not exactly 0 for a copy)."""
    index = np.empty(len(points), np.int64)
    for i in range(0, len(points), block):
        d = _sq_dists(points[i:i + block], train)
        if exclude_self:
            d[np.arange(len(d)), np.arange(i, i + len(d))] = np.inf
        index[i:i + block] = np.argmin(d, axis=1)
    dist = np.empty(len(points))
    for i in range(0, len(points), block):
        dist[i:i + block] = ((points[i:i + block] - train[index[i:i + block]]) ** 2).sum(1)
    return index, dist


class TrainingSet:
    """The training images, flattened, with each one's distance to its nearest other one."""

    def __init__(self, images: np.ndarray, block: int = 512):
        if len(images) < 2:
            raise ValueError("nearest-training-image metrics need at least 2 training images; "
                             "set eval.nearest_train=off (or auto) for a smaller training set")
        self.x = np.asarray(images, np.float64).reshape(len(images), -1)
        self.block = block
        _, self.radius_sq = nearest(self.x, self.x, block, exclude_self=True)

    @property
    def protocol(self) -> dict:
        d = self.x.shape[1]
        return {"definition": PROTOCOL, "num_train": len(self.x),
                "train_nn_rms_mean": float(np.mean(np.sqrt(self.radius_sq / d)))}

    def measure(self, samples: np.ndarray) -> dict:
        """The metrics of the module docstring for `samples` (N, H, W, C) in [-1, 1]."""
        s = np.asarray(samples, np.float64).reshape(len(samples), -1)
        if s.shape[1] != self.x.shape[1]:
            raise ValueError(f"samples of {s.shape[1]} values against training images of {self.x.shape[1]}")
        index, dist_sq = nearest(s, self.x, self.block)
        distinct = len(np.unique(index))
        return {f"{NAME}_rms": float(np.mean(np.sqrt(dist_sq / s.shape[1]))),
                f"{NAME}_distinct": distinct,
                f"{NAME}_distinct_frac": distinct / len(self.x),
                f"{NAME}_copies": float(np.mean(dist_sq <= self.radius_sq[index]))}
