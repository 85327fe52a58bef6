"""How the train step's random draws and averages relate to the devices it runs on.

The research code draws per-example randomness and averages gradients through a `Replicas`
object that the execution edge (`jaxgan/parallel.py`) hands it, and never asks where it runs:

  * `Replicas()` (one device, or jit over a sharded mesh, where XLA inserts the collectives):
    every method is the plain operation;
  * `Replicas(axis_name, n)` under `jax.pmap`/`shard_map`: averages are `pmean`s over the axis,
    and each draw is the device's slice of the draw one device would have made for the whole
    batch, so every mode gives the same numbers.
"""
from __future__ import annotations

from typing import Callable

import jax
from jax import lax


class Replicas:
    def __init__(self, axis_name: str | None = None, num_replicas: int = 1):
        self.axis_name, self.num_replicas = axis_name, num_replicas

    def draw(self, sample: Callable, key, local_shape):
        """`sample(key, shape)` for this device's `local_shape[0]` examples of the global batch."""
        if self.axis_name is None:
            return sample(key, local_shape)
        n = local_shape[0]
        full = sample(key, (n * self.num_replicas,) + tuple(local_shape[1:]))
        return lax.dynamic_slice_in_dim(full, lax.axis_index(self.axis_name) * n, n)

    def local_key(self, key):
        """A different stream on every device, for draws made inside modules (dropout)."""
        return key if self.axis_name is None else jax.random.fold_in(key, lax.axis_index(self.axis_name))

    def mean(self, tree):
        return tree if self.axis_name is None else lax.pmean(tree, self.axis_name)

    def gather(self, x):
        """The global batch from every device's part (in device order), on every device."""
        return x if self.axis_name is None else lax.all_gather(x, self.axis_name, tiled=True)


SINGLE = Replicas()
