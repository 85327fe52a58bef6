"""Pieces the recipe files in configs/ share: dataset presets and the `tiny` smoke-run shrink.

A recipe file states its variant's settings (the seed document's, where it gives them) and picks
a dataset by name; `dataset(c, name)` fills in where that data comes from.
"""
from __future__ import annotations

from jaxgan import models
from jaxgan.config import base_config

# name -> data config for the datasets the seed documents train on.
DATASETS = {
    "mnist": dict(source="tfds", name="mnist"),
    "fashion_mnist": dict(source="tfds", name="fashion_mnist"),
    "pokemon": dict(source="folder", name="pokemon", image_size=64, channels=3),  # seed 002
    "initials": dict(source="folder", name="initials", image_size=64, channels=1),  # seed 000
    "rps": dict(source="tfds", name="rock_paper_scissors"),  # seed 003, 300x300x3
    "flags32": dict(source="flags", name="flags", image_size=32, channels=4),  # seed 004, RGBA
    "flags64": dict(source="flags", name="flags", image_size=64, channels=4),
    # A-Z rendered from the system's fonts (docs/datasets.md lists the Debian packages)
    "letters": dict(source="letters", name="letters", image_size=32, channels=1),
}

# The image shape of each preset, for `tiny` runs on synthetic data of the same shape.
SHAPES = {"mnist": (28, 1), "fashion_mnist": (28, 1), "pokemon": (64, 3), "initials": (64, 1),
          "rps": (300, 3), "flags32": (32, 4), "flags64": (64, 4), "letters": (32, 1)}
CLASSES = {"mnist": 10, "fashion_mnist": 10, "rps": 3, "pokemon": 0, "initials": 0,
           "flags32": 0, "flags64": 0, "letters": 26}


def parse(arg: str, default: str) -> tuple[str, set[str]]:
    """'dataset,option,...' -> (dataset, {options})."""
    dataset, *options = (arg or default).split(",")
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r} in the config argument; choose one of "
                         f"{sorted(DATASETS)}")
    return dataset, set(options)


def image_config(variant: str, dataset: str, *, labels: bool = False):
    """The base config for an image recipe on `dataset`; unconditional unless `labels`."""
    c = base_config()
    c.name = f"{variant}_{dataset}"
    c.data.update(DATASETS[dataset])
    c.data.use_labels = labels
    c.train.batch_size = 64
    c.train.log_every_steps = 50
    c.checkpoint.every_steps = 1_000
    c.eval.every_steps = 1_000
    c.viz.every_steps = 500
    c.viz.num_samples = 64
    if dataset == "rps":  # 300x300 images: small batches, and a 4x4 grid that stays legible
        c.train.batch_size = 16
        c.viz.num_samples = 16
        c.viz.grid_columns = 4
    return c


def tiny(c, dataset: str):
    """A seconds-long run of recipe `c` on synthetic images shaped like `dataset`'s, with the
    networks narrowed but their structure (depth, blocks, conditioning, losses) unchanged."""
    size, channels = SHAPES[dataset]
    c.data.update(source="synthetic", name="shapes", path="", image_size=size, channels=channels,
                  num_classes=CLASSES[dataset] if c.data.use_labels else 0, num_examples=64)
    c.train.steps = 4
    c.train.batch_size = 4 if size > 100 else 8
    if c.train.schedule == "alternate_epochs":
        c.train.epoch_steps = 2  # generator, generator, critic, generator: both phases run
    c.train.log_every_steps = 2
    c.checkpoint.every_steps = 2
    c.eval.every_steps = 2
    c.viz.every_steps = 2
    c.viz.num_samples = 8
    c.viz.grid_columns = 4
    c.eval.features = "none"  # a feature network would dominate a smoke run; tests cover eval
    c.eval.num_samples = 16
    for net in (c.model.generator, c.model.critic):
        if "n_feature" in net:
            net.n_feature = 4
            net.max_features = 16
        if "width" in net:
            net.width = 16
    c.train.progress_bar = False
    return c


def network(name: str, role: str, **settings) -> dict:
    """A model sub-config: the registered module's defaults, then `settings`."""
    registry = models.GENERATORS if role == "generator" else models.CRITICS
    sub = dict(name=name, **models.config_fields(registry[name]))
    unknown = set(settings) - set(sub)
    if unknown:
        raise ValueError(f"{role} {name!r} has no fields {sorted(unknown)}")
    sub.update(settings)
    return sub


def dcgan_networks(c, *, critic_normalization: str = "batch", **critic_settings) -> None:
    """The DCGAN architecture (pytorch/examples): ReLU generator, LeakyReLU(0.2) critic, batch
    norm, N(0, 0.02) weights, n_feature 64; recipes change what their paper or seed changes."""
    c.model.generator = network("dcgan", "generator", n_feature=64, normalization="batch",
                                activation="relu", weight_init="normal")
    c.model.critic = network("dcgan", "critic", n_feature=64, normalization=critic_normalization,
                             activation="leaky_relu", leaky_slope=0.2, weight_init="normal",
                             **critic_settings)


def fc_networks(c) -> None:
    """Seed 004's fully connected "s" networks: 3 x 512 LeakyReLU(0.2) + batch norm generator
    with tanh output, 2 x 512 LeakyReLU(0.2) critic."""
    c.model.generator = network("mlp", "generator", width=512, depth=3, activation="leaky_relu",
                                leaky_slope=0.2, batch_norm=True, output="tanh")
    c.model.critic = network("mlp", "critic", width=512, depth=2, activation="leaky_relu", leaky_slope=0.2)
