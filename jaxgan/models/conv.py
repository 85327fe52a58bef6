"""The one place convolutions are computed, so every model gets the fast implementation.

XLA:CPU takes a slow path for the weight gradient of a transposed convolution and for the
double backward of a strided convolution (the gradient penalty differentiates the critic's
input gradient): 25x slower than the same arithmetic done as a plain forward convolution
(../shared/NOTES-stack.md). Here both layers are defined through one primitive, the plain
strided convolution `conv`, and each has a custom VJP that is again written with `conv`,
`conv_transpose` and the plain convolution's weight gradient:

    y = conv(x, w)            dx = conv_transpose(dy, w)      dw = weight_grad(x, dy)
    y = conv_transpose(x, w)  dx = conv(dy, w)                dw = weight_grad(dy, x)

so derivatives of any order stay on the fast path. The maths is unchanged: outputs and
gradients equal those of `flax.linen.Conv` / `ConvTranspose` (tests/test_conv.py).

A transposed convolution here is, by definition, the linear transpose of a strided
convolution: `ConvTranspose(kernel 4, stride 2, padding 1)` maps an H x W map to the 2H x 2W
map whose strided convolution has size H x W (PyTorch's `ConvTranspose2d(4, 2, 1)`). Because
several input sizes give the same output size under a strided conv, the layer takes the size
it must produce, which is how generators reach sizes that are not powers of two (28, 300).
"""
from __future__ import annotations

import functools
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

_DIMS = ("NHWC", "HWIO", "NHWC")

# 'fast': the custom-VJP layers below; 'xla': XLA's own derivatives (reference and fallback).
IMPLEMENTATIONS = ("fast", "xla")


