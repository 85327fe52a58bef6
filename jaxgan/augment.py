"""Critic-input transforms: what changes the images the critic sees, real and generated alike.

A transform is a pure function `transform(key, step, images, replicas) -> images`. The step
(jaxgan/steps.py) sends every critic input through one chain of them: the real batch, the
generated batch, the generator's update (so the transform must be differentiable in `images`)
and, since the penalties are taken at transformed images, the gradient-penalty and R1 inputs.
`apply_chain` gives each transform its own key, `fold_in(key, its place in the registry)` (the
first, instance noise, takes the key itself, so its draws are those of jaxgan before the chain
existed), so turning one on does not change the draws of another; per-example randomness goes through
`replicas.draw`, so data-parallel runs draw what one device would.

This module owns the `augment` config section and the instance-noise transform; DiffAugment is
`jaxgan/diffaugment.py`; the registry of transforms is `jaxgan/extensions.py`.
"""
from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp

from jaxgan import diffaugment
from jaxgan.config import Field, Section, floats, ints, text


def _check(config) -> list[str]:
    try:
        diffaugment.parse(config.augment.diffaugment)
    except ValueError as e:
        return [f"augment.diffaugment = {config.augment.diffaugment!r}: {e}"]
    return []


SECTION = Section("augment", {
    "instance_noise": Field(0.0, floats(0.0), "std of N(0, std^2) noise added to every critic input; 0 = off"),
    "instance_noise_anneal_steps": Field(
        0, ints(0), "generator steps over which the noise std decays linearly to 0 (0: constant)"),
    "diffaugment": Field("", text(), "DiffAugment policy: any of 'color,translation,cutout' in that "
                         "order, applied to every critic input; '' = off (jaxgan/diffaugment.py)"),
}, check=_check)

Transform = Callable  # (key, step, images, replicas) -> images


def apply_chain(chain: Sequence[tuple[int, Transform]], key, step, images, replicas):
    """`images` through every (registry index, transform) of `chain`, in order."""
    for index, transform in chain:
        images = transform(jax.random.fold_in(key, index) if index else key, step, images, replicas)
    return images


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


def instance_noise(config, data_shape, num_classes) -> Transform | None:
    """The instance-noise transform of `config.augment`, or None when it is off."""
    del data_shape, num_classes
    a = config.augment
    if not a.instance_noise:
        return None

    def add_noise(key, step, images, replicas):
        std = instance_noise_std(step, a.instance_noise, a.instance_noise_anneal_steps)
        return images + std * replicas.draw(jax.random.normal, key, images.shape).astype(images.dtype)

    return add_noise
