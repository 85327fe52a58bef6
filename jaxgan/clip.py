"""WGAN weight clipping (Arjovsky et al. 2017), an after-update function of the critic: every
critic weight is clipped to [-loss.clip, loss.clip] after each update (a crude Lipschitz bound)."""
from __future__ import annotations

import jax
import jax.numpy as jnp


class ClipWeights:
    name = "clip"

    def __init__(self, bound: float):
        self.bound = bound

    def __call__(self, player, step):
        del step
        return player.replace(params=jax.tree.map(lambda p: jnp.clip(p, -self.bound, self.bound), player.params))


def from_config(config, data_shape, num_classes):
    del data_shape, num_classes
    return ClipWeights(config.loss.clip) if config.loss.clip else None
