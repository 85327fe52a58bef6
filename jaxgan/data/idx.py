"""IDX files, the MNIST file format (gzipped or not): MNIST and Fashion-MNIST without TensorFlow.

A directory holds `train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]` and the same with
`t10k-` (the test split); the `.idx3-ubyte` spelling of the original MNIST site is found too.
`fashion_mnist` defaults to Debian's /usr/share/datasets/fashion-mnist (`apt-get install
dataset-fashion-mnist`); `data.path` names any other directory.
"""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from jaxgan.data import DataError, images

DEFAULT_DIRS = {
    "fashion_mnist": ("/usr/share/datasets/fashion-mnist",),
    "mnist": ("/usr/share/datasets/mnist",),
}
CLASS_NAMES = {
    "fashion_mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                      "Sneaker", "Bag", "Ankle boot"],
    "mnist": [str(d) for d in range(10)],
}
NAMES = tuple(DEFAULT_DIRS)
_PREFIXES = {"train": ("train",), "test": ("t10k", "test")}
_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
           0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read(path: str | os.PathLike) -> np.ndarray:
    """The array in one IDX file (gzip detected from its magic bytes)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(f"cannot read IDX file {str(path)!r}: {e}; the file is damaged or "
                        "truncated: download it again") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES or raw[3] == 0:
        raise DataError(f"{str(path)!r} is not an IDX file (its first bytes are {raw[:4].hex()!r}, "
                        "expected 0000 then a type code and the number of dimensions)")
    dtype, ndim = np.dtype(_DTYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"IDX file {str(path)!r} is truncated inside its header")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, 4))
    expected = header + int(np.prod(dims)) * dtype.itemsize
    if len(raw) != expected:
        raise DataError(f"IDX file {str(path)!r} has {len(raw)} bytes but its header "
                        f"(shape {dims}) needs {expected}: it is truncated or damaged; download it "
                        "again")
    return np.frombuffer(raw, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def _find(directory: Path, split: str, what: str) -> Path | None:
    dims = 3 if what == "images" else 1
    for prefix in _PREFIXES[split]:
        for stem in (f"{prefix}-{what}-idx{dims}-ubyte", f"{prefix}-{what}.idx{dims}-ubyte"):
            for name in (stem, stem + ".gz"):
                if (directory / name).is_file():
                    return directory / name
    return None


def directory_for(name: str, path: str = "") -> Path | None:
    """The directory holding `name`'s training images, or None."""
    candidates = [path] if path else DEFAULT_DIRS.get(name, ())
    for d in candidates:
        if _find(Path(d).expanduser(), "train", "images"):
            return Path(d).expanduser()
    return None


def missing_message(name: str, path: str = "") -> str:
    where = repr(path) if path else " or ".join(repr(d) for d in DEFAULT_DIRS.get(name, ()))
    get = {"fashion_mnist": "apt-get install dataset-fashion-mnist, or ",
           "mnist": "download the four files from https://yann.lecun.com/exdb/mnist/ and "}.get(name, "")
    return (f"no IDX files for {name!r} in {where} (looked for train-images-idx3-ubyte[.gz] and "
            f"train-labels-idx1-ubyte[.gz]); {get}pass --config.data.path=DIR with the IDX files, "
            f"or use --config.data.source=tfds with TensorFlow installed to let tfds download "
            f"{name!r}")


def _load_split(directory: Path, split: str, data_config, labelled: bool, limit: int = 0):
    images_path = _find(directory, split, "images")
    x = read(images_path)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4):
        raise DataError(f"{str(images_path)!r} holds an array of shape {x.shape}; expected images "
                        "(N, H, W) or (N, H, W, C) with C in 1, 3, 4")
    if x.dtype != np.uint8:
        x = np.clip(x, 0, 255).astype(np.uint8)
    y = None
    if labelled:
        labels_path = _find(directory, split, "labels")
        if labels_path is None:
            raise DataError(f"{str(images_path)!r} has no labels file beside it "
                            f"({split}-labels-idx1-ubyte[.gz]); add it or set "
                            "--config.data.use_labels=False")
        y = read(labels_path).astype(np.int32).reshape(-1)
        if len(y) != len(x):
            raise DataError(f"{str(labels_path)!r} has {len(y)} labels for {len(x)} images in "
                            f"{str(images_path)!r}")
    if limit:
        x, y = x[:limit], None if y is None else y[:limit]
    size = images.target_size(data_config, None)
    x = images.convert_array(x, data_config.get("channels", 0), size,
                             images.parse_colour(data_config.get("background", "black")),
                             data_config.get("fit", "stretch"),
                             data_config.get("resize_filter", "bicubic"))
    return images.ArraySplit(x, y)


def build(data_config, seed: int, name: str | None = None,
          directory: Path | None = None) -> images.ImageDataset:
    name = name or data_config.name
    path = data_config.get("path", "")
    if directory is None:
        if not path and name not in DEFAULT_DIRS:
            raise DataError(f"IDX dataset {name!r} has no default directory (known: {list(NAMES)}); "
                            "pass --config.data.path=DIR with the IDX files")
        directory = directory_for(name, path)
        if directory is None:
            raise DataError(missing_message(name, path))
    labelled = images.labels_wanted(data_config)
    splits = {s: (lambda s=s: _load_split(directory, s, data_config, labelled))
              for s in _PREFIXES if _find(directory, s, "images")}
    train_split = data_config.get("split", "train") or "train"
    if train_split not in splits:
        raise DataError(f"no {train_split!r} split in {str(directory)!r}; it has {sorted(splits)}")
    split = _load_split(directory, train_split, data_config, labelled,
                        data_config.get("num_examples", 0))
    splits[train_split] = split
    num_classes = 0
    if split.labels is not None:
        num_classes = int(split.labels.max()) + 1
    names = CLASS_NAMES.get(name, [])
    if len(names) != num_classes:
        names = [str(k) for k in range(num_classes)]
    images.check_num_classes(data_config, num_classes, name)
    return images.ImageDataset(name, splits, seed=seed, flip=data_config.get("flip", False),
                               num_classes=num_classes, class_names=names,
                               train_split=train_split, num_examples=data_config.get("num_examples", 0),
                               source="idx", use_labels=labelled)

