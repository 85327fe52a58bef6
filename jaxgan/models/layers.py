"""Building blocks every model shares: activations, initialisers, normalisation, packing.

Models pick these by name from their config, so a new variant is a config change. Layers that
need a CPU-fast implementation (convolutions) belong here too, so every model gets them.
"""
from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

ACTIVATIONS = ("relu", "leaky_relu", "tanh", "elu", "gelu", "silu", "maxout")
INITS = ("default", "normal", "xavier_uniform", "kaiming_normal")
NORMS = ("batch", "instance", "layer", "none")


def activation(name: str, leaky_slope: float = 0.2):
    """The activation function called `name` (maxout is a layer: see `Maxout`)."""
    table = {
        "relu": nn.relu,
        "leaky_relu": functools.partial(nn.leaky_relu, negative_slope=leaky_slope),
        "tanh": jnp.tanh,
        "elu": nn.elu,
        "gelu": nn.gelu,
        "silu": nn.silu,
    }
    if name not in table:
        raise ValueError(f"unknown activation {name!r}; choose one of {list(table)}")
    return table[name]


def kernel_init(name: str, std: float = 0.02):
    """Weight initialiser by name; 'normal' is DCGAN's N(0, std)."""
    if name == "default":
        return nn.linear.default_kernel_init
    if name == "normal":
        return nn.initializers.normal(stddev=std)
    if name == "xavier_uniform":
        return nn.initializers.xavier_uniform()
    if name == "kaiming_normal":
        return nn.initializers.kaiming_normal()
    raise ValueError(f"unknown init {name!r}; choose one of {list(INITS)}")


class Maxout(nn.Module):
    """Dense layer with `pieces` linear pieces per unit, max over pieces (Goodfellow et al. 2013)."""

    features: int
    pieces: int
    kernel_init: nn.initializers.Initializer = nn.linear.default_kernel_init

    @nn.compact
    def __call__(self, x):
        y = nn.Dense(self.features * self.pieces, kernel_init=self.kernel_init)(x)
        return jnp.max(y.reshape(y.shape[:-1] + (self.features, self.pieces)), axis=-1)


def batch_norm(train: bool, axis_name: str | None, momentum: float = 0.9):
    """Batch norm whose statistics span the global batch in every execution mode.

    Under jit with a sharded batch XLA already reduces over the global batch; under pmap the
    statistics are averaged over `axis_name`.
    """
    return nn.BatchNorm(use_running_average=not train, momentum=momentum, axis_name=axis_name)


def normalization(name: str, train: bool, axis_name: str | None):
    """The normalisation layer called `name` for NHWC maps (identity for 'none').

    'instance' normalises each channel of each example over space; 'layer' each example over
    space and channels (the WGAN-GP paper's choice for a critic, where batch norm would couple
    the examples whose gradients the penalty constrains)."""
    if name == "batch":
        return batch_norm(train, axis_name)
    if name == "instance":
        return nn.InstanceNorm()
    if name == "layer":
        return nn.LayerNorm(reduction_axes=(-3, -2, -1), feature_axes=-1)
    if name == "none":
        return lambda x: x
    raise ValueError(f"unknown normalization {name!r}; choose one of {list(NORMS)}")


def pack(x: jax.Array, group: int) -> jax.Array:
    """PacGAN packing: `group` consecutive examples become one critic input, concatenated on
    the last (feature or channel) axis. (B, ..., C) -> (B / group, ..., group * C)."""
    if group == 1:
        return x
    b = x.shape[0]
    x = x.reshape((b // group, group) + x.shape[1:])
    x = jnp.moveaxis(x, 1, -2)
    return x.reshape(x.shape[:-2] + (group * x.shape[-1],))
