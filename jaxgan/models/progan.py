"""Progressive growing of GANs (ProGAN, Karras et al. 2018): a generator and a critic that grow
from `start_size` x `start_size` to the image size by doubling, with a last step of any factor
(28x28: 4-8-16-28; 300x300: 4-8-...-256-300; `sizes`).

Every block's parameters exist from the start (init touches them all), so a run's state has one
layout at every stage and resumes anywhere. Which blocks a forward pass uses is the static
`stage` (an index into `sizes`; None = the last); `alpha` fades the newest block in:

    G at stage k:  (1 - alpha) * up(to_rgb[k-1](h[k-1])) + alpha * to_rgb[k](block[k](h[k-1]))
    D at stage k:  D_rest((1 - alpha) * from_rgb[k-1](down(x)) + alpha * block[k](from_rgb[k](x)))

so alpha = 0 is exactly the previous stage's network (its images upsampled, its input
downsampled) and alpha = 1 the new block alone. The schedule that picks the stage and alpha from
the step is jaxgan/progressive.py.

The paper's other pieces: equalized learning rate (weights drawn N(0, 1) and scaled at run time
by He's constant gain / sqrt(fan_in), so Adam's per-parameter step means the same at every
layer), pixelwise feature normalization after every generator convolution, the minibatch
standard deviation as an extra critic feature map before its last block, leaky ReLU 0.2, a
linear output. Up-sampling is nearest neighbour and down-sampling averages pixels (2x2 average
pooling when halving, area weights for the last, non-integer step). Every convolution goes
through jaxgan/models/conv.py. Labels, where a run has them, are one-hot appended to z in the
generator and projected onto the critic's last features (Miyato & Koyama 2018).
"""
from __future__ import annotations

import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.models import conv

LEAKY_SLOPE = 0.2


def sizes(image_size: int, start_size: int = 4) -> list[int]:
    """The side of each stage: start_size, doubled while below image_size, then image_size."""
    if image_size < start_size:
        return [image_size]
    out = [start_size]
    while out[-1] * 2 < image_size:
        out.append(out[-1] * 2)
    if out[-1] != image_size:
        out.append(image_size)
    return out


def _channels(num_stages: int, n_feature: int, max_features: int) -> list[int]:
    # Stage k of S: n_feature at the largest map, doubled towards the small end, capped.
    return [min(n_feature * 2 ** (num_stages - 1 - k), max_features) for k in range(num_stages)]


# ---- resampling, for numpy (host-side real images) and jax alike ---------------------------------

