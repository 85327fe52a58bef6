"""The seams of the research core and what is plugged into each, in one place.

The train step (jaxgan/steps.py) knows four lists and nothing about what is in them:

  CRITIC_INPUT_TRANSFORMS  pure `(key, step, images, replicas) -> images`, applied in this order
                           to every image the critic sees (jaxgan/augment.py); one with a `name`
                           also gets the critic's `d.extras[name]` as `entry=` (ADA's p)
  CRITIC_FAKE_SOURCES      `(entry, key, fake, labels, replicas) -> (fake, labels, entry)`: change
                           the critic's fake batch, keeping state in `d.extras[name]`
  GENERATOR_AFTER_UPDATE   `(player, step) -> player` after each generator update
  CRITIC_AFTER_UPDATE      `(player, step) -> player` after each critic update; one with
                           `uses_outputs = True` is called `(player, step, outputs)`, with the
                           update's mean scores (`objectives.critic_objective`)

Each entry is a `from_config(config, data_shape, num_classes)` that returns the extension, or
None when the config leaves it off. An extension with state has a `name` and an `init(params)`
giving its initial `extras[name]`; an after-update function with a `metrics(entry)` method adds
what it returns to the step's metrics (logged with them). A fork adds one by writing its module and one line here
(docs/extending.md). The registries' order is part of the random streams (transform keys are
folded with their index), so append, do not insert.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any

from jaxgan import ada, augment, clip, diffaugment, ema, lecam, replay

CRITIC_INPUT_TRANSFORMS = (augment.instance_noise, diffaugment.from_config, ada.transform_from_config)
CRITIC_FAKE_SOURCES = (replay.from_config,)
GENERATOR_AFTER_UPDATE = (ema.from_config,)
CRITIC_AFTER_UPDATE = (clip.from_config, lecam.from_config, ada.from_config)


@dataclasses.dataclass(frozen=True)
class Extensions:
    """The extensions a config turns on, per seam."""

    transforms: tuple[tuple[int, Any], ...]  # (registry index, transform)
    fake_sources: tuple[Any, ...]
    g_after: tuple[Any, ...]
    d_after: tuple[Any, ...]

    def g_extras(self) -> dict:
        return {e.name: e.init for e in self.g_after if hasattr(e, "init")}

    def d_extras(self) -> dict:
        return {e.name: e.init for e in self.fake_sources + self.d_after if hasattr(e, "init")}

    def bound_transforms(self, d_extras: dict) -> tuple[tuple[int, Any], ...]:
        """The transform chain with each named transform given its `d_extras` entry."""
        return tuple((i, functools.partial(t, entry=d_extras[t.name]) if hasattr(t, "name") else t)
                     for i, t in self.transforms)

    def metrics(self, g_extras: dict, d_extras: dict) -> dict:
        """What the after-update functions report of their state (`metrics(entry)`)."""
        out = {}
        for after, extras in ((self.g_after, g_extras), (self.d_after, d_extras)):
            for e in after:
                if hasattr(e, "metrics"):
                    out |= e.metrics(extras[e.name])
        return out


def build(config, data_shape, num_classes: int) -> Extensions:
    def active(registry):
        made = ((i, make(config, data_shape, num_classes)) for i, make in enumerate(registry))
        return tuple((i, e) for i, e in made if e is not None)

    return Extensions(
        transforms=active(CRITIC_INPUT_TRANSFORMS),
        fake_sources=tuple(e for _, e in active(CRITIC_FAKE_SOURCES)),
        g_after=tuple(e for _, e in active(GENERATOR_AFTER_UPDATE)),
        d_after=tuple(e for _, e in active(CRITIC_AFTER_UPDATE)),
    )
