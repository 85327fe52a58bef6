"""Fully connected generator and critic (seed 001's 2D GAN, seed 004's "s" image GANs)."""
from __future__ import annotations

import math
from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from jaxgan.models import layers


class MLPGenerator(nn.Module):
    """z -> `depth` x [Dense(width), BatchNorm?, activation, Dropout?] -> Dense -> output."""

    out_shape: Sequence[int]
    width: int = 400
    depth: int = 4
    activation: str = "relu"
    leaky_slope: float = 0.2
    batch_norm: bool = True
    dropout: float = 0.0
    output: str = "linear"  # 'tanh' for images in [-1, 1]
    weight_init: str = "default"
    weight_init_std: float = 0.02
    dtype: str = "float32"  # compute dtype of the dense layers; parameters stay float32
    num_classes: int = 0
    axis_name: str | None = None

    @nn.compact
    def __call__(self, z, labels=None, *, train: bool = True):
        dt = jnp.dtype(self.dtype)
        x = z
        if self.num_classes:
            x = jnp.concatenate([x, nn.one_hot(labels, self.num_classes, dtype=x.dtype)], axis=-1)
        act = layers.activation(self.activation, self.leaky_slope)
        init = layers.kernel_init(self.weight_init, self.weight_init_std)
        for _ in range(self.depth):
            # A bias before batch norm is cancelled by it (zero gradient, which Adam would turn
            # into noise-driven updates), so the layer has none.
            x = nn.Dense(self.width, use_bias=not self.batch_norm, kernel_init=init, dtype=dt)(x)
            if self.batch_norm:
                x = layers.batch_norm(train, self.axis_name)(x)
            x = act(x)
            if self.dropout:
                x = nn.Dropout(self.dropout, deterministic=not train)(x)
        x = nn.Dense(math.prod(self.out_shape), kernel_init=init, dtype=dt)(x).astype(jnp.float32)
        if self.output == "tanh":
            x = jnp.tanh(x)
        return x.reshape((z.shape[0],) + tuple(self.out_shape))


class MLPCritic(nn.Module):
    """input -> `depth` x [Dense or Maxout, BatchNorm?, activation, Dropout?] -> score."""

    width: int = 200
    depth: int = 3
    activation: str = "relu"
    leaky_slope: float = 0.2
    maxout_pieces: int = 5
    batch_norm: bool = False
    dropout: float = 0.0
    weight_init: str = "default"
    weight_init_std: float = 0.02
    dtype: str = "float32"  # compute dtype of the dense layers (maxout stays float32)
    num_classes: int = 0
    axis_name: str | None = None

    @nn.compact
    def __call__(self, x, labels=None, *, train: bool = True):
        dt = jnp.dtype(self.dtype)
        x = x.reshape((x.shape[0], -1))
        if self.num_classes:
            onehot = nn.one_hot(labels, self.num_classes, dtype=x.dtype)
            x = jnp.concatenate([x, onehot.reshape(x.shape[0], -1)], axis=-1)
        init = layers.kernel_init(self.weight_init, self.weight_init_std)
        for _ in range(self.depth):
            if self.activation == "maxout":
                x = layers.Maxout(self.width, self.maxout_pieces, kernel_init=init)(x)
            else:
                x = nn.Dense(self.width, use_bias=not self.batch_norm, kernel_init=init, dtype=dt)(x)
            if self.batch_norm:
                x = layers.batch_norm(train, self.axis_name)(x)
            if self.activation != "maxout":
                x = layers.activation(self.activation, self.leaky_slope)(x)
            if self.dropout:
                x = nn.Dropout(self.dropout, deterministic=not train)(x)
        return nn.Dense(1, kernel_init=init, dtype=dt)(x)[..., 0].astype(jnp.float32)
