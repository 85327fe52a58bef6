"""Data sources chosen by `config.data.source`; each yields batches of numpy arrays.

The contract a source fulfils (see `images.ImageDataset` and `toy2d.GaussianMixture`):
attributes `shape` (one example), `kind` ('points' or 'images'), `num_classes` (0 when
unlabelled), `class_names`, `num_examples`, and `batches(batch_size, start, shard_index=,
num_shards=)`, an infinite, deterministic stream of {'x': ..., 'label'?: ...} dicts beginning at
batch index `start`, which is how a resumed run neither repeats nor skips examples. Image
datasets also give `reference(n, split)`, a fixed set of real examples (FID, sample grids).

Problems a user can cause or fix (a missing dataset, an unknown name, unreadable files) raise
`DataError`, whose message says what was found and what to do.
"""
from __future__ import annotations


class DataError(ValueError):
    """A dataset cannot be found or read; the message says what was found and what to do."""


from jaxgan.config import Field, Section, boolean, choice, floats, ints, text  # noqa: E402
from jaxgan.data import flags, folder, idx, images, letters, synthetic, tfds, toy2d  # noqa: E402

# source name -> (builder, dataset names it knows, or None when any name may be given)
SOURCES = {
    "toy2d": (toy2d.build, toy2d.NAMES),
    "synthetic": (synthetic.build, None),
    "idx": (idx.build, None),
    "tfds": (tfds.build, None),
    "folder": (folder.build, None),
    "flags": (flags.build, None),
    "letters": (letters.build, None),
}

# The channel counts an image source can be asked for (0 keeps the dataset's own).
CHANNELS = (0, 1, 3, 4)
FIT_POLICIES, FILTERS = images.FIT_POLICIES, images.FILTERS
# Class labels of an image folder: 'auto' takes first-level subfolder names when every image lies
# in one of at least two subfolders; 'subfolders' always does; 'none' never.
FOLDER_LABELS = ("auto", "subfolders", "none")


def _check(c) -> list[str]:
    d, problems = c.data, []
    if bool(d.image_height) != bool(d.image_width):
        problems.append(f"data.image_height = {d.image_height}, data.image_width = {d.image_width}: "
                        "set both (any H x W), or neither and data.image_size (square)")
    if d.source in ("flags", "letters") and d.image_height != d.image_width:
        problems.append(f"data.source = {d.source!r} renders square images; use data.image_size")
    return problems


SECTION = Section("data", {
    "source": Field("toy2d", choice(*SOURCES), "where examples come from"),
    "name": Field("grid", choice(lambda c: names(c.data.source) if c.data.source in SOURCES else None),
                  "the dataset of the source (toy2d: ring, grid, gaussian; tfds: its name)"),
    "path": Field("", text(), "files or folder to read (idx, folder; letters: fonts, empty = the system's)"),
    "dim": Field(2, ints(1), "toy2d: dimensions of the points"),
    "sigma": Field(0.0, floats(0.0), "toy2d: std of each mode (0: the named distribution's default)"),
    "distribution_seed": Field(0, ints(0), "toy2d gaussian: picks the distribution; synthetic: picks the images"),
    "image_size": Field(0, ints(0), "square images of this size (0: the dataset's own)"),
    "image_height": Field(0, ints(0), "H of H x W images; set with image_width (0: unset)"),
    "image_width": Field(0, ints(0), "W of H x W images; set with image_height (0: unset)"),
    "channels": Field(0, choice(*CHANNELS), "1 gray, 3 RGB, 4 RGBA (0: the dataset's own)"),
    "split": Field("train", text(), "dataset split"),
    "flip": Field(False, boolean(), "random horizontal flips"),
    "num_classes": Field(0, ints(0), "classes expected (0: the dataset's own); synthetic: classes made"),
    "use_labels": Field(True, boolean(), "pass class labels to conditional models"),
    "num_examples": Field(0, ints(0), "examples used (0: all; synthetic: 10000)"),
    "image_key": Field("image", text(), "tfds feature holding the image"),
    "label_key": Field("label", text(), "tfds feature holding the label"),
    "fit": Field("stretch", choice(*FIT_POLICIES), "how images of another aspect ratio are resized"),
    "resize_filter": Field("bicubic", choice(*FILTERS), "resampling filter"),
    "background": Field("white", text(), "colour transparent pixels are composited onto below 4 channels"),
    "folder_labels": Field("auto", choice(*FOLDER_LABELS), "class labels of an image folder"),
    "load_full": Field(True, boolean(), "decode the whole dataset into memory up front (False: read as needed)"),
    "max_bad_fraction": Field(0.1, floats(0.0, 1.0), "share of unreadable files skipped before a folder is refused"),
    "workers": Field(0, ints(0), "image decoding workers (0: the source's default)"),
    "cache_dir": Field("", text(), "flags, letters: where rendered images are cached (empty: ~/.cache/jaxgan)"),
    "characters": Field("upper", choice(*letters.CHARACTERS), "letters: the characters rendered, e.g. upper+lower+digits"),
}, check=_check)


def names(source: str):
    return SOURCES[source][1]


def build(data_config, seed: int):
    if data_config.source not in SOURCES:
        raise DataError(f"unknown data source {data_config.source!r}; choose one of {list(SOURCES)}")
    builder, _ = SOURCES[data_config.source]
    return builder(data_config, seed)
