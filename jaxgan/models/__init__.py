"""Model registry: generator and critic classes chosen by name in the config.

A model's sub-config (`config.model.generator`, `config.model.critic`) holds `name` plus the
keyword arguments of its Linen module, so the module's fields are the documentation of its knobs
and config validation can check keys against them.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import flax.linen as nn

from jaxgan.models import dcgan, mlp

GENERATORS: dict[str, type[nn.Module]] = {"mlp": mlp.MLPGenerator, "conv": dcgan.ConvGenerator}
CRITICS: dict[str, type[nn.Module]] = {"mlp": mlp.MLPCritic, "conv": dcgan.ConvCritic}

# Fields set by the builder from the data and execution mode, never from the config.
DERIVED_FIELDS = ("out_shape", "num_classes", "axis_name", "parent", "name")


def config_fields(cls: type[nn.Module]) -> dict[str, Any]:
    """The configurable fields of a model class and their defaults."""
    return {
        f.name: f.default
        for f in dataclasses.fields(cls)
        if f.name not in DERIVED_FIELDS and f.init
    }


def _kwargs(sub_config) -> tuple[str, dict[str, Any]]:
    kwargs = dict(sub_config)
    return kwargs.pop("name"), kwargs


def build(model_config, data_shape: Sequence[int], num_classes: int = 0, axis_name: str | None = None):
    """(generator, critic) Linen modules for `model_config` and data of shape `data_shape`."""
    g_name, g_kwargs = _kwargs(model_config.generator)
    d_name, d_kwargs = _kwargs(model_config.critic)
    generator = GENERATORS[g_name](
        out_shape=tuple(data_shape), num_classes=num_classes, axis_name=axis_name, **g_kwargs
    )
    critic = CRITICS[d_name](num_classes=num_classes, axis_name=axis_name, **d_kwargs)
    return generator, critic
