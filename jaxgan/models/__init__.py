"""Model registry: generator and critic classes chosen by name in the config.

A model's sub-config (`config.model.generator`, `config.model.critic`) holds `name` plus the
keyword arguments of its Linen module, so the module's fields are the documentation of its knobs
and config validation can check keys against them.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import flax.linen as nn

from jaxgan import latent
from jaxgan.config import Dynamic, Field, Section, choice, floats, ints, typed
from jaxgan.models import conv, dcgan, layers, mlp, progan, sngan
from jaxgan.models.packed import Packed

GENERATORS: dict[str, type[nn.Module]] = {"mlp": mlp.MLPGenerator, "dcgan": dcgan.ConvGenerator,
                                          "sngan": sngan.ResNetGenerator, "progan": progan.ProGenerator}
CRITICS: dict[str, type[nn.Module]] = {"mlp": mlp.MLPCritic, "dcgan": dcgan.ConvCritic,
                                       "sngan": sngan.ResNetCritic, "progan": progan.ProCritic}

# Fields set by the builder from the data and execution mode, never from the config.
DERIVED_FIELDS = ("out_shape", "num_classes", "axis_name", "parent", "name")


# Fields of the wrapper every critic is built in (models/packed.py), configured beside its own.
CRITIC_WRAPPER_FIELDS = {"pack": 1}


def config_fields(cls: type[nn.Module]) -> dict[str, Any]:
    """The configurable fields of a model class and their defaults."""
    fields = {f.name: f.default for f in dataclasses.fields(cls) if f.name not in DERIVED_FIELDS and f.init}
    return fields | CRITIC_WRAPPER_FIELDS if cls in CRITICS.values() else fields


# Range rules for module fields; a field without one is checked for its default's type only.
FIELD_RULES = {
    "width": ints(1),
    "depth": ints(0),
    "activation": choice(*layers.ACTIVATIONS),
    "leaky_slope": floats(0.0, 1.0, high_open=True),
    "maxout_pieces": ints(1),
    "dropout": floats(0.0, 1.0, high_open=True),
    "pack": ints(1),
    "weight_init": choice(*layers.INITS),
    "weight_init_std": floats(0.0, low_open=True),
    "output": choice("linear", "tanh"),
    "n_feature": ints(1),
    "max_features": ints(1),
    "min_size": ints(1),
    "normalization": choice(*layers.NORMS),
    "downsample": choice(*dcgan.DOWNSAMPLINGS),
    "conditioning": choice(*dcgan.CONDITIONINGS),
    "conv_impl": choice(*conv.IMPLEMENTATIONS),
    "dtype": choice(*dcgan.DTYPES),
    "label_embedding": ints(0),
    "extra_blocks": ints(0),
    "start_size": ints(1),
    "mbstd_group": ints(0),
}


def _network(registry: dict[str, type[nn.Module]], doc: str) -> Dynamic:
    """`name` plus the fields of the module it picks (the 'mlp' one by default)."""
    def fields(sub) -> dict[str, Field]:
        name = sub.get("name") if sub is not None else "mlp"
        out = {"name": Field("mlp", choice(*registry), doc)}
        if name in registry:
            cls = registry[name]
            out.update({k: Field(v, FIELD_RULES.get(k, typed(v)), f"{cls.__name__}.{k} ({cls.__module__})")
                        for k, v in config_fields(cls).items()})
        return out
    return Dynamic(fields, doc)


def _check(c) -> list[str]:
    problems = []
    pack = c.model.critic.get("pack", 1)
    if c.train.batch_size % pack:
        problems.append(
            f"train.batch_size = {c.train.batch_size} must be a multiple of model.critic.pack = {pack}")
    conditioning = c.model.critic.get("conditioning")
    if c.model.critic.get("name") == "sngan" and c.data.get("use_labels"):
        conditioning = "projection"  # the SNGAN critic projects whenever there are labels
    if pack > 1 and conditioning in ("projection", "auxiliary"):
        problems.append(f"model.critic.pack = {pack} cannot be combined with conditioning = "
                        f"{conditioning!r} (one label per critic input); use pack = 1 or 'concat'")
    return problems


SECTION = Section("model", {
    "z_dim": Field(2, ints(1), "latent dimensions"),
    "latent": Field("normal", choice(*latent.KINDS), "latent distribution: 'normal', 'uniform' in "
                                                     "[-1, 1], or 'mixture' (jaxgan/latent.py)"),
    "latent_components": Field(64, ints(1), "mixture only: number of components"),
    "latent_component_std": Field(0.1, floats(0.0), "mixture only: std of each component"),
    "sample_batch_stats": Field("running", choice("running", "batch"),
                                "batch norm at sampling time: the 'running' averages or the sampled "
                                "'batch' statistics"),
    "generator": _network(GENERATORS, "the generator module; its fields sit beside name"),
    "critic": _network(CRITICS, "the critic module; its fields sit beside name"),
}, check=_check)


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
    pack = d_kwargs.pop("pack", 1)
    critic = CRITICS[d_name](num_classes=num_classes, axis_name=axis_name, **d_kwargs)
    return generator, (Packed(critic, pack) if pack > 1 else critic)
