"""Adaptive discriminator augmentation (ADA; Karras et al. 2020, "Training Generative
Adversarial Networks with Limited Data").

Like DiffAugment, ADA augments every image the critic sees, real and generated, so the
generator is not taught the augmentations; unlike it, each op is applied to each example only
with probability `p`, and `p` follows the critic's overfitting: every `ada.interval` critic
updates, r_t = E[sign(D(real))] over those updates moves `p` up by
`batch_size * interval / (kimg * 1000)` when r_t > `ada.target`, down by as much otherwise, in
[0, 1] (stylegan2-ada's rule; `p` can cross [0, 1] in `kimg` thousand real images).

The pipeline (`ada.ops`, in this order; stylegan2-ada's 'bgc' set with DiffAugment's cutout):

  xflip       horizontal flip                      (dm-pix flip_left_right)
  rotate90    rotation by 90, 180 or 270 degrees  (dm-pix rot90; square images)
  translation integer shift of up to 1/8 of the size, zero padded (DiffAugment's op)
  brightness  + N(0, 0.2)                          (dm-pix adjust_brightness)
  contrast    x 2^N(0, 0.5) around the image mean  (dm-pix adjust_contrast)
  saturation  x 2^N(0, 1) around the RGB mean      (stylegan2-ada's luma lerp: dm-pix's works
                                                    in HSV on [0, 1] images and clips)
  cutout      a zeroed square of half the size     (DiffAugment's op)

Two seams carry it: a critic-input transform that reads `p` from the critic's state, and a
critic after-update function that keeps `p` and the sign statistics there (`d.extras["ada"]`),
so `p` is checkpointed, resumed exactly and logged (`ada_p`, `ada_rt`).
"""
from __future__ import annotations

import dm_pix as pix
import jax
import jax.numpy as jnp

from jaxgan import diffaugment
from jaxgan.config import Field, Section, floats, ints, text

OPS = ("xflip", "rotate90", "translation", "brightness", "contrast", "saturation", "cutout")
NAME = "ada"


def parse(ops: str) -> tuple[str, ...]:
    return diffaugment.parse_ops(ops, OPS, "ADA", allow_all=True)


def _check(config) -> list[str]:
    try:
        parse(config.ada.ops)
    except ValueError as e:
        return [f"ada.ops = {config.ada.ops!r}: {e}"]
    return []


SECTION = Section("ada", {
    "ops": Field("", text(), "ADA pipeline: 'all' or any of " + ",".join(OPS) + " in that order, each "
                 "applied per example with probability p to every critic input; '' = off (jaxgan/ada.py)"),
    "target": Field(0.6, floats(0.0, 1.0), "the r_t = E[sign(D(real))] that p is steered to"),
    "interval": Field(4, ints(1), "critic updates between adjustments of p"),
    "kimg": Field(100.0, floats(0.0, low_open=True),
                  "thousands of real images over which p can move from 0 to 1 (stylegan2-ada: 500 for "
                  "runs of tens of millions of images)"),
    "p_init": Field(0.0, floats(0.0, 1.0), "p at the start of the run"),
}, check=_check)


def _normal(replicas, key, b, std):
    return std * replicas.draw(jax.random.normal, key, (b, 1, 1, 1))


def xflip(key, x, replicas):
    del key, replicas
    return pix.flip_left_right(x)


def rotate90(key, x, replicas):
    k = replicas.draw(lambda kk, s: jax.random.randint(kk, s, 1, 4), key, (x.shape[0],))[:, None, None, None]
    r1, r2, r3 = (pix.rot90(x, i) for i in (1, 2, 3))
    return jnp.where(k == 1, r1, jnp.where(k == 2, r2, r3))


def translation(key, x, replicas):
    return diffaugment.translation(key, x, replicas, ratio=0.125)


def brightness(key, x, replicas):
    return pix.adjust_brightness(x, _normal(replicas, key, x.shape[0], 0.2))


def contrast(key, x, replicas):
    return pix.adjust_contrast(x, jnp.exp2(_normal(replicas, key, x.shape[0], 0.5)))