def _area_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights: output pixel i averages the input pixels its area covers."""
    edges_in, edges_out = np.arange(n_in + 1) / n_in, np.arange(n_out + 1) / n_out
    lo = np.maximum(edges_out[:-1, None], edges_in[None, :-1])
    hi = np.minimum(edges_out[1:, None], edges_in[None, 1:])
    return (np.clip(hi - lo, 0, None) * n_out).astype(np.float32)


def downsample(x, size: int, xp=jnp):
    """(N, H, W, C) -> (N, size, size, C) by averaging: 2x2 average pooling when halving, area
    weights otherwise. `xp` is jax.numpy or numpy."""
    n, h, w, c = x.shape
    if (h, w) == (size, size):
        return x
    if h == 2 * size and w == 2 * size:
        return x.reshape(n, size, 2, size, 2, c).mean(axis=(2, 4))
    rows, cols = _area_weights(h, size), _area_weights(w, size)
    kw = {"optimize": True} if xp is np else {}
    return xp.einsum("ih,jw,nhwc->nijc", rows, cols, x, **kw).astype(x.dtype)


def upsample(x, size: int):
    """(N, H, W, C) -> (N, size, size, C), nearest neighbour (pixel repetition when doubling)."""
    n, h, w, c = x.shape
    if (h, w) == (size, size):
        return x
    if size == 2 * h and size == 2 * w:
        return jnp.broadcast_to(x[:, :, None, :, None], (n, h, 2, w, 2, c)).reshape(n, size, size, c)
    rows = np.minimum((np.arange(size) + 0.5) * h / size, h - 1).astype(np.int32)
    cols = np.minimum((np.arange(size) + 0.5) * w / size, w - 1).astype(np.int32)
    return x[:, rows][:, :, cols]


def downsample_to_stage(x, all_sizes: Sequence[int], stage: int, xp=jnp):
    """Images at the last stage's size -> stage `stage`'s, through every size in between (so
    each stage's images are the next stage's, averaged)."""
    for size in reversed(all_sizes[stage:-1]):
        x = downsample(x, size, xp)
    return x


# ---- the paper's layers ---------------------------------------------------------------------------

def pixel_norm(x, eps: float = 1e-8):
    """Each pixel's feature vector scaled to unit mean square (ProGAN's generator normalization)."""
    return x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + eps)


def minibatch_stddev(x, group_size: int = 4, eps: float = 1e-8):
    """x with one more feature map: the standard deviation of each feature over a group of
    `group_size` consecutive examples, averaged over features and pixels, the same for every
    pixel of every example of the group. Groups of consecutive examples stay on one device when
    a batch is sharded. The group is the largest divisor of the batch up to `group_size`."""
    n, h, w, c = x.shape
    g = max(d for d in range(1, min(group_size, n) + 1) if n % d == 0)
    y = x.reshape(n // g, g, h, w, c)
    std = jnp.sqrt(jnp.var(y, axis=1) + eps)  # (n/g, h, w, c)
    feature = jnp.mean(std, axis=(1, 2, 3))  # one per group
    feature = jnp.broadcast_to(jnp.repeat(feature, g)[:, None, None, None], (n, h, w, 1))
    return jnp.concatenate([x, feature.astype(x.dtype)], axis=-1)


def standard_normal(key, shape, dtype=jnp.float32):
    """N(0, 1) weights, drawn as a flat vector and reshaped: XLA:CPU compiles a draw of an N-d
    shape far more slowly (one (3, 3, 8, 8) draw 5.1 s against 0.55 s flat, measured here), and
    init compiles one per parameter shape."""
    return jax.random.normal(key, (math.prod(shape),), dtype).reshape(shape)


class EqualizedConv(nn.Module):
    """Stride-1 'same' convolution whose kernel is stored N(0, 1) and used times
    gain / sqrt(fan_in) (equalized learning rate)."""

    features: int
    kernel_size: int = 3
    gain: float = math.sqrt(2.0)
    impl: str = "fast"

    @nn.compact
    def __call__(self, x):
        k, cin = self.kernel_size, x.shape[-1]
        w = self.param("kernel", standard_normal, (k, k, cin, self.features), jnp.float32)
        scale = self.gain / math.sqrt(k * k * cin)
        pad = ((k // 2, (k - 1) // 2),) * 2
        y = conv.conv_any(x, w * scale, (1, 1), pad, self.impl)
        return y + self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)


class EqualizedDense(nn.Module):
    """Dense layer with the equalized learning rate of `EqualizedConv`."""

    features: int
    gain: float = math.sqrt(2.0)

    @nn.compact
    def __call__(self, x):
        w = self.param("kernel", standard_normal, (x.shape[-1], self.features), jnp.float32)
        y = x @ (w * (self.gain / math.sqrt(x.shape[-1])))
        return y + self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)


def _act(x):
    return nn.leaky_relu(x, LEAKY_SLOPE)


def _check_stage(stage, num_stages: int) -> int:
    k = num_stages - 1 if stage is None else stage
    if not 0 <= k < num_stages:
        raise ValueError(f"stage {stage} of a network with {num_stages} stages (0..{num_stages - 1})")
    return k


def _is_one(alpha) -> bool:
    """alpha is the Python constant 1 (no fade to compute), not a traced value."""
    return isinstance(alpha, (int, float)) and alpha == 1


def _fade(alpha, old, new):
    # (1 - a) * old + a * new: exactly `old` at a = 0 and exactly `new` at a = 1.
    return (1.0 - alpha) * old + alpha * new


class _GBlock(nn.Module):
    features: int
    impl: str

    @nn.compact
    def __call__(self, x, size: int):
        x = upsample(x, size)
        x = pixel_norm(_act(EqualizedConv(self.features, 3, impl=self.impl)(x)))
        return pixel_norm(_act(EqualizedConv(self.features, 3, impl=self.impl)(x)))


class ProGenerator(nn.Module):
    """z (+ label) -> images of stage `stage`'s size (module docstring). Output linear."""

    out_shape: Sequence[int]
    n_feature: int = 64  # channels at the largest map, doubled towards 4x4
    max_features: int = 512
    start_size: int = 4
    conv_impl: str = "fast"
    num_classes: int = 0
    axis_name: str | None = None

    def setup(self):
        height, width, channels = self.out_shape
        if height != width:
            raise ValueError(f"progressive growing needs square images, not {height}x{width}; "
                             "set data.image_size")
        self.sizes = sizes(height, self.start_size)
        widths = _channels(len(self.sizes), self.n_feature, self.max_features)
        self.widths = widths
        self.head = EqualizedDense(self.sizes[0] ** 2 * widths[0], gain=math.sqrt(2.0) / 4)
        self.head_conv = EqualizedConv(widths[0], 3, impl=self.conv_impl)
        self.blocks = [_GBlock(c, self.conv_impl) for c in widths[1:]]
        self.to_rgb = [EqualizedConv(channels, 1, gain=1.0, impl=self.conv_impl) for _ in widths]

    def __call__(self, z, labels=None, *, train: bool = True, stage: int | None = None, alpha=1.0):
        del train
        k = _check_stage(stage, len(self.sizes))
        initializing = self.is_initializing()
        last = len(self.sizes) - 1 if initializing else k  # init creates every block
        x = pixel_norm(z)
        if self.num_classes:
            x = jnp.concatenate([x, jax.nn.one_hot(labels, self.num_classes, dtype=x.dtype)], axis=-1)
        r = self.sizes[0]
        h = pixel_norm(_act(self.head(x).reshape(z.shape[0], r, r, self.widths[0])))
        h = pixel_norm(_act(self.head_conv(h)))
        features = [h]
        for j in range(1, last + 1):
            h = self.blocks[j - 1](h, self.sizes[j])
            features.append(h)
        if initializing:
            for j in range(len(self.sizes)):
                self.to_rgb[j](features[j])
        image = self.to_rgb[k](features[k])
        if k > 0 and not _is_one(alpha):
            image = _fade(alpha, upsample(self.to_rgb[k - 1](features[k - 1]), self.sizes[k]), image)
        return image.astype(jnp.float32)


