"""Optax optimizers from a config block (`config.optimizer.generator` / `.critic`)."""
from __future__ import annotations

import optax


def build(opt_config) -> optax.GradientTransformation:
    name, lr = opt_config.name, opt_config.lr
    if name == "adam":
        return optax.adam(lr, b1=opt_config.b1, b2=opt_config.b2, eps=opt_config.eps)
    if name == "adamw":
        return optax.adamw(lr, b1=opt_config.b1, b2=opt_config.b2, eps=opt_config.eps,
                           weight_decay=opt_config.weight_decay)
    if name == "rmsprop":  # WGAN (Arjovsky et al. 2017) trains its clipped critic with RMSProp
        return optax.rmsprop(lr, eps=opt_config.eps)
    if name == "sgd":
        return optax.sgd(lr, momentum=opt_config.b1 or None)
    raise ValueError(f"unknown optimizer {name!r}")
