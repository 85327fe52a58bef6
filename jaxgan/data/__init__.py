"""Data sources chosen by `config.data.source`; each yields batches of numpy arrays.

The contract a source fulfils (see `toy2d.GaussianMixture`): attributes `shape` (one example),
`kind` ('points' or 'images'), `num_classes` (0 when unlabelled), and
`batches(batch_size, start, shard_index=, num_shards=)`, an infinite, deterministic stream of
{'x': ..., 'label'?: ...} dicts beginning at batch index `start`, which is how a resumed run
neither repeats nor skips examples.
"""
from __future__ import annotations

from jaxgan.data import toy2d

# source name -> (builder, dataset names it knows or None for free-form names)
SOURCES = {
    "toy2d": (toy2d.build, toy2d.NAMES),
}


def names(source: str):
    return SOURCES[source][1]


def build(data_config, seed: int):
    builder, _ = SOURCES[data_config.source]
    return builder(data_config, seed)
