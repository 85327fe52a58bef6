"""The config vocabulary every recipe shares, and its validation.

Recipes in `configs/` start from `base_config()` and change values; `validate()` runs before
anything compiles and reports every problem at once, naming the field, the value and what is
allowed. Unknown keys get the closest valid key as a suggestion.
"""
from __future__ import annotations

import dataclasses
import difflib
import importlib.util
import json
import os
from typing import Any, Callable, Sequence

import ml_collections

from jaxgan import data, latent, losses, models, optim
from jaxgan.models import conv, dcgan, layers

OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd")
PARALLEL_MODES = ("auto", "single", "mesh", "pmap")
SEEDS_STEPS = ("auto", "vmap", "loop")


class ConfigError(ValueError):
    """A config value a run cannot use; the message says which and what is allowed."""


def _optimizer(lr: float = 1e-4, b1: float = 0.5, b2: float = 0.999) -> dict[str, Any]:
    return dict(name="adam", lr=lr, b1=b1, b2=b2, eps=1e-8, weight_decay=0.0,
                schedule="constant", final_lr_scale=0.0)


def base_config() -> ml_collections.ConfigDict:
    """Every key a run understands, with defaults (the 2D `grid` GAN)."""
    c = ml_collections.ConfigDict()
    c.name = "gan2d_grid"  # names the default run directory
    c.seed = 0
    # Train seeds seed, seed + 1, ..., seed + num_seeds - 1 together in one process (how they
    # step: train.seeds_step), each into <workdir>/seed_<s> (jaxgan/seeds.py).
    c.num_seeds = 1
    c.data = dict(
        source="toy2d", name="grid", path="",
        dim=2, sigma=0.0, distribution_seed=0,  # toy2d; distribution_seed also picks synthetic images
        # Images (jaxgan/data/): size 0 / channels 0 keep the dataset's own.
        image_size=0, image_height=0, image_width=0, channels=0, split="train", flip=False,
        num_classes=0, use_labels=True, num_examples=0,  # num_examples 0: all (synthetic: 10000)
        image_key="image", label_key="label",  # tfds feature names
        fit="stretch", resize_filter="bicubic", background="white",  # resizing, alpha compositing
        folder_labels="auto", load_full=True, max_bad_fraction=0.1, workers=0, cache_dir="",
    )
    c.model = dict(
        z_dim=2,
        latent="normal",  # 'uniform' in [-1, 1], or 'mixture' (see jaxgan/latent.py)
        latent_components=64,  # mixture only
        latent_component_std=0.1,  # mixture only
        # Batch norm at sampling time: 'running' averages or the sampled 'batch' statistics.
        sample_batch_stats="running",
        generator=dict(name="mlp", **models.config_fields(models.GENERATORS["mlp"])),
        critic=dict(name="mlp", **models.config_fields(models.CRITICS["mlp"])),
    )
    c.loss = dict(
        name="non_saturating",
        gradient_penalty=0.0,  # WGAN-GP factor (lambda)
        r1_penalty=0.0,  # R1 factor (gamma); the penalty added is gamma / 2 * E||grad||^2
        clip=0.0,  # WGAN weight clipping to [-clip, clip]; 0 disables
        # Label smoothing (binary losses): fixed targets, or per-example U(low, high) when a
        # (low, high) range is given, e.g. --config.loss.real_label_range="(0.7, 1.0)".
        real_label=1.0,
        fake_label=0.0,
        real_label_range=(),
        fake_label_range=(),
        class_weight=1.0,  # AC-GAN: weight of the auxiliary class loss (critic conditioning 'auxiliary')
    )
    # Instance noise: N(0, std^2) added to every critic input; std decays linearly to 0 over
    # `instance_noise_anneal_steps` generator steps (0: constant).
    c.augment = dict(instance_noise=0.0, instance_noise_anneal_steps=0)
    c.optimizer = dict(generator=_optimizer(), critic=_optimizer())
    c.train = dict(
        steps=10_000,
        batch_size=100,
        n_critic=1,  # critic updates per generator update, each on a fresh real batch
        log_every_steps=100,
        progress_bar=True,
        parallel="auto",  # auto: a sharded mesh when several devices are visible
        # num_seeds > 1: 'vmap' one compiled step over the stacked seeds, 'loop' the one-seed
        # step once per seed; auto: loop on CPU, vmap on accelerators (jaxgan/seeds.py).
        seeds_step="auto",
        # The generator update reuses the last critic update's fake batch instead of a fresh
        # latent batch (pytorch/examples' DCGAN loop): one generator forward fewer per step.
        reuse_fake=False,
    )
    c.checkpoint = dict(every_steps=2_000, max_to_keep=3, async_save=True)
    # Image metrics (jaxgan/evaluate.py): generated vs real samples in the feature space of a
    # domain classifier and/or pytorch-fid's Inception; 2D data gets mode coverage instead.
    c.eval = dict(
        every_steps=2_000,
        num_samples=2_500,  # generated samples per evaluation
        num_reference=0,  # real images (0: as many as num_samples)
        reference_split="train",
        features="auto",  # auto | classifier | inception | both | none
        batch_size=500,  # feature-extraction batch (Inception: at most 50)
        kid_subsets=100,  # 0 skips KID
        precision_recall=True,
        best_metric="auto",  # kept in checkpoints_best/: auto (the first fid/*), a metric name, or none
        classifier_dir="~/.cache/jaxgan/classifiers",
        inception_dir="~/.cache/jaxgan/inception",
        inception_weights="",  # pt_inception-2015-12-05-6726825d.pth or its converted .npz
        reference_stats="",  # a pytorch-fid .npz (mu, sigma) for the Inception FID
    )
    # Frames from a fixed latent batch: 2D scatter plots of num_samples points, or image grids of
    # num_samples images in grid_columns columns (conditional: one row per class).
    c.viz = dict(every_steps=1_000, num_samples=2_500, grid_columns=8, gif=True)
    return c


