"""One run's parts, built from its config: data, networks, optimizers, state, sampling.

Training, sampling and evaluation all start here, so they agree on what a run is.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import os
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxgan import config as config_lib
from jaxgan import data, ema, extensions, latent, models, optim, progressive
from jaxgan.extensions import Extensions
from jaxgan.replicas import Replicas
from jaxgan.schedule import Schedule
from jaxgan.state import GANState, init_state
from jaxgan.steps import make_sample_fn, make_train_step
# RunError lives in jaxgan.workdir; it is also imported from here (launch.py, tests, forks).
from jaxgan.workdir import SEEDS_SUMMARY, RunError, seed_dirs

# fold_in constants that give the fixed latents of visualisation and evaluation their own streams.
VIZ_STREAM, EVAL_STREAM, SAMPLE_STREAM = 1_000_001, 1_000_002, 1_000_003


@dataclasses.dataclass
class Experiment:
    config: ml_collections.ConfigDict
    dataset: Any
    generator: Any
    critic: Any
    g_tx: Any
    d_tx: Any
    extensions: Extensions
    schedule: Schedule = Schedule()  # which player each loop step trains (train.schedule)

    @classmethod
    def build(cls, config: ml_collections.ConfigDict, dataset=None) -> "Experiment":
        """`dataset`: the data, or a `DataShape` where no example is read (sampling)."""
        config_lib.validate(config)
        dataset = data.build(config.data, config.seed) if dataset is None else dataset
        conditioning = config.model.critic.get("conditioning")
        if conditioning in ("auxiliary", "projection") and not dataset.num_classes:
            raise RunError(
                f"model.critic.conditioning = {conditioning!r} needs a labelled dataset, and "
                f"{config.data.source}:{config.data.name or config.data.path} has no labels here "
                "(for an image folder: one subfolder per class and --config.data.folder_labels="
                "subfolders; check --config.data.use_labels=True)")
        generator, critic = models.build(config.model, dataset.shape, dataset.num_classes)
        try:
            ext = extensions.build(config, dataset.shape, dataset.num_classes)
        except ValueError as e:
            raise RunError(str(e)) from None
        schedule = Schedule.of(config, dataset)
        g_updates, d_updates = schedule.updates(config.train.steps)  # each decay's horizon
        return cls(config, dataset, generator, critic,
                   optim.build(config.optimizer.generator, g_updates),
                   optim.build(config.optimizer.critic, d_updates), ext, schedule)

    def for_seed(self, config: ml_collections.ConfigDict) -> "Experiment":
        """The same networks and data for `config`, which differs in its seed only: the data
        are shared, reshuffled with the new seed (a multi-seed run's members)."""
        return dataclasses.replace(self, config=config, dataset=self.dataset.with_seed(config.seed))

    def init_state(self) -> GANState:
        init = functools.partial(
            init_state, self.generator, self.critic, self.g_tx, self.d_tx,
            data_shape=self.dataset.shape, z_dim=self.config.model.z_dim,
            num_classes=self.dataset.num_classes, batch_size=self.config.train.batch_size,
            seed=self.config.seed, g_extras=self.extensions.g_extras(), d_extras=self.extensions.d_extras())
        # A progressive run initialises every stage's blocks: compiled as one program, not op by
        # op (the same numbers; 6.9 s against 17 s for configs/progan.py:fashion_mnist,tiny).
        return jax.jit(init)() if self.growth is not None else init()

    def abstract_state(self) -> GANState:
        return jax.eval_shape(self.init_state)

    def abstract_batch(self) -> dict:
        """Shapes of one train-step batch, {'x': (n_critic, B, ...)} (+ 'label'), to compile or
        cost a step without data."""
        n, b = self.config.train.n_critic, self.config.train.batch_size
        batch = {"x": jax.ShapeDtypeStruct((n, b, *self.dataset.shape), jnp.float32)}
        if self.dataset.num_classes:
            batch["label"] = jax.ShapeDtypeStruct((n, b), jnp.int32)
        return batch

    def make_step(self, axis_name: str | None = None, num_replicas: int = 1, only: str | None = None):
        """The pure train step; with `axis_name`, the per-device program of a pmap over
        `num_replicas` devices (the execution edge, jaxgan/parallel.py, calls this); `only`
        ('critic' or 'generator'): the step of one player (jaxgan/schedule.py)."""
        generator, critic = self.generator, self.critic
        if axis_name is not None:  # batch norm must average its statistics over the device axis
            generator, critic = models.build(self.config.model, self.dataset.shape,
                                             self.dataset.num_classes, axis_name)
        if self.growth is not None:  # one step per stage, at the stage of the batch's size
            return self.growth.make_step(lambda g, d: make_train_step(
                self.config, g, d, self.g_tx, self.d_tx, self.extensions, num_classes=self.dataset.num_classes,
                replicas=Replicas(axis_name, num_replicas), reuse_fake=self.config.train.reuse_fake),
                generator, critic, self.g_tx, self.d_tx)
        return make_train_step(self.config, generator, critic, self.g_tx, self.d_tx, self.extensions,
                               num_classes=self.dataset.num_classes,
                               replicas=Replicas(axis_name, num_replicas),
                               reuse_fake=self.config.train.reuse_fake, only=only)

    def batches(self, batch_size: int, start: int, *, shard_index: int = 0, num_shards: int = 1):
        """The train step's batches from loop step `start` on, this process's slice of each: as
        the schedule reads the data, or at each stage's batch size and resolution when growing
        (`batch_size` is then unused: each stage has its own)."""
        shard = dict(shard_index=shard_index, num_shards=num_shards)
        if self.growth is not None:
            return self.growth.schedule.batches(self.dataset, start, **shard)
        return self.schedule.batches(self.dataset, batch_size, start, **shard)

    def data_position(self, step: int) -> int:
        """Where a run resumed at loop step `step` starts reading the data (the checkpoint records it)."""
        if self.growth is not None:
            return self.growth.schedule.data_position(step)
        return self.schedule.data_position(step)

    @functools.cached_property
    def growth(self) -> progressive.Growth | None:
        """Progressive growing's schedule, step and samplers (jaxgan/progressive.py), or None."""
        return progressive.Growth.of(self.config, self.dataset.shape, self.generator)

    def parameter_trees(self, state: GANState) -> dict:
        return {"generator": state.g.params, "critic": state.d.params}

    def sampling_weights(self, state: GANState) -> str:
        """Which generator weights `generate` draws from, for evaluation protocols."""
        weights = "EMA weights" if ema.sampling_params(state.g) is not state.g.params else "online weights"
        return weights if self.growth is None else f"{weights}, {self.growth.describe()}"

    def latents(self, stream: int, n: int) -> jax.Array:
        key = jax.random.fold_in(jax.random.key(self.config.seed), stream)
        return latent.make_sampler(self.config.model)(key, (n, self.config.model.z_dim))

    @functools.cached_property
    def _sample_fn(self):
        return jax.jit(make_sample_fn(self.generator, batch_stats=self.config.model.sample_batch_stats))

    def generate(self, state: GANState, z: jax.Array, labels=None, chunk: int = 5000) -> np.ndarray:
        """Samples for latents `z` (from the EMA weights when the run keeps them), as a float32
        numpy array, in chunks of `chunk` images of up to 32x32 and as many pixels for larger
        images (a chunk's activations must fit in memory)."""
        shape = self.dataset.shape
        pixels = math.prod(shape[:-1]) if len(shape) == 3 else 1
        chunk = max(1, min(chunk, chunk * 32 * 32 // pixels))
        params, outs = ema.sampling_params(state.g), []
        sample = self._sample_fn if self.growth is None else functools.partial(self.growth.sample, int(state.step))
        for i in range(0, z.shape[0], chunk):
            y = None if labels is None else labels[i:i + chunk]
            outs.append(np.asarray(sample(params, state.g.stats, z[i:i + chunk], y)))
        return np.concatenate(outs, axis=0)


def saved_config(saved: dict) -> ml_collections.ConfigDict:
    """A run's saved config, with keys added to jaxgan since it was saved set to their defaults
    (so older runs can still be sampled and evaluated). Model sub-configs are taken as saved:
    they are the kwargs of the module the run used."""
    config = config_lib.base_config()
    saved = dict(saved)
    model = dict(saved.pop("model", {}))
    nets = {net: dict(model.pop(net)) for net in ("generator", "critic") if net in model}
    for sub in nets.values():
        if sub.get("name") == "conv":  # the DCGAN modules' registry name before December 2026
            sub["name"] = "dcgan"
    with config.unlocked():
        config.update(saved)
        config.model.update(model)
        for net, sub in nets.items():
            config.model[net] = sub
    return config


@dataclasses.dataclass(frozen=True)
class DataShape:
    """What a checkpoint records of its run's data (train.py's meta): enough to build the
    networks and sample without the data, which may have moved since."""
    kind: str
    shape: tuple
    num_classes: int
    class_names: tuple = ()
    num_examples: int | None = None

    @classmethod
    def of(cls, dataset) -> "DataShape":
        return cls(dataset.kind, tuple(dataset.shape), int(dataset.num_classes),
                   tuple(getattr(dataset, "class_names", ()) or ()), getattr(dataset, "num_examples", None))

    def record(self) -> dict:
        return {**dataclasses.asdict(self), "shape": list(self.shape), "class_names": list(self.class_names)}


def restore_run(workdir: str | os.PathLike, *, need_data: bool = True,
                data_overrides: dict | None = None) -> tuple[Experiment, Any, int]:
    """The experiment (with its saved config) and state of the latest intact checkpoint.

    `need_data=False` (sampling) builds it from the data's shape the checkpoint records, so a
    run whose data moved can still be sampled; `data_overrides` (e.g. a new data.path) replace
    saved data keys, with a warning when those data differ from the ones the run trained on."""
    from absl import logging

    from jaxgan.checkpoint import Checkpointer  # orbax is only needed once a run exists

    path = Path(workdir).expanduser()
    members = seed_dirs(path)
    if not (path / "checkpoints").is_dir() and members:
        raise RunError(f"{str(path)!r} holds a multi-seed run: each seed is a run of its own, so pass "
                       f"one of them, e.g. --workdir={members[0]} (the seeds' final metrics are in "
                       f"{path / SEEDS_SUMMARY})")
    if not (path / "checkpoints").is_dir():
        raise RunError(f"no checkpoints in {str(path)!r}; train first with "
                       f"`python launch.py --config=... --workdir={path}`")
    with Checkpointer(path / "checkpoints") as ckpt:
        newest = ckpt.newest_meta()  # of the newest step whose meta is intact
        if newest is None:
            raise RunError(f"no checkpoints in {str(path / 'checkpoints')!r}; train first")
        config = saved_config(newest[0]["config"])
        recorded = newest[0].get("data")
        with config.unlocked():
            config.data.update(data_overrides or {})
        if recorded and not need_data:
            r = dict(recorded)
            exp = Experiment.build(config, DataShape(r["kind"], tuple(r["shape"]), r["num_classes"],
                                                     tuple(r.get("class_names", ())), r.get("num_examples")))
        else:
            exp = Experiment.build(config)
            now = DataShape.of(exp.dataset).record()
            if data_overrides and recorded and now != recorded:
                logging.warning("the data at %s differ from those the run was trained on (now %s; "
                                "trained on %s): its metrics are not comparable with the training's",
                                dict(data_overrides), now, recorded)
        # Read only: damaged steps are skipped here and moved by the next training run.
        restored = ckpt.restore_latest(exp.abstract_state(), move_damaged=False)
    if restored is None:
        raise RunError(f"no intact checkpoint in {str(path / 'checkpoints')!r}")
    state, _, step = restored
    return exp, state, step
