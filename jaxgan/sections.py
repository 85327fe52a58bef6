"""Which module owns which config section, in the order `base_config()` lists them.

Every owner declares `SECTION = jaxgan.config.Section(...)`; a new section is one more name here.
The run's own keys (name, seed, num_seeds) belong to no single module, so they are declared here.
Owners are imported only when a config is assembled or validated, so `jaxgan.config` stays free
of package imports and any module can declare a section without an import cycle.
"""
from __future__ import annotations

import importlib

from jaxgan.config import Field, Section, ints, text

SECTION = Section("", {
    "name": Field("gan2d_grid", text(), "names the default run directory"),
    "seed": Field(0, ints(0), "seeds parameters, data order and latents"),
    # Each seed's own run is saved with num_seeds = 1 (train.py checks the workdir's), so a
    # resumed multi-seed run may differ from its members here.
    "num_seeds": Field(1, ints(1), "train seeds seed, seed + 1, ..., seed + num_seeds - 1 together "
                                   "in one process (how they step: train.seeds_step), each into "
                                   "<workdir>/seed_<s> (jaxgan/seeds.py)"),
}, resumable=("name", "num_seeds"))

# Owners in the order the config lists them: a module name (its SECTION), or a Section itself.
OWNERS = (
    "jaxgan.sections",
    "jaxgan.data",
    "jaxgan.models",
    "jaxgan.losses",
    "jaxgan.augment",
    "jaxgan.ema",
    "jaxgan.replay",
    "jaxgan.ada",
    "jaxgan.optim",
    "jaxgan.train",
    "jaxgan.checkpoint",
    "jaxgan.evaluate",
    "jaxgan.snapshots",
    "jaxgan.progressive",
)


def sections() -> tuple[Section, ...]:
    return tuple(owner if isinstance(owner, Section) else importlib.import_module(owner).SECTION
                 for owner in OWNERS)