@dataclasses.dataclass(frozen=True)
class Rule:
    kind: type | tuple[type, ...]
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low is exclusive
    high_open: bool = False
    choices: Sequence[Any] | Callable[[ml_collections.ConfigDict], Sequence[Any] | None] | None = None

    def describe(self) -> str:
        kinds = self.kind if isinstance(self.kind, tuple) else (self.kind,)
        text = " or ".join(k.__name__ for k in kinds)
        if self.low is not None:
            text += f" {'>' if self.low_open else '>='} {self.low}"
        if self.high is not None:
            text += f"{' and' if self.low is not None else ''} {'<' if self.high_open else '<='} {self.high}"
        return text

    def problem(self, value: Any, config: ml_collections.ConfigDict) -> str | None:
        kinds = self.kind if isinstance(self.kind, tuple) else (self.kind,)
        ok_type = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            ok_type = True
        if not ok_type:
            return "must be " + " or ".join(k.__name__ for k in kinds)
        if self.choices is not None:
            choices = self.choices(config) if callable(self.choices) else self.choices
            if choices is not None and value not in choices:
                return "must be one of " + ", ".join(repr(c) for c in choices)
            return None
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return "must be " + self.describe()
        if self.high is not None and (value >= self.high if self.high_open else value > self.high):
            return "must be " + self.describe()
        return None


def _int(low=None, high=None):
    return Rule(int, low, high)


def _float(low=None, high=None, low_open=False, high_open=False):
    return Rule(float, low, high, low_open, high_open)


_OPTIMIZER_RULES = {
    "name": Rule(str, choices=OPTIMIZERS),
    "lr": _float(0.0, low_open=True),
    "b1": _float(0.0, 1.0, high_open=True),
    "b2": _float(0.0, 1.0, high_open=True),
    "eps": _float(0.0, low_open=True),
    "weight_decay": _float(0.0),
    "schedule": Rule(str, choices=optim.SCHEDULES),
    "final_lr_scale": _float(0.0, 1.0),
}

