"""What every image source shares: the batch stream, reference sets, and pixel conversions.

A source hands `ImageDataset` its splits as `Split`s (random access to uint8 (n, H, W, C) images
and int labels, already at the configured size and channels); `ImageDataset` does the rest in one
place: deterministic shuffling (a new permutation each epoch, a pure function of the seed and the
epoch), sharding, optional horizontal flips, and scaling to float32 in [-1, 1].

Batch `i` of the global stream holds the examples at stream positions [i*G, (i+1)*G) with G the
global batch size; position p is example perm_{p // N}[p % N] of the training split. So a stream
started at batch `start` continues exactly where an earlier one stopped, and process `s` of
`num_shards` reads only its slice [s*B, (s+1)*B) of every global batch.
"""
from __future__ import annotations

import concurrent.futures
import copy
import itertools
import os
import threading
from typing import Callable, Iterator, Protocol, Sequence

import numpy as np
from PIL import Image, ImageColor

from jaxgan.data import DataError

FILTERS = {"nearest": Image.Resampling.NEAREST, "box": Image.Resampling.BOX,
           "bilinear": Image.Resampling.BILINEAR, "hamming": Image.Resampling.HAMMING,
           "bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS}
# How an image whose aspect ratio differs from the target's is fitted: 'stretch' resizes it as is,
# 'crop' cuts the centre to the target's aspect first, 'pad' letterboxes it on the background.
FIT_POLICIES = ("stretch", "crop", "pad")
_REFERENCE_SEED = 20_240_601  # reference subsets do not depend on the run's seed


class Split(Protocol):
    """Random access to one split at its final size: `get(indices) -> (uint8 images, labels)`."""

    def __len__(self) -> int: ...

    def get(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]: ...


class ArraySplit:
    """A split held in memory."""

    def __init__(self, images: np.ndarray, labels: np.ndarray | None = None):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.images)

    def get(self, indices):
        return self.images[indices], None if self.labels is None else self.labels[indices]


class LazySplit:
    """A split decoded on demand by `load(i) -> (uint8 image, label)`, on a pool of threads
    (Pillow and zlib release the GIL while decoding)."""

    def __init__(self, size: int, load: Callable[[int], tuple[np.ndarray, int | None]],
                 labelled: bool, workers: int = 0):
        self.size, self.load, self.labelled = size, load, labelled
        self.workers = workers or min(8, os.cpu_count() or 1)
        self._pool = None

    def __len__(self):
        return self.size

    def get(self, indices):
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(self.workers, "jaxgan-decode")
        items = list(self._pool.map(self.load, [int(i) for i in indices]))
        images = np.stack([im for im, _ in items])
        labels = np.array([lb for _, lb in items], dtype=np.int32) if self.labelled else None
        return images, labels


class SubsetSplit:
    """The first `n` examples of another split (`data.num_examples`)."""

    def __init__(self, split: Split, n: int):
        self.split, self.n = split, min(n, len(split))

    def __len__(self):
        return self.n

    def get(self, indices):
        return self.split.get(indices)


def to_unit_range(images: np.ndarray) -> np.ndarray:
    """uint8 pixels -> float32 in [-1, 1]: the one place where this happens."""
    return images.astype(np.float32) * np.float32(1 / 127.5) - np.float32(1.0)


