"""The one place convolutions are computed, so every model gets the fast implementation.

XLA:CPU takes a slow path for the weight gradient of a transposed convolution, for the double
backward of a strided convolution (the gradient penalty differentiates the critic's input
gradient) and for grouped convolutions (what vmap over per-model kernels produces): many times
slower than the same arithmetic as a plain convolution (docs/performance.md#convolution-implementations). Here every
layer goes through three linear products, each with a custom VJP written in the three again,

    y = conv(x, w)            dx = conv_transpose(dy, w)      dw = weight_grad(x, dy)
    y = conv_transpose(x, w)  dx = conv(dy, w)                dw = weight_grad(dy, x)
    dw = weight_grad(x, dy)   dx = conv_transpose(dy, dw)     ddy = conv(x, dw)

so derivatives of any order stay on the fast paths, and an implementation is a choice of how
to compute the three products (`RECIPES`). The maths is unchanged: outputs and gradients equal
those of `flax.linen.Conv` / `ConvTranspose` and of XLA's own derivatives (tests/test_conv.py).

'fast' (the default) computes conv and weight_grad with XLA's plain convolution and
conv_transpose as a sub-pixel convolution, and under vmap runs each product once per model:
the fastest of the recipes on the dcgan64 and wgan_gp64 steps and on 8 vmapped dcgan28 seeds,
and far faster than 'xla' (`benchmarks/step_throughput.py --impl`; the measured table is
docs/performance.md#convolution-implementations, the one place its numbers are kept).

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
from jax import custom_batching, lax

_DIMS = ("NHWC", "HWIO", "NHWC")


def _pads(padding: int | Sequence[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    if isinstance(padding, int):
        return ((padding, padding), (padding, padding))
    return tuple(tuple(p) for p in padding)


def _out_size(size: int, kernel: int, stride: int, pads: tuple[int, int]) -> int:
    return (size + pads[0] + pads[1] - kernel) // stride + 1


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _geometry(in_hw, k, s, pads):
    """Per spatial dim: (output size, taps per stride phase q = ceil(k / s), (lo, hi) padding
    that makes the input exactly s * (out + q - 1) long; hi < 0 crops)."""
    out = []
    for size, kk, ss, (lo, hi) in zip(in_hw, k, s, pads):
        o = _out_size(size, kk, ss, (lo, hi))
        q = _ceil_div(kk, ss)
        out.append((o, q, (lo, ss * (o + q - 1) - size - lo)))
    return out


def _pad_hw(x, hw_pads):
    zero = jnp.zeros((), x.dtype)
    return lax.pad(x, zero, ((0, 0, 0), (*hw_pads[0], 0), (*hw_pads[1], 0), (0, 0, 0)))


def _transpose_of(f, in_shape, dtype):
    """x -> f(x) is linear; returns its transpose as a function."""
    spec = jax.ShapeDtypeStruct(in_shape, dtype)
    return lambda y: jax.linear_transpose(f, spec)(y)[0]


# ---- XLA's own convolution ops ------------------------------------------------------------------

def _conv_native(x, w, strides, padding):
    return lax.conv_general_dilated(x, w, strides, padding, dimension_numbers=_DIMS)


def _conv_transpose_native(y, w, strides, padding, in_shape):
    # XLA's transpose: a convolution of the 'lhs-dilated' y (zeros between its pixels).
    return _transpose_of(lambda x: _conv_native(x, w, strides, padding), in_shape, y.dtype)(y)


def _weight_grad_native(x, dy, w_shape, strides, padding):
    return _transpose_of(lambda w: _conv_native(x, w, strides, padding), w_shape, x.dtype)(dy)


# ---- sub-pixel: a transposed conv as one stride-1 conv whose channels are the output phases ---

def _depth_to_space(z, s):
    n, h, w, cc = z.shape
    z = z.reshape(n, h, w, s[0], s[1], cc // (s[0] * s[1])).transpose(0, 1, 3, 2, 4, 5)
    return z.reshape(n, h * s[0], w * s[1], cc // (s[0] * s[1]))


def _s2d_kernel(w, s):
    # w_s2d[q, p, (r, t, c), o] = w[s0 q + r, s1 p + t, c, o] (zero past the kernel's end).
    kh, kw, c, o = w.shape
    qh, qw = _ceil_div(kh, s[0]), _ceil_div(kw, s[1])
    w = jnp.pad(w, ((0, qh * s[0] - kh), (0, qw * s[1] - kw), (0, 0), (0, 0)))
    w = w.reshape(qh, s[0], qw, s[1], c, o).transpose(0, 2, 1, 3, 4, 5)
    return w.reshape(qh, qw, s[0] * s[1] * c, o)


def _conv1(x, w):
    return lax.conv_general_dilated(x, w, (1, 1), "VALID", dimension_numbers=_DIMS)


def _conv_transpose_subpixel(y, w, strides, padding, in_shape):
    """The transpose of a stride-s conv as a stride-1 conv of the padded y whose output channels
    are the s*s sub-pixel phases of the result, then depth-to-space: no zeros interleaved into y
    (XLA's lhs-dilated form multiplies them) and no slow-path weight gradient."""
    (_, qh, ph), (_, qw, pw) = _geometry(in_shape[1:3], w.shape[:2], strides, padding)
    w_t = jnp.flip(_s2d_kernel(w, strides), (0, 1)).swapaxes(2, 3)
    z = _conv1(_pad_hw(y, [(qh - 1, qh - 1), (qw - 1, qw - 1)]), w_t)
    return _pad_hw(_depth_to_space(z, strides), [(-ph[0], -ph[1]), (-pw[0], -pw[1])])


# ---- im2col: one matmul of patches -------------------------------------------------------------

def _patches(x, k, strides, padding):
    """(N, Ho, Wo, kh' * kw' * C) patches, kernel tap order (a, b, c) like an HWIO kernel with
    its width padded to kw' = s1 * ceil(kw / s1). Built without transposes: the padded input
    viewed as (N, H/s0, s0, W/s1, s1 * C) (a free reshape) yields each row piece of a patch as
    one plain slice, so the transpose (col2im) is pads and adds, never interior padding."""
    kh, (sh, sw), n, c = k[0], strides, x.shape[0], x.shape[3]
    (ho, qh, ph), (wo, qw, pw) = _geometry(x.shape[1:3], k, strides, padding)
    xr = _pad_hw(x, [ph, pw]).reshape(n, ho + qh - 1, sh, wo + qw - 1, sw * c)
    cols = [xr[:, q:q + ho, r, p:p + wo, :] for q in range(qh) for r in range(sh) if q * sh + r < kh
            for p in range(qw)]
    return cols[0] if len(cols) == 1 else jnp.concatenate(cols, axis=-1)


def _im2col_kernel(w, strides):
    kh, kw, c, o = w.shape
    w = jnp.pad(w, ((0, 0), (0, _ceil_div(kw, strides[1]) * strides[1] - kw), (0, 0), (0, 0)))
    return w.reshape(-1, o)


def _conv_im2col(x, w, strides, padding):
    cols = _patches(x, w.shape[:2], strides, padding)
    return lax.dot_general(cols, _im2col_kernel(w, strides), (((3,), (0,)), ((), ())))


def _conv_transpose_im2col(y, w, strides, padding, in_shape):
    # matmul of y with every tap's kernel, then the taps' outputs added at their positions.
    return _transpose_of(lambda x: _conv_im2col(x, w, strides, padding), in_shape, y.dtype)(y)


def _weight_grad_im2col(x, dy, w_shape, strides, padding):
    cols = _patches(x, w_shape[:2], strides, padding)
    dw = lax.dot_general(cols, dy, (((0, 1, 2), (0, 1, 2)), ((), ())))
    kh, kw, c, o = w_shape
    return dw.reshape(kh, -1, c, o)[:, :kw]


# ---- seed-wise: under vmap over models, one native conv per model ------------------------------

def _seedwise(product):
    """`product(a, b, *static)` whose vmap runs the unbatched product once per vmapped index.

    vmap over per-model kernels (`num_seeds`) would otherwise turn a convolution into a grouped
    one, which XLA:CPU computes on a slow path; an unrolled loop keeps every model's convolution
    on the fast path."""

    def call(a, b, *static):
        @custom_batching.custom_vmap
        def f(a, b):
            return product(a, b, *static)

        @f.def_vmap
        def rule(axis_size, in_batched, a, b):
            a, b = (x if batched else jnp.broadcast_to(x, (axis_size, *x.shape))
                    for x, batched in zip((a, b), in_batched))
            return jnp.stack([f(a[i], b[i]) for i in range(axis_size)]), True

        return f(a, b)

    return call


# ---- the three products, each with a VJP written in the three (any derivative order) ----------
# recipe = (conv, conv_transpose, weight_grad): the functions that compute each product.

@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def conv(x, w, strides, padding, recipe):
    """Strided convolution, NHWC input, HWIO kernel, explicit padding pairs."""
    return recipe[0](x, w, strides, padding)


def _conv_fwd(x, w, strides, padding, recipe):
    return conv(x, w, strides, padding, recipe), (x, w)


def _conv_bwd(strides, padding, recipe, res, dy):
    x, w = res
    return (conv_transpose(dy, w, strides, padding, x.shape, recipe),
            weight_grad(x, dy, w.shape, strides, padding, recipe))


conv.defvjp(_conv_fwd, _conv_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5))
def conv_transpose(y, w, strides, padding, in_shape, recipe):
    """The linear transpose of `conv(., w, strides, padding)` on inputs of shape `in_shape`.

    `w` is the kernel of that forward conv (HWIO, I = this layer's output channels)."""
    return recipe[1](y, w, strides, padding, in_shape)