# Range rules for model fields; a field without one is checked for its default's type only.
_MODEL_FIELD_RULES = {
    "width": _int(1),
    "depth": _int(0),
    "activation": Rule(str, choices=layers.ACTIVATIONS),
    "leaky_slope": _float(0.0, 1.0, high_open=True),
    "maxout_pieces": _int(1),
    "dropout": _float(0.0, 1.0, high_open=True),
    "pack": _int(1),
    "weight_init": Rule(str, choices=layers.INITS),
    "weight_init_std": _float(0.0, low_open=True),
    "output": Rule(str, choices=("linear", "tanh")),
    "n_feature": _int(1),
    "max_features": _int(1),
    "min_size": _int(1),
    "normalization": Rule(str, choices=layers.NORMS),
    "downsample": Rule(str, choices=dcgan.DOWNSAMPLINGS),
    "conditioning": Rule(str, choices=dcgan.CONDITIONINGS),
    "conv_impl": Rule(str, choices=conv.IMPLEMENTATIONS),
    "dtype": Rule(str, choices=dcgan.DTYPES),
    "label_embedding": _int(0),
}

RULES: dict[str, Rule] = {
    "name": Rule(str),
    "seed": _int(0),
    "num_seeds": _int(1),
    "data.source": Rule(str, choices=tuple(data.SOURCES)),
    "data.name": Rule(str, choices=lambda c: data.names(c.data.source) if c.data.source in data.SOURCES else None),
    "data.path": Rule(str),
    "data.dim": _int(1),
    "data.sigma": _float(0.0),
    "data.distribution_seed": _int(0),
    "data.image_size": _int(0),
    "data.image_height": _int(0),
    "data.image_width": _int(0),
    "data.channels": Rule(int, choices=data.CHANNELS),
    "data.split": Rule(str),
    "data.flip": Rule(bool),
    "data.num_classes": _int(0),
    "data.use_labels": Rule(bool),
    "data.num_examples": _int(0),
    "data.image_key": Rule(str),
    "data.label_key": Rule(str),
    "data.fit": Rule(str, choices=data.FIT_POLICIES),
    "data.resize_filter": Rule(str, choices=tuple(data.FILTERS)),
    "data.background": Rule(str),
    "data.folder_labels": Rule(str, choices=data.FOLDER_LABELS),
    "data.load_full": Rule(bool),
    "data.max_bad_fraction": _float(0.0, 1.0),
    "data.workers": _int(0),
    "data.cache_dir": Rule(str),
    "model.z_dim": _int(1),
    "model.latent": Rule(str, choices=latent.KINDS),
    "model.latent_components": _int(1),
    "model.latent_component_std": _float(0.0),
    "model.sample_batch_stats": Rule(str, choices=("running", "batch")),
    "model.generator.name": Rule(str, choices=tuple(models.GENERATORS)),
    "model.critic.name": Rule(str, choices=tuple(models.CRITICS)),
    "loss.name": Rule(str, choices=tuple(losses.LOSSES)),
    "loss.gradient_penalty": _float(0.0),
    "loss.r1_penalty": _float(0.0),
    "loss.clip": _float(0.0),
    "loss.real_label": _float(0.0, 1.0),
    "loss.fake_label": _float(0.0, 1.0),
    # JSON (saved configs) turns tuples into lists, so both are accepted.
    "loss.real_label_range": Rule((tuple, list)),
    "loss.fake_label_range": Rule((tuple, list)),
    "loss.class_weight": _float(0.0),
    "augment.instance_noise": _float(0.0),
    "augment.instance_noise_anneal_steps": _int(0),
    **{f"optimizer.{net}.{k}": r for net in ("generator", "critic") for k, r in _OPTIMIZER_RULES.items()},
    "train.steps": _int(1),
    "train.batch_size": _int(1),
    "train.n_critic": _int(1),
    "train.log_every_steps": _int(1),
    "train.progress_bar": Rule(bool),
    "train.parallel": Rule(str, choices=PARALLEL_MODES),
    "train.seeds_step": Rule(str, choices=SEEDS_STEPS),
    "train.reuse_fake": Rule(bool),
    "checkpoint.every_steps": _int(1),
    "checkpoint.max_to_keep": _int(1),
    "checkpoint.async_save": Rule(bool),
    "eval.every_steps": _int(0),
    "eval.num_samples": _int(2),
    "eval.num_reference": _int(0),
    "eval.reference_split": Rule(str, choices=("train", "test")),
    "eval.features": Rule(str, choices=("auto", "classifier", "inception", "both", "none")),
    "eval.batch_size": _int(1),
    "eval.kid_subsets": _int(0),
    "eval.precision_recall": Rule(bool),
    "eval.best_metric": Rule(str),
    "eval.classifier_dir": Rule(str),
    "eval.inception_dir": Rule(str),
    "eval.inception_weights": Rule(str),
    "eval.reference_stats": Rule(str),
    "viz.every_steps": _int(0),
    "viz.num_samples": _int(1),
    "viz.grid_columns": _int(1),
    "viz.gif": Rule(bool),
}