class ImageDataset:
    """Labelled or unlabelled images with the stream contract of `jaxgan.data`."""

    kind = "images"

    def __init__(self, name: str, splits: dict[str, Split | Callable[[], Split]], *, seed: int,
                 flip: bool = False, num_classes: int = 0, class_names: Sequence[str] = (),
                 train_split: str = "train", num_examples: int = 0, source: str = "",
                 use_labels: bool = True):
        self.name, self.source, self.seed, self.flip = name, source, seed, flip
        self._splits = dict(splits)
        self.train_split = train_split
        train = self._split(train_split)
        if num_examples:
            train = SubsetSplit(train, num_examples)
            self._splits[train_split] = train
        if len(train) == 0:
            raise DataError(f"dataset {name!r} ({source}) has no examples in split {train_split!r}")
        self._train = train
        first, labels = train.get(np.array([0]))
        self.shape = tuple(first.shape[1:])
        self.num_classes = num_classes if (use_labels and labels is not None) else 0
        self.class_names = list(class_names) if self.num_classes else []
        self._perms: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()

    @property
    def num_examples(self) -> int:
        return len(self._train)

    def with_seed(self, seed: int) -> "ImageDataset":
        """The same examples (shared, not copied) streamed in `seed`'s order."""
        other = copy.copy(self)
        other.seed, other._perms, other._lock = seed, {}, threading.Lock()
        return other

    def __repr__(self):
        return (f"ImageDataset({self.name!r}, source={self.source!r}, shape={self.shape}, "
                f"num_examples={self.num_examples}, num_classes={self.num_classes})")

    def _split(self, split: str) -> Split:
        if split not in self._splits:
            raise DataError(f"dataset {self.name!r} ({self.source}) has no {split!r} split; it has "
                            f"{sorted(self._splits)}")
        value = self._splits[split]
        if callable(value) and not hasattr(value, "get"):
            value = self._splits[split] = value()
        return value

    def _permutation(self, epoch: int) -> np.ndarray:
        with self._lock:  # streams may run on prefetch threads
            perm = self._perms.get(epoch)
            if perm is None:
                if len(self._perms) >= 4:
                    self._perms.pop(min(self._perms))
                perm = np.random.default_rng([self.seed, epoch]).permutation(self.num_examples)
                self._perms[epoch] = perm
            return perm

    def indices(self, positions: np.ndarray) -> np.ndarray:
        """Training-split indices of stream positions (a new shuffle each epoch)."""
        n = self.num_examples
        epochs, offsets = np.divmod(positions, n)
        out = np.empty_like(positions)
        for epoch in np.unique(epochs):
            where = epochs == epoch
            out[where] = self._permutation(int(epoch))[offsets[where]]
        return out

    def _batch(self, split: Split, indices: np.ndarray, flips: np.ndarray | None) -> dict:
        images, labels = split.get(indices)
        x = to_unit_range(images)
        if flips is not None and flips.any():
            x[flips] = x[flips][:, :, ::-1]
        batch = {"x": x}
        if self.num_classes:
            batch["label"] = labels.astype(np.int32)
        return batch

    def batches(self, batch_size: int, start: int = 0, *, shard_index: int = 0,
                num_shards: int = 1) -> Iterator[dict[str, np.ndarray]]:
        """Infinite stream of {'x': float32 (B, H, W, C) in [-1, 1], 'label'?: int32 (B,)} from
        global batch `start` on; process `shard_index` of `num_shards` gets its slice of each."""
        if not 0 <= shard_index < num_shards:
            raise ValueError(f"shard_index {shard_index} not in [0, {num_shards})")
        global_batch = batch_size * num_shards
        offset = np.arange(batch_size) + shard_index * batch_size
        for i in itertools.count(start):
            flips = None
            if self.flip:  # drawn for the global batch, so it does not depend on the sharding
                rng = np.random.default_rng([self.seed, 1, i])
                flips = (rng.random(global_batch) < 0.5)[offset]
            yield self._batch(self._train, self.indices(i * global_batch + offset), flips)

    def reference(self, n: int, split: str = "train") -> dict[str, np.ndarray]:
        """`n` real examples of `split`, a fixed subset (the whole split when n >= its size),
        unflipped, in the stream's format."""
        data = self._split(split)
        size = len(data)
        if n >= size:
            indices = np.arange(size)
        else:
            indices = np.sort(np.random.default_rng(_REFERENCE_SEED).permutation(size)[:n])
        return self._batch(data, indices, None)


# ---- pixel conversions shared by the sources -------------------------------------------------

def parse_colour(spec: str) -> tuple[int, int, int]:
    try:
        return ImageColor.getrgb(spec)[:3]
    except ValueError:
        raise DataError(f"data.background = {spec!r} is not a colour; use a name like 'white' or "
                        "'black', or '#rrggbb'") from None


def pil_to_array(image: Image.Image, channels: int, background: tuple[int, int, int]) -> np.ndarray:
    """Any Pillow image -> uint8 (H, W, channels); channels 0 keeps 1 (gray), 3 (colour) or 4
    (with transparency). Transparency is composited on `background` unless channels == 4."""
    has_alpha = image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info
    gray = image.mode in ("1", "L", "LA", "La", "I", "I;16", "F") or (
        image.mode == "P" and _gray_palette(image))
    if channels == 0:
        channels = 4 if has_alpha else (1 if gray else 3)
    if channels == 4:
        return np.asarray(image.convert("RGBA"))
    if has_alpha:
        rgba = image.convert("RGBA")
        base = Image.new("RGBA", rgba.size, background + (255,))
        image = Image.alpha_composite(base, rgba).convert("RGB")
    elif image.mode in ("I", "I;16", "F"):
        image = _to_8bit(image)
    image = image.convert("L" if channels == 1 else "RGB")
    out = np.asarray(image)
    return out[..., None] if channels == 1 else out


