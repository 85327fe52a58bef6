"""Optax optimizers from a config block (`config.optimizer.generator` / `.critic`)."""
from __future__ import annotations

import optax

from jaxgan.config import Field, Section, choice, floats

OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd")
SCHEDULES = ("constant", "cosine", "linear")

# One player's optimizer; the generator and the critic each get these fields.
_PLAYER = {
    "name": Field("adam", choice(*OPTIMIZERS), "the optax optimizer"),
    "lr": Field(1e-4, floats(0.0, low_open=True), "learning rate (the schedule's start)"),
    "b1": Field(0.5, floats(0.0, 1.0, high_open=True), "Adam beta1; SGD momentum (0: none)"),
    "b2": Field(0.999, floats(0.0, 1.0, high_open=True), "Adam beta2"),
    "eps": Field(1e-8, floats(0.0, low_open=True), "Adam / RMSProp epsilon"),
    "weight_decay": Field(0.0, floats(0.0), "AdamW decoupled weight decay"),
    "schedule": Field("constant", choice(*SCHEDULES), "learning-rate decay over the run"),
    "final_lr_scale": Field(0.0, floats(0.0, 1.0), "decayed schedules end at lr * final_lr_scale"),
}
SECTION = Section("optimizer", {"generator": _PLAYER, "critic": _PLAYER})


def learning_rate(opt_config, total_updates: int):
    """The learning rate, constant or decayed to `lr * final_lr_scale` over the run.

    Decay matters for GANs on precise targets (the 2D grid): a constant rate keeps samples
    jittering around the modes, a decayed one lets them settle.
    """
    lr, final = opt_config.lr, opt_config.lr * opt_config.final_lr_scale
    if opt_config.schedule == "cosine":
        return optax.cosine_decay_schedule(lr, max(total_updates, 1), alpha=opt_config.final_lr_scale)
    if opt_config.schedule == "linear":
        return optax.linear_schedule(lr, final, max(total_updates, 1))
    return lr


def build(opt_config, total_updates: int) -> optax.GradientTransformation:
    name, lr = opt_config.name, learning_rate(opt_config, total_updates)
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
