"""The EMAs that LeCam regularization (Tseng et al. 2021; `losses.lecam_penalty`) anchors the
critic's scores to, kept as an after-update function of the critic.

After every critic update, `ema <- decay * ema + (1 - decay) * mean score`, for the real and
the fake batch (`loss.lecam_decay`; before `loss.lecam_start_step` generator steps, decay 0: the
EMAs copy the last batch's means, and the penalty is off). The means are over the global batch
(`objectives.critic_objective`'s outputs), so every device keeps the same EMAs. They live in the
critic's state (`d.extras["lecam"]`): checkpointed and resumed with it, and logged as
`lecam_ema_real` / `lecam_ema_fake`. The penalty of an update reads the EMAs of the updates
before it.
"""
from __future__ import annotations

import jax.numpy as jnp

NAME = "lecam"


class LeCamEMA:
    name = NAME
    uses_outputs = True  # called (player, step, outputs)

    def __init__(self, decay: float, start_step: int):
        self.decay, self.start_step = decay, start_step

    def init(self, params):
        del params
        return {"real": jnp.zeros((), jnp.float32), "fake": jnp.zeros((), jnp.float32)}

    def __call__(self, player, step, outputs):
        decay = jnp.where(step >= self.start_step, self.decay, 0.0).astype(jnp.float32)
        ema = player.extras[NAME]
        new = {"real": decay * ema["real"] + (1.0 - decay) * outputs["real_mean"],
               "fake": decay * ema["fake"] + (1.0 - decay) * outputs["fake_mean"]}
        return player.replace(extras={**player.extras, NAME: new})

    def metrics(self, entry) -> dict:
        return {"lecam_ema_real": entry["real"], "lecam_ema_fake": entry["fake"]}


def from_config(config, data_shape, num_classes):
    del data_shape, num_classes
    loss = config.loss
    return LeCamEMA(loss.lecam_decay, loss.lecam_start_step) if loss.lecam else None
