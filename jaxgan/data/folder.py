"""Any folder of images: recursive, optional class labels from subfolder names, bad files skipped.

Images (png, jpg, bmp, webp, gif: first frame, tiff) are converted to the configured channels
(transparency composited on `data.background` unless channels = 4) and fitted to the configured
size (`data.fit`, `data.resize_filter`). `data.load_full` decodes everything into memory once;
otherwise each batch is decoded from disk on a pool of threads.

Bad data is skipped with a warning that counts it: files that are not images, corrupt or
truncated images. Nothing usable, or more than `data.max_bad_fraction` of the images bad, fails
with a DataError listing what was found. A folder with `train/` and `test/` (or `validation/`)
subfolders gives those splits; otherwise the whole folder is the 'train' split.
"""
from __future__ import annotations

import collections
import concurrent.futures
import os
import threading
import warnings
from pathlib import Path

import numpy as np
from absl import logging
from PIL import Image, ImageOps

from jaxgan.data import DataError, images

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff")
SPLIT_DIRS = {"train": ("train",), "test": ("test",), "validation": ("validation", "val", "valid")}
# Named folder datasets of the seed documents that have no download here: where to get them.
KNOWN = {
    "pokemon": ("64x64 RGB Pokemon sprites (seed 002)",
                "e.g. the Kaggle dataset 'kvpratama/pokemon-images-dataset' (819 sprites) or any "
                "folder of sprites; unzip it and pass --config.data.path=DIR"),
    "initials": ("grayscale decorated initials, about 3000 scans (seed 000)",
                 "e.g. the decorated initials of the British Library's 'Historic decorated "
                 "initials' collection or any folder of scans; pass --config.data.path=DIR"),
}
_BAD_ERRORS = (OSError, SyntaxError, ValueError, TypeError, IndexError, EOFError,
               Image.DecompressionBombError, Image.DecompressionBombWarning, ZeroDivisionError,
               MemoryError)


class _Files:
    """What a scan of one folder found."""

    def __init__(self, root: Path, folder_labels: str, class_names: list[str] | None = None):
        self.root = root
        self.paths: list[Path] = []
        self.others: collections.Counter = collections.Counter()  # non-image files by extension
        # Links are followed, but every real folder is entered once and every real file used once
        # (by device and inode): a link to a parent folder neither loops nor duplicates data.
        seen_dirs, seen_files = set(), set()
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            st = os.stat(dirpath)
            if (st.st_dev, st.st_ino) in seen_dirs:
                dirnames[:] = []
                continue
            seen_dirs.add((st.st_dev, st.st_ino))
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if name.startswith("."):  # .DS_Store, ._AppleDouble files
                    continue
                try:
                    fst = os.stat(os.path.join(dirpath, name))
                except OSError:  # a dangling link: counted as a bad file below
                    fst = None
                if fst is not None:
                    if (fst.st_dev, fst.st_ino) in seen_files:
                        continue
                    seen_files.add((fst.st_dev, fst.st_ino))
                ext = os.path.splitext(name)[1].lower()
                if ext in EXTENSIONS:
                    self.paths.append(Path(dirpath) / name)
                else:
                    self.others[ext or "(no extension)"] += 1
        parts = [p.relative_to(root).parts for p in self.paths]
        nested = [len(p) > 1 for p in parts]
        tops = sorted({p[0] for p in parts if len(p) > 1})
        use = folder_labels == "subfolders" or (
            folder_labels == "auto" and all(nested) and len(tops) >= 2)
        if folder_labels == "subfolders" and not all(nested):
            loose = [str(p) for p, n in zip(self.paths, nested) if not n][:3]
            raise DataError(f"data.folder_labels = 'subfolders' but {sum(not n for n in nested)} "
                            f"images lie directly in {str(root)!r} (e.g. {loose}); move them into "
                            "class subfolders or set data.folder_labels = 'none'")
        if class_names is not None:  # another split: the training split's classes
            use = bool(class_names)
            unknown = sorted(set(tops) - set(class_names)) if use else []
            if unknown:
                raise DataError(f"{str(root)!r} has class subfolders {unknown} that the training "
                                f"split lacks (its classes: {class_names})")
            tops = class_names
        self.class_names = tops if use else []
        index = {name: k for k, name in enumerate(tops)}
        self.labels = np.array([index[p[0]] for p in parts], np.int32) if use else None

    def describe(self) -> str:
        found = f"{len(self.paths)} image files"
        if self.others:
            found += " and " + ", ".join(f"{n} {ext}" for ext, n in self.others.most_common(5))
            found += " other files"
        return found


