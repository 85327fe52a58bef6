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


from jaxgan.data import flags, folder, idx, images, synthetic, tfds, toy2d  # noqa: E402

# source name -> (builder, dataset names it knows, or None when any name may be given)
SOURCES = {
    "toy2d": (toy2d.build, toy2d.NAMES),
    "synthetic": (synthetic.build, None),
    "idx": (idx.build, None),
    "tfds": (tfds.build, None),
    "folder": (folder.build, None),
    "flags": (flags.build, None),
}

# The channel counts an image source can be asked for (0 keeps the dataset's own).
CHANNELS = (0, 1, 3, 4)
FIT_POLICIES, FILTERS = images.FIT_POLICIES, images.FILTERS
# Class labels of an image folder: 'auto' takes first-level subfolder names when every image lies
# in one of at least two subfolders; 'subfolders' always does; 'none' never.
FOLDER_LABELS = ("auto", "subfolders", "none")


def names(source: str):
    return SOURCES[source][1]


def build(data_config, seed: int):
    if data_config.source not in SOURCES:
        raise DataError(f"unknown data source {data_config.source!r}; choose one of {list(SOURCES)}")
    builder, _ = SOURCES[data_config.source]
    return builder(data_config, seed)
