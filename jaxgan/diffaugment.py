"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training").

A critic trained on a few thousand images memorises them; augmenting only the real images would
teach the generator the augmentations. DiffAugment applies the same random, differentiable
augmentations to every critic input, real and generated, and back-propagates through them into
the generator. Ops and ranges follow the authors' `DiffAugment_pytorch.py`
(mit-han-lab/data-efficient-gans), on NHWC images in [-1, 1]:

  color        brightness + U(-0.5, 0.5); saturation x U(0, 2) around the pixel's channel
               mean; contrast x U(0.5, 1.5) around the image mean
  translation  integer shifts of up to 1/8 of the size on each axis, zero padded
  cutout       a zeroed square of half the size at a uniform position (clipped at the border)

Written here rather than taken from dm-pix: its ops are per image with other ranges, and the
paper's batched, per-example draws are a few lines each.
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp

POLICIES = ("color", "translation", "cutout")


def parse_ops(text: str, ops: Sequence[str], what: str, *, allow_all: bool = False) -> tuple[str, ...]:
    """'color,cutout' -> ('color', 'cutout'): names of `ops`, distinct and in `ops`' order (the
    order a pipeline applies them in, so one spelling per pipeline); 'all' = every op where
    `allow_all`. Unknown names and a wrong order raise ValueError. ADA's ops parse here too."""
    if allow_all and text.strip() == "all":
        return tuple(ops)
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in ops]
    if unknown:
        raise ValueError(f"unknown {what} op(s) {unknown}; choose from {', '.join(ops)}"
                         + (" (or 'all')" if allow_all else ""))
    if list(names) != sorted(set(names), key=list(ops).index):
        raise ValueError(f"{what} ops must be distinct and in the order {','.join(ops)}")
    return names


def parse(policy: str) -> tuple[str, ...]:
    return parse_ops(policy, POLICIES, "DiffAugment")


def _uniform(replicas, key, b, low=0.0, high=1.0):
    return replicas.draw(lambda k, s: jax.random.uniform(k, s, minval=low, maxval=high), key, (b, 1, 1, 1))


def color(key, x, replicas):
    k_b, k_s, k_c = jax.random.split(key, 3)
    b = x.shape[0]
    x = x + (_uniform(replicas, k_b, b) - 0.5)
    mean = jnp.mean(x, axis=-1, keepdims=True)
    x = (x - mean) * _uniform(replicas, k_s, b, 0.0, 2.0) + mean
    mean = jnp.mean(x, axis=(1, 2, 3), keepdims=True)
    return (x - mean) * _uniform(replicas, k_c, b, 0.5, 1.5) + mean


def translation(key, x, replicas, ratio: float = 0.125):
    b, h, w, _ = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    k_h, k_w = jax.random.split(key)
    shift = lambda k, n, s: replicas.draw(lambda kk, shape: jax.random.randint(kk, shape, -s, s + 1), k, (b, 1))
    # Index into the image padded by one zero pixel; shifts past the border read that zero.
    rows = jnp.clip(jnp.arange(h)[None, :] + shift(k_h, h, sh) + 1, 0, h + 1)  # (b, h)
    cols = jnp.clip(jnp.arange(w)[None, :] + shift(k_w, w, sw) + 1, 0, w + 1)  # (b, w)
    padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    x = jnp.take_along_axis(padded, rows[:, :, None, None], axis=1)
    return jnp.take_along_axis(x, cols[:, None, :, None], axis=2)


def cutout(key, x, replicas, ratio: float = 0.5):
    b, h, w, _ = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    k_h, k_w = jax.random.split(key)
    offset = lambda k, n, c: replicas.draw(
        lambda kk, shape: jax.random.randint(kk, shape, 0, n + (1 - c % 2)), k, (b, 1))
    top, left = offset(k_h, h, ch) - ch // 2, offset(k_w, w, cw) - cw // 2  # (b, 1)
    inside_rows = (jnp.arange(h)[None] >= top) & (jnp.arange(h)[None] < top + ch)  # (b, h)
    inside_cols = (jnp.arange(w)[None] >= left) & (jnp.arange(w)[None] < left + cw)  # (b, w)
    keep = ~(inside_rows[:, :, None] & inside_cols[:, None, :])
    return x * keep[..., None].astype(x.dtype)


OPS = {"color": color, "translation": translation, "cutout": cutout}


def augment(key, images, policy: tuple[str, ...], replicas):
    """`images` through the ops of `policy`, each with its own key."""
    for name in policy:
        images = OPS[name](jax.random.fold_in(key, POLICIES.index(name)), images, replicas)
    return images


def from_config(config, data_shape, num_classes):
    """The DiffAugment critic-input transform of `config.augment.diffaugment`, or None."""
    del num_classes
    policy = parse(config.augment.diffaugment)
    if not policy:
        return None
    if len(data_shape) != 3:
        raise ValueError(f"augment.diffaugment = {config.augment.diffaugment!r} needs image data "
                         f"(H, W, C); this data has shape {tuple(data_shape)}")
    return lambda key, step, images, replicas: augment(key, images, policy, replicas)