def flatten(config: ml_collections.ConfigDict | dict, prefix: str = "") -> dict[str, Any]:
    """{'a.b.c': value} for every leaf."""
    items = config.items() if hasattr(config, "items") else config
    out = {}
    for key, value in items:
        path = f"{prefix}{key}"
        if isinstance(value, (dict, ml_collections.ConfigDict)):
            out.update(flatten(value, path + "."))
        else:
            out[path] = value
    return out


def _rules_for(config: ml_collections.ConfigDict) -> dict[str, Rule]:
    rules = dict(RULES)
    for net, registry in (("generator", models.GENERATORS), ("critic", models.CRITICS)):
        cls = registry.get(config.model[net].get("name"))
        if cls is None:
            continue
        for field, default in models.config_fields(cls).items():
            rule = _MODEL_FIELD_RULES.get(field, Rule(type(default) if default is not None else object))
            rules[f"model.{net}.{field}"] = rule
    return rules


def validate(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """Raise ConfigError listing every unknown key and every bad value; return the config."""
    rules = _rules_for(config)
    leaves = flatten(config)
    problems = []
    for path, value in leaves.items():
        rule = rules.get(path)
        if rule is None:
            close = difflib.get_close_matches(path, list(rules), n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(f"unknown config key {path!r}{hint}")
            continue
        problem = rule.problem(value, config)
        if problem:
            problems.append(f"{path} = {value!r}: {problem}")
    for path in rules:
        if path not in leaves and not path.startswith("model."):
            problems.append(f"missing config key {path!r} (start recipes from jaxgan.config.base_config())")
    if not problems:
        problems += _cross_field_problems(config)
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))
    return config