class _DBlock(nn.Module):
    features: tuple[int, int]
    impl: str

    @nn.compact
    def __call__(self, x, size: int):
        x = _act(EqualizedConv(self.features[0], 3, impl=self.impl)(x))
        x = _act(EqualizedConv(self.features[1], 3, impl=self.impl)(x))
        return downsample(x, size)


class ProCritic(nn.Module):
    """images of stage `stage`'s size (+ label) -> one score (a logit) per image."""

    n_feature: int = 64
    max_features: int = 512
    start_size: int = 4
    mbstd_group: int = 4  # minibatch standard deviation over groups of this many examples (0: off)
    conv_impl: str = "fast"
    num_classes: int = 0
    axis_name: str | None = None

    @nn.compact
    def __call__(self, x, labels=None, *, train: bool = True, stage: int | None = None, alpha=1.0):
        del train
        n, height, width, _ = x.shape
        initializing = self.is_initializing()
        if initializing:  # initialised on full-size images, with every stage's layers
            num = len(sizes(height, self.start_size))
        else:  # the number of stages is that of its from_rgb layers
            num = sum(name.startswith("from_rgb_") for name in self.variables["params"])
        k = _check_stage(stage, num)
        # Every stage but the last has the size start_size * 2^k; the last is the images'.
        all_sizes = [self.start_size * 2 ** j for j in range(num - 1)] + [height if k == num - 1 else 0]
        if all_sizes[k] != height or height != width:
            raise ValueError(f"stage {k} of this critic takes {all_sizes[k]}x{all_sizes[k]} images, "
                             f"not {height}x{width}")
        widths = _channels(num, self.n_feature, self.max_features)
        from_rgb = [EqualizedConv(c, 1, impl=self.conv_impl, name=f"from_rgb_{j}") for j, c in enumerate(widths)]
        blocks = [_DBlock((widths[j], widths[j - 1]), self.conv_impl, name=f"block_{j}") for j in range(1, num)]
        if initializing:
            for j in range(num - 1):
                from_rgb[j](downsample_to_stage(x, all_sizes, j))
        h = _act(from_rgb[k](x))
        if k > 0:
            h = blocks[k - 1](h, all_sizes[k - 1])
            if initializing or not _is_one(alpha):
                old = _act(from_rgb[k - 1](downsample(x, all_sizes[k - 1])))
                h = _fade(alpha, old, h)
            for j in range(k - 1, 0, -1):
                h = blocks[j - 1](h, all_sizes[j - 1])
        if self.mbstd_group:
            h = minibatch_stddev(h, self.mbstd_group)
        h = _act(EqualizedConv(widths[0], 3, impl=self.conv_impl, name="final_conv")(h))
        h = _act(EqualizedDense(widths[0], name="final_dense")(h.reshape(n, -1)))
        score = EqualizedDense(1, gain=1.0, name="score")(h)[:, 0]
        if self.num_classes:
            embed = nn.Embed(self.num_classes, widths[0], name="projection")(labels)
            score = score + jnp.sum(embed * h, axis=-1)
        return score.astype(jnp.float32)