def _pads(padding: int | Sequence[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    if isinstance(padding, int):
        return ((padding, padding), (padding, padding))
    return tuple(tuple(p) for p in padding)


def _plain_conv(x, w, strides, padding):
    return lax.conv_general_dilated(x, w, strides, padding, dimension_numbers=_DIMS)


def _plain_conv_transpose(y, w, strides, padding, in_shape):
    # The transpose of x -> conv(x, w) for x of shape `in_shape`, applied to y.
    spec = jax.ShapeDtypeStruct(in_shape, y.dtype)
    (x,) = jax.linear_transpose(lambda x: _plain_conv(x, w, strides, padding), spec)(y)
    return x


def _weight_grad(x, dy, w_shape, strides, padding):
    # d<dy, conv(x, w)>/dw: the plain conv's weight gradient, which XLA:CPU computes fast.
    spec = jax.ShapeDtypeStruct(w_shape, x.dtype)
    (dw,) = jax.linear_transpose(lambda w: _plain_conv(x, w, strides, padding), spec)(dy)
    return dw


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def conv(x, w, strides, padding):
    """Strided convolution, NHWC input, HWIO kernel, explicit padding pairs."""
    return _plain_conv(x, w, strides, padding)


def _conv_fwd(x, w, strides, padding):
    return _plain_conv(x, w, strides, padding), (x, w)


def _conv_bwd(strides, padding, res, dy):
    x, w = res
    dx = conv_transpose(dy, w, strides, padding, x.shape)
    return dx, _weight_grad(x, dy, w.shape, strides, padding)


conv.defvjp(_conv_fwd, _conv_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def conv_transpose(y, w, strides, padding, in_shape):
    """The linear transpose of `conv(., w, strides, padding)` on inputs of shape `in_shape`.

    `w` is the kernel of that forward conv (HWIO, I = this layer's output channels)."""
    return _plain_conv_transpose(y, w, strides, padding, in_shape)


def _conv_transpose_fwd(y, w, strides, padding, in_shape):
    return _plain_conv_transpose(y, w, strides, padding, in_shape), (y, w)


def _conv_transpose_bwd(strides, padding, in_shape, res, dx):
    y, w = res
    # <conv_transpose(y), dx> = <y, conv(dx)>: both derivatives are plain-conv quantities.
    return conv(dx, w, strides, padding), _weight_grad(dx, y, w.shape, strides, padding)


conv_transpose.defvjp(_conv_transpose_fwd, _conv_transpose_bwd)


def _out_size(size: int, kernel: int, stride: int, pads: tuple[int, int]) -> int:
    return (size + pads[0] + pads[1] - kernel) // stride + 1


def spectral_normalize(module: nn.Module, w: jax.Array, train: bool, eps: float = 1e-12) -> jax.Array:
    """w / sigma(w), sigma from one power iteration per training call (Miyato et al. 2018).

    The power-iteration vector lives in the 'batch_stats' collection (it is state, not a
    parameter), so it is checkpointed and averaged like batch-norm statistics."""
    matrix = w.reshape(-1, w.shape[-1])
    u_var = module.variable("batch_stats", "spectral_u",
                            lambda: jax.random.normal(jax.random.key(0), (1, matrix.shape[-1]), w.dtype))
    u = u_var.value
    v = u @ matrix.T
    v = v / (jnp.linalg.norm(v) + eps)
    u_new = v @ matrix
    u_new = u_new / (jnp.linalg.norm(u_new) + eps)
    u_new, v = lax.stop_gradient(u_new), lax.stop_gradient(v)
    if train and not module.is_initializing():
        u_var.value = u_new
    sigma = jnp.squeeze(v @ matrix @ u_new.T)
    return w / sigma


class Conv(nn.Module):
    """2D convolution (NHWC) with integer or explicit padding; optionally spectrally normalised."""

    features: int
    kernel_size: int = 3
    strides: int = 1
    padding: int | Sequence[tuple[int, int]] = 1
    use_bias: bool = True
    spectral_norm: bool = False
    kernel_init: nn.initializers.Initializer = nn.linear.default_kernel_init
    impl: str = "fast"

    @nn.compact
    def __call__(self, x, *, train: bool = True):
        k, s = self.kernel_size, self.strides
        w = self.param("kernel", self.kernel_init, (k, k, x.shape[-1], self.features), jnp.float32)
        if self.spectral_norm:
            w = spectral_normalize(self, w, train)
        w = w.astype(x.dtype)
        fn = conv if self.impl == "fast" else _plain_conv
        y = fn(x, w, (s, s), _pads(self.padding))
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32).astype(y.dtype)
        return y


class ConvTranspose(nn.Module):
    """Transposed convolution producing exactly `out_size` (H, W): the transpose of
    Conv(kernel_size, strides, padding) from an `out_size` map to this layer's input size."""

    features: int
    kernel_size: int = 4
    strides: int = 2
    padding: int = 1
    use_bias: bool = True
    kernel_init: nn.initializers.Initializer = nn.linear.default_kernel_init
    impl: str = "fast"

    @nn.compact
    def __call__(self, x, out_size: tuple[int, int]):
        k, s, pads = self.kernel_size, self.strides, _pads(self.padding)
        expected = tuple(_out_size(o, k, s, p) for o, p in zip(out_size, pads))
        if expected != tuple(x.shape[1:3]):
            raise ValueError(f"ConvTranspose(kernel {k}, stride {s}, padding {self.padding}) cannot map "
                             f"{tuple(x.shape[1:3])} to {tuple(out_size)} (that output size comes from "
                             f"{expected})")
        # Kernel of the forward conv this layer transposes: HWIO with I = this layer's outputs.
        w = self.param("kernel", self.kernel_init, (k, k, self.features, x.shape[-1]), jnp.float32)
        w = w.astype(x.dtype)
        in_shape = (x.shape[0], *out_size, self.features)
        fn = conv_transpose if self.impl == "fast" else _plain_conv_transpose
        y = fn(x, w, (s, s), pads, in_shape)
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32).astype(y.dtype)
        return y


def downsampled_size(size: int, kernel: int = 4, stride: int = 2, padding: int = 1) -> int:
    return _out_size(size, kernel, stride, (padding, padding))


class Dense(nn.Module):
    """Dense layer that can be spectrally normalised like `Conv` (a critic's output layer)."""

    features: int
    use_bias: bool = True
    spectral_norm: bool = False
    kernel_init: nn.initializers.Initializer = nn.linear.default_kernel_init

    @nn.compact
    def __call__(self, x, *, train: bool = True):
        w = self.param("kernel", self.kernel_init, (x.shape[-1], self.features), jnp.float32)
        if self.spectral_norm:
            w = spectral_normalize(self, w, train)
        y = x @ w.astype(x.dtype)
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32).astype(y.dtype)
        return y
