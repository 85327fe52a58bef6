"""An exponential moving average of the generator's weights (Karras et al. 2018; StudioGAN's
`g_ema`), an after-update function of the generator.

GAN generators oscillate around a good solution; the average of their recent weights is usually
a better generator than the last one. After every generator update
`ema <- decay * ema + (1 - decay) * params`; before `start_step` the EMA copies the weights.
The average lives in the generator's state (`extras["ema"]`), so it is checkpointed and resumed
with it. Snapshots, evaluation and `--mode=sample` draw from it when it is on, with the online
generator's batch-norm running statistics (as StudioGAN copies the buffers to `g_ema`).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxgan.config import Field, Section, floats, ints

SECTION = Section("ema", {
    "decay": Field(0.0, floats(0.0, 1.0, high_open=True),
                   "EMA decay of the generator's weights per generator step; 0 = off"),
    "start_step": Field(0, ints(0), "generator steps before the EMA starts averaging (it copies until then)"),
})

NAME = "ema"


class GeneratorEMA:
    name = NAME

    def __init__(self, decay: float, start_step: int):
        self.decay, self.start_step = decay, start_step

    def init(self, params):
        # A copy, not the same arrays: the state is donated to the step, buffer by buffer.
        return jax.tree.map(jnp.copy, params)

    def __call__(self, player, step):
        decay = jnp.where(step >= self.start_step, self.decay, 0.0).astype(jnp.float32)
        ema = jax.tree.map(lambda e, p: (decay * e + (1.0 - decay) * p).astype(p.dtype),
                           player.extras[NAME], player.params)
        return player.replace(extras={**player.extras, NAME: ema})


def from_config(config, data_shape, num_classes):
    del data_shape, num_classes
    return GeneratorEMA(config.ema.decay, config.ema.start_step) if config.ema.decay else None


def sampling_params(player):
    """The weights to draw samples with: the EMA when the run keeps one."""
    return player.extras.get(NAME, player.params)
