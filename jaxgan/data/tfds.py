"""TensorFlow Datasets by name, read through `tfds.data_source` (random access, no TensorFlow).

Random access is what makes the stream contract cheap: example i of the shuffled epoch is read
directly, so resuming at a batch index and reading one shard per process need no skipping. Reading
a prepared dataset in the array_record format needs no TensorFlow; preparing one (the first
download) does, and so does reading a dataset that an earlier `tfds.load` prepared as TFRecord,
which is then loaded into memory through `tfds.as_numpy`.

`mnist` and `fashion_mnist` are read from local IDX files when present (see `idx.py`): Debian
ships Fashion-MNIST that way, and then neither TensorFlow nor a download is needed.
"""
from __future__ import annotations

import difflib

import numpy as np
from absl import logging

from jaxgan.data import DataError, idx, images


def _tfds():
    try:
        import tensorflow_datasets
    except ImportError as e:  # pragma: no cover - a dependency of jaxgan
        raise DataError(f"data.source = 'tfds' needs tensorflow-datasets ({e}); pip install "
                        "tensorflow-datasets importlib_resources") from None
    return tensorflow_datasets


def _builder(name: str, data_dir: str):
    tfds = _tfds()
    try:
        return tfds.builder(name, data_dir=data_dir or None)
    except tfds.core.registered.DatasetNotFoundError:
        close = difflib.get_close_matches(
            name, tfds.list_builders(with_community_datasets=False), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise DataError(f"tfds has no dataset {name!r}{hint} (the catalogue: "
                        "https://www.tensorflow.org/datasets/catalog/overview)") from None
    except Exception as e:
        raise DataError(f"cannot open tfds dataset {name!r}: {type(e).__name__}: {e}") from None


_PROBE = ("storage.googleapis.com", 443)  # where tfds downloads from (its GCS mirror)
_PROBE_TIMEOUT_S = 5


def _online() -> bool:
    """Whether the download host answers within seconds."""
    import socket

    try:
        socket.create_connection(_PROBE, timeout=_PROBE_TIMEOUT_S).close()
        return True
    except OSError:
        return False


def _data_source(builder, split: str):
    """A random-access source of `split`, preparing the dataset first when it is missing."""
    name = builder.info.full_name
    try:
        return builder.as_data_source(split=split)
    except Exception as first:
        if builder.is_prepared():
            if isinstance(first, NotImplementedError):  # prepared as TFRecord by tfds.load
                return _tfrecord_in_memory(builder, split)
            raise DataError(f"cannot read split {split!r} of tfds dataset {name!r} in "
                            f"{builder.data_dir!r}: {type(first).__name__}: {first}") from None
    if not _online():  # tfds would retry its downloads for minutes
        raise DataError(
            f"tfds dataset {name!r} is not prepared in {builder.data_dir!r} and this machine has no "
            f"network access to download it ({_PROBE[0]} unreachable within {_PROBE_TIMEOUT_S} s). Prepare "
            f"it on a machine with network (`tfds build {builder.name} --file_format=array_record`) "
            "and copy the folder here (--config.data.path=DATA_DIR), or use local files "
            "(--config.data.source=folder or idx)")
    logging.warning("tfds dataset %s is not in %s: downloading and preparing it (needs network "
                    "access and TensorFlow; a failing download is retried for a few minutes)",
                    name, builder.data_dir)
    try:
        builder.download_and_prepare(file_format="array_record")
    except Exception as e:
        raise DataError(
            f"tfds dataset {name!r} is not prepared in {builder.data_dir!r} and preparing it "
            f"failed ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}). Preparing "
            "needs TensorFlow (pip install tensorflow-cpu) and network access; or prepare it "
            f"elsewhere with `tfds build {builder.name} --file_format=array_record` and pass "
            "--config.data.path=DATA_DIR, or point --config.data.source=folder/idx at local "
            "files") from None
    return builder.as_data_source(split=split)


def _tfrecord_in_memory(builder, split: str):
    tfds = _tfds()
    try:
        dataset = builder.as_dataset(split=split)
    except Exception as e:
        raise DataError(
            f"tfds dataset {builder.info.full_name!r} in {builder.data_dir!r} is prepared as "
            f"TFRecord, which needs TensorFlow to read ({type(e).__name__}: {e}); install "
            "tensorflow-cpu, or prepare it again with --file_format=array_record") from None
    return list(tfds.as_numpy(dataset))


class _Reader:
    """Example i of a tfds split -> (uint8 image at the configured size and channels, label)."""

    def __init__(self, source, image_key, label_key, channels, size, background, policy, resample):
        self.source, self.image_key, self.label_key = source, image_key, label_key
        self.channels, self.size, self.background = channels, size, background
        self.policy, self.resample = policy, resample

    def __call__(self, i: int):
        example = self.source[i]
        image = np.asarray(example[self.image_key])
        if image.ndim == 2:
            image = image[..., None]
        size = self.size or image.shape[:2]
        image = images.convert_array(image[None], self.channels, tuple(size), self.background,
                                     self.policy, self.resample)[0]
        label = int(example[self.label_key]) if self.label_key else None
        return image, label


def build(data_config, seed: int) -> images.ImageDataset:
    name = data_config.name
    path = data_config.get("path", "")
    if name in idx.NAMES:
        directory = idx.directory_for(name, path) or idx.directory_for(name)
        if directory is not None:
            return idx.build(data_config, seed, name=name, directory=directory)
    builder = _builder(name, path)
    features = builder.info.features
    image_key = data_config.get("image_key", "image") or "image"
    if image_key not in features:
        raise DataError(f"tfds dataset {name!r} has no feature {image_key!r}; its features are "
                        f"{list(features)}: set --config.data.image_key")
    label_key = data_config.get("label_key", "label") if images.labels_wanted(data_config) else ""
    num_classes, class_names = 0, []
    if label_key and label_key in features:
        feature = features[label_key]
        num_classes = getattr(feature, "num_classes", 0) or 0
        class_names = list(getattr(feature, "names", []) or [])
    elif label_key and label_key != "label":
        raise DataError(f"tfds dataset {name!r} has no feature {label_key!r}; its features are "
                        f"{list(features)}")
    if not num_classes:
        label_key = ""
    images.check_num_classes(data_config, num_classes, name)
    native = features[image_key].shape
    size = images.target_size(data_config, tuple(native[:2]) if None not in native[:2] else None)
    channels = data_config.get("channels", 0) or (native[-1] if len(native) == 3 else 1)
    if size is None:
        raise DataError(f"tfds dataset {name!r} has images of varying sizes {native}; set "
                        "--config.data.image_size")
    read = dict(image_key=image_key, label_key=label_key, channels=channels, size=size,
                background=images.parse_colour(data_config.get("background", "black")),
                policy=data_config.get("fit", "stretch"),
                resample=data_config.get("resize_filter", "bicubic"))
    load_full = data_config.get("load_full", True)
    workers = data_config.get("workers", 0)

    def open_split(split, limit=0):
        source = _data_source(builder, split)
        size = min(limit, len(source)) if limit else len(source)
        lazy = images.LazySplit(size, _Reader(source, **read), bool(label_key), workers)
        if load_full or isinstance(source, list):
            return images.ArraySplit(*lazy.get(np.arange(size)))
        return lazy

    known = list(builder.info.splits) if builder.info.splits else ["train", "test"]
    train_split = data_config.get("split", "train") or "train"
    if train_split.split("[")[0] not in known:
        raise DataError(f"tfds dataset {name!r} has no split {train_split!r}; it has {known}")
    splits = {s: (lambda s=s: open_split(s)) for s in known}
    splits[train_split] = open_split(train_split, data_config.get("num_examples", 0))
    return images.ImageDataset(
        name, splits, seed=seed, flip=data_config.get("flip", False), num_classes=num_classes,
        class_names=class_names, train_split=train_split,
        num_examples=data_config.get("num_examples", 0), source="tfds", use_labels=bool(label_key))
