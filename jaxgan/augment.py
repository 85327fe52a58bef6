"""Training tricks that change what the critic sees: instance noise and label smoothing.

Both are pure functions of a PRNG key and the step, so they live inside the jitted train step
and a resumed run draws exactly what an uninterrupted one would.
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp


def instance_noise_std(step, start_std: float, anneal_steps: int):
    """Std of the instance noise at `step`: `start_std`, decayed linearly to 0 over
    `anneal_steps` generator steps (constant when `anneal_steps` is 0).

    Instance noise (Sønderby et al. 2016; https://www.inference.vc/instance-noise-a-trick-for-
    stabilising-gan-training/) blurs real and fake distributions together early on so their
    supports overlap and the critic's gradients stay informative; annealing removes the bias."""
    if not anneal_steps:
        return jnp.asarray(start_std, jnp.float32)
    remaining = jnp.clip(1.0 - step.astype(jnp.float32) / anneal_steps, 0.0, 1.0)
    return start_std * remaining


def label_targets(key, shape, value: float, uniform_range: Sequence[float]):
    """Targets of the binary losses: `value`, or per-example U(low, high) when a range is given
    (seed 004's label smoothing: fixed values or sampled from a uniform range)."""
    if uniform_range:
        low, high = uniform_range
        return jax.random.uniform(key, shape, minval=low, maxval=high)
    return jnp.full(shape, value, jnp.float32)