def saturation(key, x, replicas):
    if x.shape[-1] < 3:  # grey images have no saturation
        return x
    rgb = x[..., :3]
    mean = jnp.mean(rgb, axis=-1, keepdims=True)
    rgb = mean + (rgb - mean) * jnp.exp2(_normal(replicas, key, x.shape[0], 1.0))
    return jnp.concatenate([rgb, x[..., 3:]], axis=-1)


def cutout(key, x, replicas):
    return diffaugment.cutout(key, x, replicas, ratio=0.5)


FUNCTIONS = {"xflip": xflip, "rotate90": rotate90, "translation": translation, "brightness": brightness,
             "contrast": contrast, "saturation": saturation, "cutout": cutout}


def augment(key, images, p, ops: tuple[str, ...], replicas):
    """`images` through `ops`, each applied to each example with probability `p`."""
    b = images.shape[0]
    for name in ops:
        k_use, k_op = jax.random.split(jax.random.fold_in(key, OPS.index(name)))
        use = replicas.draw(lambda k, s: jax.random.uniform(k, s) < p, k_use, (b,))
        images = jnp.where(use[:, None, None, None], FUNCTIONS[name](k_op, images, replicas), images)
    return images


class AugmentTransform:
    """The critic-input transform: reads `p` from the critic's `extras["ada"]` (passed as `entry`)."""

    name = NAME

    def __init__(self, ops: tuple[str, ...]):
        self.ops = ops

    def __call__(self, key, step, images, replicas, entry):
        del step
        return augment(key, images, entry["p"], self.ops, replicas)


class AdaptP:
    """The after-update function of the critic that keeps `p` (see the module docstring)."""

    name = NAME
    uses_outputs = True  # called (player, step, outputs)

    def __init__(self, target: float, interval: int, kimg: float, p_init: float, batch_size: int):
        self.target, self.interval, self.p_init = target, interval, p_init
        self.step_size = batch_size * interval / (kimg * 1000.0)

    def init(self, params):
        del params
        return {"p": jnp.asarray(self.p_init, jnp.float32), "rt": jnp.zeros((), jnp.float32),
                "sign_sum": jnp.zeros((), jnp.float32), "updates": jnp.zeros((), jnp.int32)}

    def __call__(self, player, step, outputs):
        del step
        entry = player.extras[NAME]
        sign_sum, updates = entry["sign_sum"] + outputs["real_sign"], entry["updates"] + 1
        due = updates >= self.interval
        rt = sign_sum / updates.astype(jnp.float32)
        p = jnp.clip(entry["p"] + jnp.sign(rt - self.target) * self.step_size, 0.0, 1.0)
        new = {"p": jnp.where(due, p, entry["p"]), "rt": jnp.where(due, rt, entry["rt"]),
               "sign_sum": jnp.where(due, 0.0, sign_sum), "updates": jnp.where(due, 0, updates)}
        return player.replace(extras={**player.extras, NAME: new})

    def metrics(self, entry) -> dict:
        return {"ada_p": entry["p"], "ada_rt": entry["rt"]}


def _ops(config, data_shape) -> tuple[str, ...]:
    ops = parse(config.ada.ops)
    if ops and len(data_shape) != 3:
        raise ValueError(f"ada.ops = {config.ada.ops!r} needs image data (H, W, C); this data has shape "
                         f"{tuple(data_shape)}")
    if "rotate90" in ops and data_shape[0] != data_shape[1]:
        raise ValueError(f"ada.ops = {config.ada.ops!r}: rotate90 needs square images, not "
                         f"{data_shape[0]}x{data_shape[1]}; drop it from ada.ops")
    return ops


def transform_from_config(config, data_shape, num_classes):
    del num_classes
    ops = _ops(config, data_shape)
    return AugmentTransform(ops) if ops else None


def from_config(config, data_shape, num_classes):
    del num_classes
    a = config.ada
    if not _ops(config, data_shape):
        return None
    return AdaptP(a.target, a.interval, a.kimg, a.p_init, config.train.batch_size)
