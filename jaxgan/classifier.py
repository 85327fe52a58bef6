"""The domain classifier: a small CNN that jaxgan trains on a labelled image dataset, cached on
disk, whose penultimate layer gives FID/KID/precision/recall features where Inception weights
are absent (and are a poor fit anyway, e.g. 28x28 grayscale), and whose predictions give the
class histogram of generated samples (the mode-collapse monitor for images).

    python -m jaxgan.classifier --config=configs/classifier.py:fashion_mnist

trains it (docs/evaluation.md has the time it takes), prints its test accuracy and writes it to the cache
`<eval.classifier_dir>/<key>/` (`params.npz`, `info.json`), keyed by the data config and image
shape. A run whose evaluation needs a classifier that is not cached trains it the same way,
with the same recipe (`default_config()`), once.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import logging

from jaxgan import npz_tree

DEFAULT_DIR = "~/.cache/jaxgan/classifiers"
# Data keys that change how data is read or which part of the training split a GAN run uses,
# not which images a class contains: they do not change the classifier's cache key.
_KEY_IGNORED = ("num_examples", "flip", "split", "workers", "load_full", "use_labels", "cache_dir")


def _base_data() -> dict:
    from jaxgan.config import base_config

    return _plain(base_config().data)


def default_config() -> ml_collections.ConfigDict:
    """The classifier recipe; `data` is filled from the GAN run (or by configs/classifier.py)."""
    c = ml_collections.ConfigDict()
    c.seed = 0
    # Every data key a GAN run has, at its default, so the same dataset gives the same cache key.
    c.data = ml_collections.ConfigDict(_base_data())
    c.model = dict(widths=(32, 64), features=128, dropout=0.3)
    c.train = dict(steps=3000, batch_size=128, lr=1e-3, log_every_steps=500)
    c.num_test = 10_000  # test examples for the reported accuracy
    c.min_accuracy = 0.9  # a warning below this: the features are then a weak measure
    c.classifier_dir = DEFAULT_DIR
    return c


def _max_pool2(x):
    """2x2 max pool, stride 2, VALID; as a reshape, whose gradient XLA:CPU computes several times
    faster than that of `nn.max_pool` (select-and-scatter)."""
    b, h, w, c = x.shape
    x = x[:, : h // 2 * 2, : w // 2 * 2]
    return x.reshape(b, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


class CNN(nn.Module):
    """conv3x3-ReLU-maxpool per width, then a dense feature layer (the FID features) and logits."""
    num_classes: int
    widths: Sequence[int] = (32, 64)
    features: int = 128
    dropout: float = 0.3

    @nn.compact
    def __call__(self, x, train: bool = False):
        for w in self.widths:
            x = _max_pool2(nn.relu(nn.Conv(w, (3, 3))(x)))
        f = nn.relu(nn.Dense(self.features)(x.reshape(x.shape[0], -1)))
        h = nn.Dropout(self.dropout, deterministic=not train)(f)
        return f, nn.Dense(self.num_classes)(h)


class ClassifierMissing(FileNotFoundError):
    """No cached classifier for a dataset; the message gives the command that makes one."""


def _plain(value):
    if isinstance(value, (ml_collections.ConfigDict, dict)):
        return {k: _plain(v) for k, v in sorted(dict(value).items())}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _data_for_key(data_config) -> dict:
    """The data settings that differ from jaxgan's defaults (so a new data key with a default
    leaves every existing key unchanged), less those that do not change the images or labels."""
    base = _base_data()
    data = {k: v for k, v in _plain(data_config).items() if k not in _KEY_IGNORED and base.get(k, object()) != v}
    if data.get("source", base["source"]) == "tfds":
        data.pop("path", None)  # where tfds keeps a dataset does not change it
    return {"source": base["source"], "name": base["name"], **data}


def cache_key(data_config, shape: Sequence[int]) -> str:
    """`<source>-<name>-<H>x<W>x<C>-<hash of the data config>`: readable and unambiguous."""
    data = _data_for_key(data_config)
    keyed = dict(data)
    if data.get("source") == "letters":  # the letters follow the fonts installed
        from jaxgan.data import letters

        keyed["fonts"] = letters.fingerprint(data_config)
    digest = hashlib.sha256(json.dumps(keyed, sort_keys=True).encode()).hexdigest()[:8]
    name = re.sub(r"[^A-Za-z0-9_.]+", "_", str(data.get("name", "") or "data"))
    return f"{data.get('source', '')}-{name}-{'x'.join(str(s) for s in shape)}-{digest}"


def feature_name(data_config) -> str:
    """The metric suffix, e.g. `classifier_fashion_mnist` in `fid/classifier_fashion_mnist`."""
    name = re.sub(r"[^A-Za-z0-9_]+", "_", str(data_config.get("name", "") or data_config.source))
    return f"classifier_{name}"


def command_for(data_config) -> str:
    """The command that trains the classifier for this data config ahead of a run."""
    base = _base_data()
    overrides = " ".join(f"--config.data.{k}={v}" for k, v in _data_for_key(data_config).items()
                         if base.get(k) != v)  # (source and name are always in the key)
    return f"python -m jaxgan.classifier --config=configs/classifier.py {overrides}"


# ---- training --------------------------------------------------------------------------------

def _params_digest(params) -> str:
    h = hashlib.sha256()
    for k, v in sorted(npz_tree.flatten(params).items()):
        h.update(k.encode())
        h.update(np.ascontiguousarray(v).tobytes())
    return h.hexdigest()


def _accuracy(model, params, x, y, batch_size=1000) -> float:
    predict = jax.jit(lambda p, x: jnp.argmax(model.apply({"params": p}, x)[1], -1))
    correct = sum(int(np.sum(np.asarray(predict(params, x[i:i + batch_size])) == y[i:i + batch_size]))
                  for i in range(0, len(x), batch_size))
    return correct / len(x)


def train(config: ml_collections.ConfigDict, dataset=None) -> tuple[dict, dict]:
    """Train the classifier of `config` and return (params, info); does not touch the cache."""
    from jaxgan import data as data_lib

    dataset = dataset if dataset is not None else data_lib.build(config.data, config.seed)
    if dataset.kind != "images" or not dataset.num_classes:
        raise ValueError(f"a domain classifier needs a labelled image dataset; {config.data.get('name')!r} "
                         f"is {dataset.kind} with {dataset.num_classes} classes")
    model = CNN(dataset.num_classes, tuple(config.model.widths), config.model.features, config.model.dropout)
    key = jax.random.key(config.seed)
    params = model.init(key, jnp.zeros((1, *dataset.shape), jnp.float32))["params"]
    tx = optax.adam(optax.cosine_decay_schedule(config.train.lr, config.train.steps))
    opt_state = tx.init(params)

    @jax.jit
    def step(params, opt_state, x, y, i):
        def loss_fn(p):
            _, logits = model.apply({"params": p}, x, train=True,
                                    rngs={"dropout": jax.random.fold_in(key, i)})
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    t0 = time.perf_counter()
    batches = dataset.batches(config.train.batch_size, 0)
    for i in range(config.train.steps):
        b = next(batches)
        params, opt_state, loss = step(params, opt_state, b["x"], b["label"], i)
        if (i + 1) % config.train.log_every_steps == 0:
            logging.info("classifier step %d/%d: loss %.4f", i + 1, config.train.steps, float(loss))
    seconds = time.perf_counter() - t0
    try:
        split = "test"
        test = dataset.reference(config.num_test, split=split)
    except Exception:  # noqa: BLE001 - no test split: say so, measure on training images
        split = "train"
        test = dataset.reference(config.num_test, split=split)
    accuracy = _accuracy(model, params, test["x"], test["label"])
    info = {
        "accuracy": accuracy, "accuracy_split": split, "accuracy_examples": int(len(test["x"])),
        "shape": list(dataset.shape), "num_classes": int(dataset.num_classes),
        "class_names": list(getattr(dataset, "class_names", []) or []),
        "model": _plain(config.model), "train": _plain(config.train), "seed": config.seed,
        "data": _plain(config.data), "train_seconds": round(seconds, 1),
        "params_sha256": _params_digest(params), "command": command_for(config.data),
    }
    if accuracy < config.min_accuracy:
        logging.warning("the domain classifier reaches only %.1f%% %s accuracy (< %.0f%%): its "
                        "features are a weak measure", 100 * accuracy, split, 100 * config.min_accuracy)
    return params, info


def save(directory: Path, params, info: dict) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / "params.tmp.npz"
    np.savez(tmp, **npz_tree.flatten(params))
    os.replace(tmp, directory / "params.npz")
    (directory / "info.json.tmp").write_text(json.dumps(info, indent=2) + "\n")
    os.replace(directory / "info.json.tmp", directory / "info.json")  # last: marks it complete
    return directory


class Classifier:
    """A trained classifier: `apply(images in [-1, 1]) -> (features, logits)`, jitted."""

    def __init__(self, params, info: dict, directory: Path | None = None):
        self.params, self.info, self.directory = params, info, directory
        m = info["model"]
        self.model = CNN(info["num_classes"], tuple(m["widths"]), m["features"], m["dropout"])
        self._apply = jax.jit(lambda p, x: self.model.apply({"params": p}, x))

    def __call__(self, images):
        return self._apply(self.params, images)

    @classmethod
    def load(cls, directory: Path) -> "Classifier":
        info = json.loads((directory / "info.json").read_text())
        with np.load(directory / "params.npz") as f:
            params = npz_tree.unflatten({k: f[k] for k in f.files})
        return cls(params, info, directory)


def load_or_train(data_config, shape: Sequence[int], classifier_dir: str = DEFAULT_DIR,
                  train_if_missing: bool = True, dataset=None) -> Classifier:
    """The cached classifier for `data_config`, training (and caching) it first if missing.

    Training on the fly is the default because it takes minutes where the GAN runs that need it
    take hours, and the result is the same network as the command-line one (same recipe, same
    seed); `train_if_missing=False` fails instead with the command to run.
    """
    directory = Path(classifier_dir).expanduser() / cache_key(data_config, shape)
    if (directory / "info.json").is_file():
        return Classifier.load(directory)
    if not train_if_missing:
        raise ClassifierMissing(f"no domain classifier cached in {directory}; make it with\n  "
                                f"{command_for(data_config)} --config.classifier_dir={classifier_dir}")
    config = default_config()
    config.data = ml_collections.ConfigDict(_plain(data_config))
    logging.warning("No domain classifier for %s cached in %s: training it now (once; to do it "
                    "ahead of a run: %s)", config.data.get("name"), directory, command_for(data_config))
    params, info = train(config, dataset)
    save(directory, params, info)
    logging.info("Domain classifier: %.2f%% %s accuracy, cached in %s", 100 * info["accuracy"],
                 info["accuracy_split"], directory)
    return Classifier(params, info, directory)


def main(argv: Sequence[str]) -> int:
    from absl import flags
    from ml_collections import config_flags

    config_flags.DEFINE_config_file("config", None, "configs/classifier.py[:dataset]", lock_config=False)
    flags.FLAGS(argv)
    from jaxgan import data as data_lib, monitor

    monitor.quiet_library_logs()
    logging.set_verbosity(logging.INFO)
    config = flags.FLAGS.config
    if config is None:
        print("usage: python -m jaxgan.classifier --config=configs/classifier.py:fashion_mnist",
              file=sys.stderr)
        return 2
    dataset = data_lib.build(config.data, config.seed)
    params, info = train(config, dataset)
    directory = Path(config.classifier_dir).expanduser() / cache_key(config.data, dataset.shape)
    save(directory, params, info)
    print(json.dumps({"directory": str(directory), "feature_name": feature_name(config.data),
                      **{k: info[k] for k in ("accuracy", "accuracy_split", "accuracy_examples",
                                              "train_seconds", "params_sha256")}}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
