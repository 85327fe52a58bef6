"""Procedural labelled images of any size: end-to-end tests and tiny runs without any files.

Example k of a split is drawn from parameters fixed by (`data.distribution_seed`, split, k): a
shape chosen by its class (disk, square, triangle, ring, plus, diamond, cross, striped disk, two
bars, checkered square; classes beyond ten reuse the shapes in other colours), placed, scaled and
rotated at random, in a class-dependent colour (or gray level) over a random two-colour gradient
background. Classes differ in shape and colour, so a conditional GAN has something to learn, and
every example differs from the others. RGBA images are transparent outside the shape.
"""
from __future__ import annotations

import colorsys

import numpy as np

from jaxgan.data import DataError, images

NUM_SHAPES = 10
DEFAULT_SIZE = 32
DEFAULT_CHANNELS = 3
DEFAULT_EXAMPLES = 10_000
CACHE_BYTES = 256 * 2**20


def _shape_masks(shape_ids: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Boolean (n, H, W) masks of each example's shape in its own rotated, scaled frame."""
    out = np.zeros(u.shape, bool)
    au, av = np.abs(u), np.abs(v)
    r2 = u * u + v * v
    for s in np.unique(shape_ids):
        k = shape_ids == s
        uu, vv, aa, bb, rr = u[k], v[k], au[k], av[k], r2[k]
        if s == 0:  # disk
            m = rr < 1.0
        elif s == 1:  # square
            m = np.maximum(aa, bb) < 0.8
        elif s == 2:  # triangle
            m = (vv > -0.65) & (aa < 0.6 * (0.75 - vv))
        elif s == 3:  # ring
            m = (rr < 1.0) & (rr > 0.36)
        elif s == 4:  # plus
            m = ((aa < 0.3) & (bb < 0.9)) | ((bb < 0.3) & (aa < 0.9))
        elif s == 5:  # diamond
            m = aa + bb < 1.0
        elif s == 6:  # diagonal cross
            m = ((np.abs(uu - vv) < 0.35) | (np.abs(uu + vv) < 0.35)) & (np.maximum(aa, bb) < 0.85)
        elif s == 7:  # disk with stripes
            m = (rr < 1.0) & (np.floor((vv + 1.0) * 2.5) % 2 == 0)
        elif s == 8:  # two bars
            m = (aa > 0.3) & (aa < 0.75) & (bb < 0.85)
        else:  # checkered square
            m = (np.maximum(aa, bb) < 0.85) & ((np.floor((uu + 1) * 2) + np.floor((vv + 1) * 2)) % 2 == 0)
        out[k] = m
    return out


class ShapesSplit:
    """`size` procedural examples; parameters are drawn once, pixels rendered on access."""

    def __init__(self, size: int, num_classes: int, hw: tuple[int, int], channels: int, seed: int):
        rng = np.random.default_rng(seed)
        self.size, self.hw, self.channels = size, hw, channels
        classes = max(num_classes, 1)
        self.labels = rng.integers(classes, size=size).astype(np.int32) if num_classes else None
        kinds = self.labels if num_classes else rng.integers(NUM_SHAPES, size=size)
        self.shape_ids = kinds % NUM_SHAPES
        self.centre = rng.uniform(-0.3, 0.3, (size, 2))
        self.scale = rng.uniform(0.4, 0.65, size)
        self.angle = rng.uniform(0, 2 * np.pi, size)
        if num_classes:  # a hue per class, spread by the golden ratio, jittered a little
            hue = (kinds * 0.618034 + (kinds // NUM_SHAPES) * 0.29) % 1.0 + rng.normal(0, 0.02, size)
            level = 0.55 + 0.45 * ((kinds * 7) % max(classes, 2)) / max(classes - 1, 1)
        else:
            hue, level = rng.uniform(0, 1, size), rng.uniform(0.55, 1.0, size)
        value = rng.uniform(0.75, 1.0, size)
        self.fg = np.array([colorsys.hsv_to_rgb(h % 1.0, 0.85, val) for h, val in zip(hue, value)])
        self.fg_gray = np.clip(level + rng.normal(0, 0.04, size), 0, 1)
        self.bg = rng.uniform(0.0, 0.35, (size, 2, 3))  # two dark colours of a gradient
        self.bg_dir = rng.uniform(0, 2 * np.pi, size)
        self._cache = self._done = None
        if size * hw[0] * hw[1] * channels <= CACHE_BYTES:
            self._cache = np.empty((size, *hw, channels), np.uint8)
            self._done = np.zeros(size, bool)

    def __len__(self):
        return self.size

    def get(self, indices):
        """Rendered examples; kept once rendered when the whole split fits in CACHE_BYTES."""
        indices = np.asarray(indices)
        if self._cache is None:
            return self._render(indices)
        missing = np.unique(indices[~self._done[indices]])
        if len(missing):
            self._cache[missing] = self._render(missing)[0]
            self._done[missing] = True
        return self._cache[indices], None if self.labels is None else self.labels[indices]

    def _render(self, indices):
        h, w = self.hw
        f32 = lambda a: np.asarray(a, np.float32)
        y = f32(np.linspace(-1, 1, h))[None, :, None]
        x = f32(np.linspace(-1, 1, w))[None, None, :]
        cx, cy = f32(self.centre[indices, 0, None, None]), f32(self.centre[indices, 1, None, None])
        inv = f32(1.0 / self.scale[indices, None, None])
        cos = f32(np.cos(self.angle[indices])[:, None, None]) * inv
        sin = f32(np.sin(self.angle[indices])[:, None, None]) * inv
        dx, dy = x - cx, y - cy
        mask = _shape_masks(self.shape_ids[indices], dx * cos + dy * sin, dy * cos - dx * sin)
        d = self.bg_dir[indices]
        t = (x * f32(np.cos(d) / 3)[:, None, None] + y * f32(np.sin(d) / 3)[:, None, None] + 0.5)[..., None]
        c0, c1 = f32(self.bg[indices, 0, None, None, :]), f32(self.bg[indices, 1, None, None, :])
        if self.channels == 1:
            fg = f32(self.fg_gray[indices, None, None, None])
            c0, c1 = c0.mean(-1, keepdims=True), c1.mean(-1, keepdims=True)
        else:
            fg = f32(self.fg[indices, None, None, :])
        img = np.where(mask[..., None], fg, c0 + (c1 - c0) * t)
        out = (img * 255.0 + 0.5).astype(np.uint8)
        if self.channels == 4:
            out = np.concatenate([out, mask[..., None].astype(np.uint8) * 255], axis=-1)
        return out, None if self.labels is None else self.labels[indices]


def build(data_config, seed: int) -> images.ImageDataset:
    num_classes = data_config.get("num_classes", 0)
    channels = data_config.get("channels", 0) or DEFAULT_CHANNELS
    if channels not in (1, 3, 4):
        raise DataError(f"data.channels = {channels}: synthetic images have 1, 3 or 4 channels")
    hw = images.target_size(data_config, (DEFAULT_SIZE, DEFAULT_SIZE))
    size = data_config.get("num_examples", 0) or DEFAULT_EXAMPLES
    data_seed = data_config.get("distribution_seed", 0)
    splits = {
        "train": ShapesSplit(size, num_classes, hw, channels, seed=[data_seed, 0]),
        "test": lambda: ShapesSplit(max(1, size // 6), num_classes, hw, channels, seed=[data_seed, 1]),
    }
    split = data_config.get("split", "train") or "train"
    if split not in splits:
        raise DataError(f"synthetic data has the splits 'train' and 'test', not {split!r}")
    return images.ImageDataset(
        data_config.get("name", "") or "shapes", splits, seed=seed, flip=data_config.get("flip", False),
        num_classes=num_classes, class_names=[f"class_{k}" for k in range(num_classes)],
        train_split=split, source="synthetic", use_labels=images.labels_wanted(data_config))
