"""The SNGAN ResNet family (Miyato et al. 2018; Mimicry's and StudioGAN's "ResNet" backbone).

Generator: z -> Dense to the smallest map -> residual up-blocks -> BN, ReLU, 3x3 conv to the
image channels -> tanh. An up-block is BN, ReLU, nearest upsampling, 3x3 conv, BN, ReLU, 3x3 conv,
added to the upsampled input (through a 1x1 conv where the width changes). With labels, every
block's batch norm is class-conditional (a per-class scale and shift, de Vries et al. 2017), as in
Miyato & Koyama's cGAN with a projection discriminator.

Critic: residual down-blocks (ReLU, 3x3 conv, ReLU, 3x3 conv, 2x2 average pool; the shortcut a
1x1 conv then the pool), `extra_blocks` blocks without pooling at the smallest map, ReLU, a sum
over space, a linear score. Every weight is spectrally normalised (`conv.spectral_normalize`: its
power-iteration vector lives in the critic's batch statistics, so it is checkpointed with them).
The first block sees the image, so it has no leading ReLU; with `first_shortcut` (Miyato's
"optimized" block) it also has the residual shortcut (average pool, then 1x1 conv). With labels,
the projection critic adds <embed(label), features> to the score (cGAN-PD).

Sizes follow the DCGAN models' pyramid (`dcgan.size_pyramid`: halve until the next halving would
go below `min_size`), so 28x28, 32x32, 64x64 and 300x300 images all work (upsampling to an odd
size takes, for each output pixel, the input pixel its centre falls in). Widths double towards the small end from
`n_feature` at the largest map, capped at `max_features`.
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from jaxgan.models import conv, dcgan, layers


def upsample_nearest(x, size: tuple[int, int]):
    """Nearest-neighbour upsampling of NHWC `x` to `size` (each output pixel copies the input
    pixel its centre falls in); an exact doubling is a repeat."""
    (h, w), (out_h, out_w) = x.shape[1:3], size
    if (out_h, out_w) == (2 * h, 2 * w):
        return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)
    rows = ((2 * jnp.arange(out_h) + 1) * h) // (2 * out_h)
    cols = ((2 * jnp.arange(out_w) + 1) * w) // (2 * out_w)
    return x[:, rows][:, :, cols]


def avg_pool2(x):
    """2x2 average pooling, stride 2, the odd last row/column dropped (floor(size / 2), the
    pyramid's halving); a reshape and a mean, so every derivative stays cheap."""
    b, h, w, c = x.shape
    x = x[:, : h // 2 * 2, : w // 2 * 2]
    return jnp.mean(x.reshape(b, h // 2, 2, w // 2, 2, c), axis=(2, 4))


class ConditionalBatchNorm(nn.Module):
    """Batch norm without its own affine part, then a scale 1 + gamma[label] and shift beta[label]
    learned per class; plain batch norm (with its affine part) when there are no labels."""

    num_classes: int = 0
    axis_name: str | None = None

    @nn.compact
    def __call__(self, x, labels=None, *, train: bool = True):
        if not self.num_classes:
            return layers.batch_norm(train, self.axis_name)(x)
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9, axis_name=self.axis_name,
                         use_scale=False, use_bias=False)(x)
        c = x.shape[-1]
        gamma = nn.Embed(self.num_classes, c, embedding_init=nn.initializers.zeros, name="gamma")(labels)
        beta = nn.Embed(self.num_classes, c, embedding_init=nn.initializers.zeros, name="beta")(labels)
        return x * (1.0 + gamma[:, None, None, :]) + beta[:, None, None, :]


def _conv(features, kernel, init, impl, spectral_norm=False):
    return conv.Conv(features, kernel, 1, kernel // 2, spectral_norm=spectral_norm, kernel_init=init, impl=impl)


class UpBlock(nn.Module):
    features: int
    size: tuple[int, int]
    kernel_init: nn.initializers.Initializer
    impl: str
    num_classes: int = 0
    axis_name: str | None = None

    @nn.compact
    def __call__(self, x, labels, *, train: bool):
        norm = lambda name: ConditionalBatchNorm(self.num_classes, self.axis_name, name=name)
        h = nn.relu(norm("bn1")(x, labels, train=train))
        h = _conv(self.features, 3, self.kernel_init, self.impl)(upsample_nearest(h, self.size))
        h = nn.relu(norm("bn2")(h, labels, train=train))
        h = _conv(self.features, 3, self.kernel_init, self.impl)(h)
        shortcut = upsample_nearest(x, self.size)
        if x.shape[-1] != self.features:
            shortcut = _conv(self.features, 1, self.kernel_init, self.impl)(shortcut)
        return h + shortcut


class DownBlock(nn.Module):
    features: int
    kernel_init: nn.initializers.Initializer
    impl: str
    downsample: bool = True
    first: bool = False  # sees the image: no leading ReLU
    shortcut: bool = True

    @nn.compact
    def __call__(self, x, *, train: bool):
        sn = lambda k: _conv(self.features, k, self.kernel_init, self.impl, spectral_norm=True)
        pool = avg_pool2 if self.downsample else (lambda v: v)
        h = x if self.first else nn.relu(x)
        h = sn(3)(h, train=train)
        h = sn(3)(nn.relu(h), train=train)
        h = pool(h)
        if not self.shortcut:
            return h
        if self.first:  # Miyato's optimized block: pool, then the 1x1 conv
            return h + sn(1)(pool(x), train=train)
        learned = self.downsample or x.shape[-1] != self.features
        return h + (pool(sn(1)(x, train=train)) if learned else x)


class ResNetGenerator(nn.Module):
    out_shape: Sequence[int]
    n_feature: int = 64
    max_features: int = 256
    min_size: int = 4
    weight_init: str = "xavier_uniform"
    weight_init_std: float = 0.02
    conv_impl: str = "fast"
    num_classes: int = 0
    axis_name: str | None = None

    @nn.compact
    def __call__(self, z, labels=None, *, train: bool = True):
        height, width, channels = self.out_shape
        init = layers.kernel_init(self.weight_init, self.weight_init_std)
        sizes = dcgan.size_pyramid(height, width, self.min_size)
        widths = dcgan._channels(len(sizes), self.n_feature, self.max_features)
        labels = labels if self.num_classes else None
        (h, w), c = sizes[0], widths[0]
        x = nn.Dense(h * w * c, kernel_init=init)(z).reshape((z.shape[0], h, w, c))
        for size, c in zip(sizes[1:], widths[1:]):
            x = UpBlock(c, size, init, self.conv_impl, self.num_classes, self.axis_name)(x, labels, train=train)
        x = nn.relu(layers.batch_norm(train, self.axis_name)(x))
        return jnp.tanh(_conv(channels, 3, init, self.conv_impl)(x))


class ResNetCritic(nn.Module):
    n_feature: int = 64
    max_features: int = 256
    min_size: int = 4
    extra_blocks: int = 1
    first_shortcut: bool = True
    weight_init: str = "xavier_uniform"
    weight_init_std: float = 0.02
    conv_impl: str = "fast"
    num_classes: int = 0
    axis_name: str | None = None

    @nn.compact
    def __call__(self, x, labels=None, *, train: bool = True):
        init = layers.kernel_init(self.weight_init, self.weight_init_std)
        sizes = dcgan.size_pyramid(x.shape[1], x.shape[2], self.min_size)
        widths = dcgan._channels(len(sizes), self.n_feature, self.max_features)[::-1]
        # One down-block per halving (the first one n_feature wide), then `extra_blocks` at the
        # smallest map: 64x64 gives Mimicry's SNGAN64 critic (n_feature 64, max_features 1024).
        plan = [(c, True) for c in widths[:-1]] + [(widths[-1], False)] * max(self.extra_blocks, len(widths) == 1)
        for i, (c, down) in enumerate(plan):
            x = DownBlock(c, init, self.conv_impl, downsample=down, first=i == 0,
                          shortcut=self.first_shortcut or i > 0)(x, train=train)
        features = jnp.sum(nn.relu(x), axis=(1, 2))
        score = conv.Dense(1, spectral_norm=True, kernel_init=init)(features, train=train)[:, 0]
        if not self.num_classes:
            return score
        return score + jnp.sum(SNEmbed(self.num_classes, features.shape[-1], init)(labels, train=train) * features,
                               axis=-1)


class SNEmbed(nn.Module):
    """A spectrally normalised class embedding (the projection critic's, as in Mimicry)."""

    num_classes: int
    features: int
    kernel_init: nn.initializers.Initializer

    @nn.compact
    def __call__(self, labels, *, train: bool):
        table = self.param("embedding", self.kernel_init, (self.num_classes, self.features), jnp.float32)
        return conv.spectral_normalize(self, table, train)[labels]