def _cross_field_problems(c: ml_collections.ConfigDict) -> list[str]:
    problems = []
    pack = c.model.critic.get("pack", 1)
    if c.num_seeds > 1 and c.train.parallel == "pmap":
        problems.append("num_seeds > 1 needs train.parallel = 'auto', 'single' or 'mesh' (pmap trains one seed)")
    if c.train.batch_size % pack:
        problems.append(
            f"train.batch_size = {c.train.batch_size} must be a multiple of model.critic.pack = {pack}")
    binary = losses.get(c.loss.name).uses_targets
    smoothing = (c.loss.real_label != 1.0 or c.loss.fake_label != 0.0
                 or c.loss.real_label_range or c.loss.fake_label_range)
    if not binary and smoothing:
        problems.append(f"loss.real_label/fake_label(_range) (label smoothing) have no effect with "
                        f"loss.name = {c.loss.name!r}; use a binary loss or leave them at 1.0/0.0 and ()")
    for side in ("real", "fake"):
        r = c.loss[f"{side}_label_range"]
        if r and not (len(r) == 2 and all(isinstance(v, (int, float)) for v in r) and 0 <= r[0] <= r[1] <= 1):
            problems.append(f"loss.{side}_label_range = {tuple(r)!r}: must be () or (low, high) "
                            "with 0 <= low <= high <= 1")
    conditioning = c.model.critic.get("conditioning")
    if pack > 1 and conditioning in ("projection", "auxiliary"):
        problems.append(f"model.critic.pack = {pack} cannot be combined with conditioning = "
                        f"{conditioning!r} (one label per critic input); use pack = 1 or 'concat'")
    # data: image size and channel settings that cannot be met
    d = c.data
    if bool(d.image_height) != bool(d.image_width):
        problems.append(f"data.image_height = {d.image_height}, data.image_width = {d.image_width}: "
                        "set both (any H x W), or neither and data.image_size (square)")
    if d.source == "flags" and d.image_height != d.image_width:
        problems.append("data.source = 'flags' renders square flags; use data.image_size")
    # end data
    return problems


# Keys that may change when a run is resumed: they set how long and how often, not what is trained.
# num_seeds: each seed's own run is saved with num_seeds = 1 (train.py checks the workdir's).
RESUMABLE_CHANGES = ("name", "num_seeds", "train.steps", "train.log_every_steps", "train.progress_bar",
                     "train.parallel", "train.seeds_step", "checkpoint.", "eval.", "viz.")


def incompatible_keys(saved: dict, current: dict) -> list[str]:
    """Keys (with both values) on which `current` cannot continue a run saved with `saved`."""
    as_tuple = lambda tree: {k: tuple(v) if isinstance(v, list) else v for k, v in flatten(tree).items()}
    old, new = as_tuple(saved), as_tuple(current)
    # A decaying learning rate is a function of train.steps: changing it changes the past.
    decays = any(v != "constant" for k, v in {**old, **new}.items() if k.endswith(".schedule"))
    diffs = []
    for key in sorted(set(old) | set(new)):
        resumable = any(key == p or (p.endswith(".") and key.startswith(p)) for p in RESUMABLE_CHANGES)
        if resumable and not (decays and key == "train.steps"):
            continue
        if old.get(key, "<absent>") != new.get(key, "<absent>"):
            diffs.append(f"{key}: checkpoint has {old.get(key, '<absent>')!r}, now {new.get(key, '<absent>')!r}")
    return diffs


def load_config_file(spec: str) -> ml_collections.ConfigDict:
    """`get_config(arg)` of a config file given as 'path/to/file.py[:arg]' (as --config takes)."""
    path, _, arg = spec.partition(":")
    if not os.path.isfile(path):
        raise ConfigError(f"config file {path!r} not found (paths are relative to the current "
                          "directory; the recipes are in configs/)")
    module_spec = importlib.util.spec_from_file_location("_jaxgan_config", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.get_config(arg) if arg else module.get_config()


def check_overrides(config: ml_collections.ConfigDict, overrides: Sequence[str]) -> None:
    """Reject `--config.a.b=value` overrides naming keys the config does not have."""
    known = flatten(config)
    for override in overrides:
        path = override.split("=", 1)[0][len("--config."):]
        if path not in known:
            close = difflib.get_close_matches(path, list(known), n=1, cutoff=0.5)
            hint = f"; did you mean --config.{close[0]}?" if close else ""
            raise ConfigError(f"unknown config key {path!r} in {override!r}{hint}")


def to_json(config: ml_collections.ConfigDict) -> str:
    return json.dumps(config.to_dict(), indent=2, sort_keys=True)
