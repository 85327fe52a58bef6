"""Convolutional generator and critic (the DCGAN family: seeds 000, 002, 003, 004's "cv").

Both are built from a size pyramid: the image size halved (kernel 4, stride 2, padding 1, i.e.
floor(size / 2)) until the next halving would go below `min_size`. A 64x64 image gives
4-8-16-32-64, exactly the pytorch/examples DCGAN; 28x28 gives 7-14-28 and 300x300 gives
4-9-18-37-75-150-300, so any size works without padding or cropping. Channel widths double
towards the small end (`n_feature` at the largest map), capped at `max_features`.

`dtype` is the compute dtype of the convolutions and dense layers ('bfloat16' for mixed
precision): parameters stay float32 and are cast where they are used, normalisation statistics
are computed in float32, and both networks return float32, so losses are float32.
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from jaxgan.models import conv, layers

CONDITIONINGS = ("concat", "projection", "auxiliary")
DOWNSAMPLINGS = ("stride", "maxpool")
DTYPES = ("float32", "bfloat16")


def size_pyramid(height: int, width: int, min_size: int) -> list[tuple[int, int]]:
    """Spatial sizes from the smallest feature map to the image, each the halving of the next."""
    sizes = [(height, width)]
    while True:
        h, w = (conv.downsampled_size(s) for s in sizes[0])
        if min(h, w) < min_size:
            return sizes
        sizes.insert(0, (h, w))


def _channels(num_levels: int, n_feature: int, max_features: int) -> list[int]:
    # Level i of a pyramid with `num_levels` maps (0 = smallest): n_feature * 2^(levels-1-i).
    return [min(n_feature * 2 ** (num_levels - 1 - i), max_features) for i in range(num_levels)]


class ConvGenerator(nn.Module):
    """z (+ label) -> Dense to the smallest map -> [ConvTranspose, norm, dropout, act] blocks ->
    ConvTranspose to the image channels -> output activation."""

    out_shape: Sequence[int]
    n_feature: int = 64
    max_features: int = 512
    min_size: int = 4
    normalization: str = "batch"
    activation: str = "relu"
    leaky_slope: float = 0.2
    dropout: float = 0.0
    output: str = "tanh"
    weight_init: str = "normal"
    weight_init_std: float = 0.02
    label_embedding: int = 0  # 0: one-hot label appended to z; > 0: a learned embedding of that size
    conv_impl: str = "fast"
    dtype: str = "float32"  # compute dtype of convs and dense layers; parameters stay float32
    num_classes: int = 0
    axis_name: str | None = None

    @nn.compact
    def __call__(self, z, labels=None, *, train: bool = True):
        height, width, channels = self.out_shape
        dt = jnp.dtype(self.dtype)
        sizes = size_pyramid(height, width, self.min_size)
        widths = _channels(len(sizes) - 1, self.n_feature, self.max_features) if len(sizes) > 1 else []
        init = layers.kernel_init(self.weight_init, self.weight_init_std)
        act = layers.activation(self.activation, self.leaky_slope)
        # A per-channel bias before batch or instance norm is cancelled by it (and Adam would
        # turn its zero gradient into noise), so those layers have none.
        bias = self.normalization in ("none", "layer")

        def finish_block(x):
            x = layers.normalization(self.normalization, train, self.axis_name)(x)
            if self.dropout:
                x = nn.Dropout(self.dropout, deterministic=not train)(x)
            return act(x)

        x = z
        if self.num_classes:
            if self.label_embedding:
                y = nn.Embed(self.num_classes, self.label_embedding)(labels)
            else:
                y = nn.one_hot(labels, self.num_classes, dtype=z.dtype)
            x = jnp.concatenate([x, y.astype(z.dtype)], axis=-1)
        if len(sizes) == 1:  # an image no bigger than the smallest map: one dense layer
            x = nn.Dense(height * width * channels, kernel_init=init, dtype=dt)(x)
            x = x.reshape((z.shape[0], height, width, channels))
        else:
            (h, w), c = sizes[0], widths[0]
            x = nn.Dense(h * w * c, use_bias=bias, kernel_init=init, dtype=dt)(x)
            x = finish_block(x.reshape((z.shape[0], h, w, c)))
            for size, c in zip(sizes[1:-1], widths[1:]):
                x = conv.ConvTranspose(c, use_bias=bias, kernel_init=init, impl=self.conv_impl)(
                    x.astype(dt), size)
                x = finish_block(x)
            x = conv.ConvTranspose(channels, kernel_init=init, impl=self.conv_impl)(x.astype(dt), sizes[-1])
        x = x.astype(jnp.float32)
        return jnp.tanh(x) if self.output == "tanh" else x


class ConvCritic(nn.Module):
    """image (+ label) -> [conv (stride 2, or stride 1 + max-pool), norm, act, dropout] blocks ->
    flatten -> score (and class logits for AC-GAN).

    The score is a logit: the binary losses apply the sigmoid inside (stably), the Wasserstein
    and hinge losses use it as it is, so the loss decides the critic's last activation.
    Labels enter by `conditioning`: 'concat' (one-hot maps appended to the image channels),
    'projection' (Miyato & Koyama 2018: score += <embed(label), features>), or 'auxiliary'
    (AC-GAN: the critic sees no label and also returns class logits).
    """

    n_feature: int = 64
    max_features: int = 512
    min_size: int = 4
    downsample: str = "stride"
    normalization: str = "batch"
    spectral_norm: bool = False
    activation: str = "leaky_relu"
    leaky_slope: float = 0.2
    dropout: float = 0.0
    weight_init: str = "normal"
    weight_init_std: float = 0.02
    conditioning: str = "concat"
    conv_impl: str = "fast"
    dtype: str = "float32"  # compute dtype of convs and dense layers; parameters stay float32
    num_classes: int = 0
    axis_name: str | None = None

    @nn.compact
    def __call__(self, x, labels=None, *, train: bool = True):
        dt = jnp.dtype(self.dtype)
        init = layers.kernel_init(self.weight_init, self.weight_init_std)
        act = layers.activation(self.activation, self.leaky_slope)
        conditional = self.num_classes > 0
        if conditional and self.conditioning == "concat":
            # (a packed critic gets one label per member: their one-hots side by side)
            onehot = nn.one_hot(labels, self.num_classes, dtype=x.dtype).reshape(x.shape[0], -1)
            maps = jnp.broadcast_to(onehot[:, None, None, :], x.shape[:3] + onehot.shape[-1:])
            x = jnp.concatenate([x, maps], axis=-1)
        sizes = size_pyramid(x.shape[1], x.shape[2], self.min_size)
        widths = _channels(len(sizes) - 1, self.n_feature, self.max_features)[::-1]
        for i, c in enumerate(widths):
            norm = self.normalization if i > 0 else "none"  # DCGAN: none on the input block
            bias = norm in ("none", "layer")
            if self.downsample == "maxpool":
                x = conv.Conv(c, 3, 1, 1, use_bias=bias, spectral_norm=self.spectral_norm,
                              kernel_init=init, impl=self.conv_impl)(x.astype(dt), train=train)
                x = nn.max_pool(x, (2, 2), strides=(2, 2))
            else:
                x = conv.Conv(c, 4, 2, 1, use_bias=bias, spectral_norm=self.spectral_norm,
                              kernel_init=init, impl=self.conv_impl)(x.astype(dt), train=train)
            x = layers.normalization(norm, train, self.axis_name)(x)
            x = act(x)
            if self.dropout:
                x = nn.Dropout(self.dropout, deterministic=not train)(x)
        features = x.reshape((x.shape[0], -1))
        score = conv.Dense(1, spectral_norm=self.spectral_norm, kernel_init=init)(
            features.astype(dt), train=train)[:, 0].astype(jnp.float32)
        if not conditional:
            return score
        if self.conditioning == "projection":
            embedded = nn.Embed(self.num_classes, features.shape[-1], embedding_init=init)(labels)
            return score + jnp.sum(embedded * features.astype(jnp.float32), axis=-1)
        if self.conditioning == "auxiliary":
            logits = conv.Dense(self.num_classes, kernel_init=init)(features.astype(dt), train=train)
            return score, logits.astype(jnp.float32)
        return score