def _conv_transpose_fwd(y, w, strides, padding, in_shape, recipe):
    return conv_transpose(y, w, strides, padding, in_shape, recipe), (y, w)


def _conv_transpose_bwd(strides, padding, in_shape, recipe, res, dx):
    y, w = res
    # <conv_transpose(y), dx> = <y, conv(dx)>: both derivatives are plain-conv quantities.
    return conv(dx, w, strides, padding, recipe), weight_grad(dx, y, w.shape, strides, padding, recipe)


conv_transpose.defvjp(_conv_transpose_fwd, _conv_transpose_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5))
def weight_grad(x, dy, w_shape, strides, padding, recipe):
    """d<dy, conv(x, w)>/dw, bilinear in (x, dy)."""
    return recipe[2](x, dy, w_shape, strides, padding)


def _weight_grad_fwd(x, dy, w_shape, strides, padding, recipe):
    return weight_grad(x, dy, w_shape, strides, padding, recipe), (x, dy)


def _weight_grad_bwd(w_shape, strides, padding, recipe, res, dw):
    x, dy = res
    # <weight_grad(x, dy), dw> = <dy, conv(x, dw)> = <conv_transpose(dy, dw), x>.
    return conv_transpose(dy, dw, strides, padding, x.shape, recipe), conv(x, dw, strides, padding, recipe)