def _gray_palette(image: Image.Image) -> bool:
    palette = image.getpalette()
    if not palette:
        return False
    rgb = np.array(palette[: len(palette) // 3 * 3]).reshape(-1, 3)
    return bool((rgb == rgb[:, :1]).all())


def _to_8bit(image: Image.Image) -> Image.Image:
    a = np.asarray(image).astype(np.float64)
    high = 65535.0 if image.mode.startswith("I") and a.max() > 255 else max(a.max(), 1.0)
    return Image.fromarray(np.clip(a / high * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")


def fit(image: Image.Image, size: tuple[int, int], policy: str = "stretch",
        resample: str = "bicubic", fill=(0, 0, 0)) -> Image.Image:
    """Resize a Pillow image to `size` = (height, width) under a crop-or-pad `policy`."""
    h, w = size
    if image.size == (w, h):
        return image
    iw, ih = image.size
    if policy == "crop" and iw * h != ih * w:
        if iw * h > ih * w:  # too wide
            cw = max(1, round(ih * w / h))
            left = (iw - cw) // 2
            image = image.crop((left, 0, left + cw, ih))
        else:
            ch = max(1, round(iw * h / w))
            top = (ih - ch) // 2
            image = image.crop((0, top, iw, top + ch))
    elif policy == "pad" and iw * h != ih * w:
        scale = min(w / iw, h / ih)
        inner = image.resize((max(1, round(iw * scale)), max(1, round(ih * scale))), FILTERS[resample])
        canvas_fill = {"L": fill[0], "RGBA": (0, 0, 0, 0), "RGBa": (0, 0, 0, 0),
                       "LA": (0, 0)}.get(image.mode, fill)
        canvas = Image.new(image.mode, (w, h), canvas_fill)
        canvas.paste(inner, ((w - inner.size[0]) // 2, (h - inner.size[1]) // 2))
        return canvas
    return image.resize((w, h), FILTERS[resample])


def convert_array(images: np.ndarray, channels: int, size: tuple[int, int] | None,
                  background=(0, 0, 0), policy: str = "stretch",
                  resample: str = "bicubic") -> np.ndarray:
    """uint8 (N, H, W, C) -> uint8 (N, h, w, channels), for sources that come as arrays."""
    c = images.shape[-1]
    channels = channels or c
    if channels != c:
        images = _convert_channels(images, channels, background)
    if size is None or tuple(images.shape[1:3]) == tuple(size):
        return images
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[channels]
    out = np.empty((len(images), *size, channels), np.uint8)

    def resize(k):
        pil = Image.fromarray(images[k][..., 0] if channels == 1 else images[k], mode)
        if mode == "RGBA":
            pil = pil.convert("RGBa")  # premultiplied alpha: no dark fringes
        pil = fit(pil, size, policy, resample, background)
        out[k] = np.asarray(pil.convert(mode) if mode == "RGBA" else pil).reshape(*size, channels)

    if len(images) < 64:
        for k in range(len(images)):
            resize(k)
    else:  # Pillow releases the GIL while resampling
        with concurrent.futures.ThreadPoolExecutor(min(8, os.cpu_count() or 1)) as pool:
            list(pool.map(lambda lo: [resize(k) for k in range(lo, min(lo + 512, len(images)))],
                          range(0, len(images), 512)))
    return out


def _convert_channels(images: np.ndarray, channels: int, background) -> np.ndarray:
    c = images.shape[-1]
    if c == 4 and channels != 4:
        alpha = images[..., 3:].astype(np.float32) / 255.0
        bg = np.asarray(background, np.float32)
        rgb = images[..., :3].astype(np.float32) * alpha + bg * (1.0 - alpha)
        images, c = np.clip(rgb + 0.5, 0, 255).astype(np.uint8), 3
    if c == channels:
        return images
    if c == 3 and channels == 1:  # ITU-R 601-2 luma, as Pillow's convert('L')
        luma = images.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        return np.clip(luma + 0.5, 0, 255).astype(np.uint8)[..., None]
    if c == 1 and channels in (3, 4):
        images, c = np.repeat(images, 3, axis=-1), 3
    if c == 3 and channels == 4:
        opaque = np.full(images.shape[:-1] + (1,), 255, np.uint8)
        return np.concatenate([images, opaque], axis=-1)
    return images


def target_size(data_config, native: tuple[int, int] | None) -> tuple[int, int] | None:
    """(height, width) the config asks for; `native` when it asks for none (image_size 0)."""
    side = data_config.get("image_size", 0)
    h = data_config.get("image_height", 0) or side
    w = data_config.get("image_width", 0) or side
    if h and w:
        return (h, w)
    if h or w:
        raise DataError("set both data.image_height and data.image_width, or data.image_size")
    return native


def labels_wanted(data_config) -> bool:
    return bool(data_config.get("use_labels", True))


def check_num_classes(data_config, found: int, name: str):
    asked = data_config.get("num_classes", 0)
    if asked and found and asked != found:
        raise DataError(f"data.num_classes = {asked} but {name!r} has {found} classes; leave "
                        "data.num_classes at 0 to take the dataset's")