class _Decoder:
    """File -> uint8 array at the configured size and channels (channels/size fixed later)."""

    def __init__(self, channels: int, size, background, policy, resample):
        self.channels, self.size, self.background = channels, size, background
        self.policy, self.resample = policy, resample

    def open(self, path: Path) -> Image.Image:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.seek(0)  # first frame of a gif / animated webp
                image.load()
                if image.format in ("JPEG", "MPO", "TIFF", "WEBP"):
                    image = ImageOps.exif_transpose(image)
                return image.copy()

    def __call__(self, path: Path) -> np.ndarray:
        image = self.open(path)
        array = images.pil_to_array(image, self.channels, self.background)
        if self.size is not None and array.shape[:2] != tuple(self.size):
            mode = {1: "L", 3: "RGB", 4: "RGBA"}[array.shape[-1]]
            pil = Image.fromarray(array[..., 0] if mode == "L" else array, mode)
            if mode == "RGBA":
                pil = pil.convert("RGBa")  # resize with premultiplied alpha: no dark fringes
            pil = images.fit(pil, self.size, self.policy, self.resample, self.background)
            array = np.asarray(pil.convert(mode) if mode == "RGBA" else pil).reshape(*self.size, -1)
        return array


def _describe_error(e: BaseException) -> str:
    text = str(e).splitlines()[0] if str(e) else ""
    return f"{type(e).__name__}: {text}"[:200]


def _headers(paths: list[Path], workers: int):
    """((height, width), channels, None) of each file from its header, or (None, None, why)."""
    def header(path):
        try:
            with Image.open(path) as im:
                has_alpha = im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info
                gray = im.mode in ("1", "L", "LA", "I", "I;16", "F")
                return (im.size[1], im.size[0]), 4 if has_alpha else (1 if gray else 3), None
        except _BAD_ERRORS as e:
            return None, None, _describe_error(e)

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return list(pool.map(header, paths))


def _check_bad(root: Path, bad: dict, total: int, limit: float, found: str):
    if not bad:
        return
    listing = "; ".join(f"{p}: {why}" for p, why in list(bad.items())[:5])
    more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
    if len(bad) == total:
        beside = f" (the folder has {found})" if found != f"{total} image files" else ""
        raise DataError(f"none of the {total} image files in {str(root)!r} could be read{beside}: "
                        f"{listing}{more}; check that the folder holds images")
    if len(bad) > limit * total:
        raise DataError(f"{len(bad)} of {total} image files in {str(root)!r} are unreadable, more "
                        f"than data.max_bad_fraction = {limit}: {listing}{more}. Remove or replace "
                        "them, or raise --config.data.max_bad_fraction to skip them")
    logging.warning("Skipping %d of %d image files in %s that cannot be read: %s%s", len(bad),
                    total, root, listing, more)


class _StreamedLoad:
    """`load(i)` for a LazySplit; an unreadable file is replaced by the next readable one (a
    deterministic choice), with a warning and a count."""

    def __init__(self, decoder: _Decoder, paths, labels, limit: float, skipped: int = 0):
        self.decoder, self.paths, self.labels, self.limit = decoder, paths, labels, limit
        self.skipped = skipped  # files whose headers could not be read, out of `total`
        self.total = len(paths) + skipped
        self.bad: dict[int, str] = {}
        self._lock = threading.Lock()

    def __call__(self, i: int):
        for k in range(len(self.paths)):
            j = (i + k) % len(self.paths)
            if j in self.bad:
                continue
            try:
                return self.decoder(self.paths[j]), None if self.labels is None else int(self.labels[j])
            except _BAD_ERRORS as e:
                with self._lock:
                    self.bad[j] = _describe_error(e)
                    count = len(self.bad) + self.skipped
                logging.warning("Skipping unreadable image %s (%s); %d of %d skipped so far",
                                self.paths[j], self.bad[j], count, self.total)
                if count > self.limit * self.total:
                    raise DataError(f"{count} of {self.total} image files are unreadable, more "
                                    f"than data.max_bad_fraction = {self.limit} (the latest: "
                                    f"{self.paths[j]}: {self.bad[j]}); remove or replace them, or "
                                    "raise --config.data.max_bad_fraction") from None
        raise DataError("no image in the folder can be read")


def _split_dirs(root: Path) -> dict[str, Path]:
    found = {}
    for split, names in SPLIT_DIRS.items():
        for name in names:
            if (root / name).is_dir():
                found[split] = root / name
                break
    return found if "train" in found and len(found) >= 2 else {"train": root}


