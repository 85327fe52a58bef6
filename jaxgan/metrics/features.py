"""Feature networks for FID/KID/precision/recall/IS: the FID Inception or a domain classifier.

A `FeatureNet` maps images in [-1, 1] (N, H, W, C) to (features (N, d), logits (N, classes)) in
fixed-size jitted batches (the last one padded, so one compilation serves every call). Images
are first quantized to 8 bits, which is what pytorch-fid sees when it reads PNG files, so real
and generated images are measured the same way.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.metrics import inception


@dataclasses.dataclass
class FeatureNet:
    name: str  # metric suffix: fid/<name>
    protocol: dict  # how features are obtained, recorded with every result
    apply: Callable  # jitted: batch in [-1, 1] -> (features, logits)
    batch_size: int
    class_names: list = dataclasses.field(default_factory=list)  # non-empty: logits are dataset classes

    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        feats, logits = [], []
        n, b = len(images), self.batch_size
        for i in range(0, n, b):
            chunk = np.asarray(images[i:i + b], np.float32)
            if len(chunk) < b:  # pad to the compiled shape
                chunk = np.concatenate([chunk, np.zeros((b - len(chunk), *chunk.shape[1:]), np.float32)])
            f, lg = self.apply(chunk)
            m = min(b, n - i)
            feats.append(np.asarray(f)[:m])
            logits.append(np.asarray(lg)[:m])
        return np.concatenate(feats), np.concatenate(logits)


def quantize(images: jax.Array) -> jax.Array:
    """[-1, 1] -> the nearest of the 256 levels an 8-bit image file stores, in [0, 1]."""
    return jnp.round(jnp.clip((images + 1.0) * 127.5, 0.0, 255.0)) / 255.0


def inception_net(weights: str = "", directory: str = inception.DEFAULT_DIR,
                  batch_size: int = 50) -> FeatureNet:
    """pytorch-fid's Inception (raises `inception.WeightsMissing` with instructions)."""
    extract = inception.make_extractor(inception.load_params(weights, directory))
    prep = jax.jit(quantize)
    source = weights or str(directory)
    return FeatureNet(
        name=inception.NAME,
        protocol={"network": inception.DESCRIPTION, "weights": source,
                  "resize": "bilinear to 299x299, align_corners=False, no antialiasing (pytorch-fid)",
                  "input": "8-bit quantized, gray replicated to RGB, scaled to [-1, 1]",
                  "dims": 2048},
        apply=lambda x: extract(prep(x)), batch_size=batch_size)


def classifier_net(clf, name: str, batch_size: int = 500) -> FeatureNet:
    """A trained `jaxgan.classifier.Classifier`: its penultimate layer and its class logits."""
    to_unit = jax.jit(lambda x: quantize(x) * 2.0 - 1.0)
    info = clf.info
    return FeatureNet(
        name=name,
        protocol={"network": f"jaxgan domain classifier (CNN {info['model']}), penultimate layer",
                  "weights": str(clf.directory), "params_sha256": info["params_sha256"],
                  "accuracy": info["accuracy"], "accuracy_split": info["accuracy_split"],
                  "resize": "none (native resolution)", "input": "8-bit quantized, [-1, 1]",
                  "dims": info["model"]["features"]},
        apply=lambda x: clf(to_unit(x)), batch_size=batch_size,
        class_names=list(info.get("class_names") or [f"class_{k}" for k in range(info["num_classes"])]))
