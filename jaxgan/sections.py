"""Which module owns which config section, in the order `base_config()` lists them.

Every owner declares `SECTION = jaxgan.config.Section(...)`; a new section is one more name here.
The run's own keys (name, seed, num_seeds) belong to no single module, so they are declared here.
Owners are imported only when a config is assembled or validated, so `jaxgan.config` stays free
of package imports and any module can declare a section without an import cycle.
"""
from __future__ import annotations

import importlib

from jaxgan.config import ALL, Field, Section, boolean, choice, ints, text

SECTION = Section("", {
    "name": Field("gan2d_grid", text(), "names the default run directory"),
    "seed": Field(0, ints(0), "seeds parameters, data order and latents"),
    # Each seed's own run is saved with num_seeds = 1 (train.py checks the workdir's), so a
    # resumed multi-seed run may differ from its members here.
    "num_seeds": Field(1, ints(1), "train seeds seed, seed + 1, ..., seed + num_seeds - 1 together "
                                   "in one process (how they step: train.seeds_step), each into "
                                   "<workdir>/seed_<s> (jaxgan/seeds.py)"),
}, resumable=("name", "num_seeds"))

# TODO(config): the four sections below move into the modules named beside them once the loop
# rewrite lands (those files are being rewritten now).
PARALLEL_MODES = ("auto", "single", "mesh", "pmap")
SEEDS_STEPS = ("auto", "vmap", "loop")


def _train_check(c) -> list[str]:
    if c.num_seeds > 1 and c.train.parallel == "pmap":
        return ["num_seeds > 1 needs train.parallel = 'auto', 'single' or 'mesh' (pmap trains one seed)"]
    return []


def _train_resumable(saved: dict, current: dict) -> tuple[str, ...]:
    # A decaying learning rate is a function of train.steps: changing it changes the past.
    decays = any(v != "constant" for k, v in {**saved, **current}.items() if k.endswith(".schedule"))
    return ("log_every_steps", "progress_bar", "parallel", "seeds_step") + (() if decays else ("steps",))


_TRAIN = Section("train", {  # jaxgan/train.py
    "steps": Field(10_000, ints(1), "generator updates"),
    "batch_size": Field(100, ints(1), "examples per batch (global, over all devices)"),
    "n_critic": Field(1, ints(1), "critic updates per generator update, each on a fresh real batch"),
    "log_every_steps": Field(100, ints(1), "steps between logged metrics"),
    "progress_bar": Field(True, boolean(), "show a progress bar on a terminal"),
    "parallel": Field("auto", choice(*PARALLEL_MODES),
                      "auto: a sharded mesh when several devices are visible"),
    "seeds_step": Field("auto", choice(*SEEDS_STEPS),
                        "num_seeds > 1: 'vmap' one compiled step over the stacked seeds, 'loop' the "
                        "one-seed step once per seed; auto: loop on CPU, vmap on accelerators"),
    "reuse_fake": Field(False, boolean(),
                        "the generator update reuses the last critic update's fake batch instead of "
                        "a fresh latent batch (pytorch/examples' DCGAN loop): one generator forward "
                        "fewer per step"),
}, check=_train_check, resumable=_train_resumable)

_CHECKPOINT = Section("checkpoint", {  # jaxgan/checkpoint.py
    "every_steps": Field(2_000, ints(1), "steps between checkpoints"),
    "max_to_keep": Field(3, ints(1), "checkpoints kept (the oldest are deleted)"),
    "async_save": Field(True, boolean(), "write checkpoints in the background while training goes on"),
}, resumable=ALL)

_EVAL = Section("eval", {  # jaxgan/evaluate.py
    "every_steps": Field(2_000, ints(0), "steps between evaluations (0: none)"),
    "num_samples": Field(2_500, ints(2), "generated samples per evaluation"),
    "num_reference": Field(0, ints(0), "real images (0: as many as num_samples)"),
    "reference_split": Field("train", choice("train", "test"), "split the real images come from"),
    "features": Field("auto", choice("auto", "classifier", "inception", "both", "none"),
                      "feature space of the image metrics: the domain classifier's and/or "
                      "pytorch-fid's Inception; 2D data gets mode coverage instead"),
    "batch_size": Field(500, ints(1), "feature-extraction batch (Inception: at most 50)"),
    "kid_subsets": Field(100, ints(0), "KID subsets; 0 skips KID"),
    "precision_recall": Field(True, boolean(), "compute precision and recall"),
    "best_metric": Field("auto", text(), "kept in checkpoints_best/: auto (the first fid/*), a "
                                         "metric name, or none"),
    "classifier_dir": Field("~/.cache/jaxgan/classifiers", text(), "trained domain classifiers"),
    "inception_dir": Field("~/.cache/jaxgan/inception", text(), "Inception weights cache"),
    "inception_weights": Field("", text(), "pt_inception-2015-12-05-6726825d.pth or its converted .npz"),
    "reference_stats": Field("", text(), "a pytorch-fid .npz (mu, sigma) for the Inception FID"),
}, resumable=ALL)

_VIZ = Section("viz", {  # jaxgan/snapshots.py
    "every_steps": Field(1_000, ints(0), "steps between frames (0: none)"),
    "num_samples": Field(2_500, ints(1), "points of a 2D scatter plot, or images of a grid, from a "
                                         "fixed latent batch (conditional: one row per class)"),
    "grid_columns": Field(8, ints(1), "columns of an image grid"),
    "gif": Field(True, boolean(), "also write the frames as an animated GIF"),
}, resumable=ALL)

# Owners in the order the config lists them: a module name (its SECTION) or, until its owner
# declares it, a section declared above.
OWNERS = (
    "jaxgan.sections",
    "jaxgan.data",
    "jaxgan.models",
    "jaxgan.losses",
    "jaxgan.augment",
    "jaxgan.ema",
    "jaxgan.replay",
    "jaxgan.optim",
    _TRAIN,
    _CHECKPOINT,
    _EVAL,
    _VIZ,
)


def sections() -> tuple[Section, ...]:
    return tuple(owner if isinstance(owner, Section) else importlib.import_module(owner).SECTION
                 for owner in OWNERS)