weight_grad.defvjp(_weight_grad_fwd, _weight_grad_bwd)


# ---- implementations --------------------------------------------------------------------------

RECIPES = {
    # The default: the fastest on the 64x64 DCGAN and WGAN-GP steps (module docstring).
    "fast": (_seedwise(_conv_native), _seedwise(_conv_transpose_subpixel), _seedwise(_weight_grad_native)),
    # Candidates kept for benchmarks/step_throughput.py --impl.
    "custom_vjp": (_conv_native, _conv_transpose_native, _weight_grad_native),
    "im2col": (_conv_im2col, _conv_transpose_im2col, _weight_grad_im2col),
}
# 'xla': XLA's own convolution ops and derivatives, the reference.
IMPLEMENTATIONS = (*RECIPES, "xla")


def _check(impl: str) -> None:
    if impl not in IMPLEMENTATIONS:
        raise ValueError(f"unknown convolution implementation {impl!r}; choose from {IMPLEMENTATIONS}")


def conv_any(x, w, strides, padding, impl: str = "fast"):
    """`impl`'s strided convolution (NHWC, HWIO, explicit padding pairs)."""
    _check(impl)
    if impl == "xla":
        return _conv_native(x, w, strides, padding)
    return conv(x, w, strides, padding, RECIPES[impl])


def conv_transpose_any(y, w, strides, padding, in_shape, impl: str = "fast"):
    """`impl`'s transpose of `conv_any(., w, strides, padding)` on inputs of shape `in_shape`."""
    _check(impl)
    if impl == "xla":
        return _conv_transpose_native(y, w, strides, padding, in_shape)
    return conv_transpose(y, w, strides, padding, in_shape, RECIPES[impl])


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
        y = conv_any(x, w, (s, s), _pads(self.padding), self.impl)
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
        y = conv_transpose_any(x, w, (s, s), pads, in_shape, self.impl)
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