def _load_split(root: Path, data_config, size, channels, limit_examples: int = 0,
                class_names: list[str] | None = None):
    """Scan `root`; (Split, class names) with images at (size, channels)."""
    files = _Files(root, data_config.get("folder_labels", "auto"), class_names)
    found = files.describe()
    if not files.paths:
        others = ", ".join(f"{n} {ext}" for ext, n in sorted(files.others.items()))
        what = "is empty" if not files.others else f"holds no image files, only {others} files"
        raise DataError(f"folder {str(root)!r} {what}; jaxgan reads {', '.join(EXTENSIONS)} files "
                        "in it and its subfolders: check --config.data.path")
    paths, labels = files.paths, files.labels
    if limit_examples:
        paths, labels = paths[:limit_examples], None if labels is None else labels[:limit_examples]
    workers = data_config.get("workers", 0) or min(8, os.cpu_count() or 1)
    limit = data_config.get("max_bad_fraction", 0.1)
    background = images.parse_colour(data_config.get("background", "white"))
    policy, resample = data_config.get("fit", "stretch"), data_config.get("resize_filter", "bicubic")
    headers = None
    if size is None or not channels:
        headers = _headers(paths, workers)
        sizes = collections.Counter(s for s, _, _ in headers if s is not None)
        modes = collections.Counter(c for _, c, _ in headers if c is not None)
        if not sizes:
            bad = {p: why for p, (_, _, why) in zip(paths, headers)}
            _check_bad(root, bad, len(paths), limit, found)
        if size is None:
            size = max(sizes, key=lambda s: (sizes[s], s))
            if len(sizes) > 1:
                logging.warning(
                    "Images in %s have %d different sizes (%s); resizing all to the most common, "
                    "%dx%d. Set --config.data.image_size to choose.", root, len(sizes),
                    ", ".join(f"{h}x{w}: {n}" for (h, w), n in sizes.most_common(4)), *size)
        if not channels:
            channels = max(modes, key=lambda c: (modes[c], c))
            if len(modes) > 1:
                logging.info("Images in %s mix %s channels; converting all to %d (set "
                             "--config.data.channels to choose)", root, dict(modes), channels)
    decoder = _Decoder(channels, tuple(size), background, policy, resample)
    if not data_config.get("load_full", True):
        # Streamed: only the headers are read now; files that fail later are replaced then.
        headers = headers or _headers(paths, workers)
        bad = {p: why for p, (_, _, why) in zip(paths, headers) if why}
        _check_bad(root, bad, len(paths), limit, found)
        keep = [k for k, (_, _, why) in enumerate(headers) if not why]
        paths = [paths[k] for k in keep]
        labels = None if labels is None else labels[keep]
        load = _StreamedLoad(decoder, paths, labels, limit, skipped=len(bad))
        return images.LazySplit(len(paths), load, labels is not None, workers), files.class_names
    bytes_needed = len(paths) * size[0] * size[1] * channels
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if bytes_needed > memory // 2:
        raise DataError(f"{len(paths)} images of {size[0]}x{size[1]}x{channels} need "
                        f"{bytes_needed / 2**30:.1f} GiB, more than half this machine's memory; "
                        "set --config.data.load_full=False to read them from disk as needed")

    def decode(path):
        try:
            return decoder(path), None
        except _BAD_ERRORS as e:
            return None, _describe_error(e)

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(decode, paths))
    bad = {p: why for p, (_, why) in zip(paths, results) if why}
    _check_bad(root, bad, len(paths), limit, found)
    keep = [k for k, (_, why) in enumerate(results) if not why]
    x = np.stack([results[k][0] for k in keep])
    y = None if labels is None else labels[keep]
    return images.ArraySplit(x, y), files.class_names


def build(data_config, seed: int) -> images.ImageDataset:
    name, path = data_config.name, data_config.get("path", "")
    if not path:
        what, where = KNOWN.get(name, ("your images", "any folder of images"))
        raise DataError(f"data.source = 'folder' needs --config.data.path=DIR, a folder of "
                        f"{what}; get {where}" if name in KNOWN else
                        "data.source = 'folder' needs --config.data.path=DIR, a folder of images "
                        "(png, jpg, bmp, webp, gif; subfolders become class labels)")
    root = Path(path).expanduser()
    if not root.is_dir():
        hint = f" Get {KNOWN[name][1]}." if name in KNOWN else ""
        raise DataError(f"data.path = {path!r} is {'a file' if root.exists() else 'missing'}, not a "
                        f"folder of images.{hint}")
    split_dirs = _split_dirs(root)
    train_split = data_config.get("split", "train") or "train"
    if train_split not in split_dirs:
        raise DataError(f"folder {str(root)!r} has no {train_split!r} split; it has "
                        f"{sorted(split_dirs)}")
    size = images.target_size(data_config, None)
    channels = data_config.get("channels", 0)
    train, class_names = _load_split(split_dirs[train_split], data_config, size, channels,
                                     data_config.get("num_examples", 0))
    first, _ = train.get(np.array([0]))
    size, channels = first.shape[1:3], first.shape[3]

    def other(split):
        return lambda: _load_split(split_dirs[split], data_config, size, channels,
                                   class_names=class_names)[0]

    splits = {s: other(s) for s in split_dirs if s != train_split}
    splits[train_split] = train
    num_classes = len(class_names)
    images.check_num_classes(data_config, num_classes, name or str(root))
    return images.ImageDataset(
        name or root.name, splits, seed=seed, flip=data_config.get("flip", False),
        num_classes=num_classes, class_names=class_names, train_split=train_split,
        source="folder", use_labels=images.labels_wanted(data_config))
