"""Progressive growing's schedule (ProGAN, Karras et al. 2018): which stage each step trains,
its fade-in, its batch size, the real batches it reads, and the generator as samplers see it.

The networks (jaxgan/models/progan.py, `model.generator.name = 'progan'`) grow through the sizes
start_size, 2 start_size, ..., image size. Stage k trains for `stage_images` real images shown
to the critic (its fade-in included), at `batch_sizes[k]` examples per batch; the last stage
trains until `train.steps`. During the first `fade_images` images of stage k > 0, alpha rises
linearly from 0 to 1 (by whole steps: alpha = (step - start) / fade_steps), both networks blend
their new block with the previous stage's path, and the real images are blended the same way:
(1 - alpha) * up(down(x)) + alpha * x, x at the stage's size.

Everything is a pure function of the step: the stage (`Schedule.stage_at`), alpha, where the
stage's real batches begin in the data stream (`Stage.data_start`: the examples the earlier
stages read, rounded up to whole batches of this stage), and, with `reset_optimizer`, the two
moments at which both optimizers restart (a stage's first step and the end of its fade-in, as
ProGAN's `reset_opt_for_new_lod`); with `reset_ema`, the generator's EMA restarts from its online
weights at the same two moments: a new size's layers begin at their initialisation and move
fast, so an EMA spanning them draws noise until the stage has run many EMA half-lives (the
paper's stages of 1.2M images did; a CPU-sized stage does not). So a run resumes exactly
anywhere, mid-fade included.

The state has one layout for the whole run (every block exists from init; blocks a stage does
not use get zero gradients, and Adam leaves them unchanged). The train step reads its stage from
the resolution of its batch (static), so jit compiles one step per resolution, and alpha from
`state.step` (traced). Samplers (snapshots, evaluation, --mode=sample) draw from the stage and
alpha of the last step trained, upsampled (nearest) to the image size and clipped to [-1, 1]:
the FID of an early stage is that of its images upsampled (`Growth.describe` says so in the
evaluation protocol, in words that do not change with the stage, so the best checkpoint
compares every stage's FID).
"""
from __future__ import annotations

import dataclasses
import functools
import math
from typing import Callable, Iterator, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from jaxgan import ema
from jaxgan.config import Field, Section, boolean, ints, seq
from jaxgan.data import pipeline
from jaxgan.models import progan
from jaxgan.workdir import RunError

MODEL = "progan"


def enabled(config) -> bool:
    return config.model.generator.get("name") == MODEL


def _check(c) -> list[str]:
    g, d, p = c.model.generator, c.model.critic, c.progressive
    names = (g.get("name"), d.get("name"))
    if MODEL not in names:
        return []
    if names != (MODEL, MODEL):
        return [f"model.generator.name = {names[0]!r} and model.critic.name = {names[1]!r}: progressive "
                f"growing needs both to be {MODEL!r}"]
    problems = []
    if g.get("start_size") != d.get("start_size"):
        problems.append(f"model.generator.start_size = {g.get('start_size')} and model.critic.start_size = "
                        f"{d.get('start_size')}: both networks must grow from the same size")
    if p.fade_images > p.stage_images:
        problems.append(f"progressive.fade_images = {p.fade_images} > progressive.stage_images = "
                        f"{p.stage_images}: a stage's fade-in is part of the stage")
    if not all(isinstance(b, int) and not isinstance(b, bool) and b >= 1 for b in p.batch_sizes):
        problems.append(f"progressive.batch_sizes = {tuple(p.batch_sizes)!r}: positive integers, one per "
                        "size from the smallest on (the last for every larger size), or () for train.batch_size")
    if d.get("pack", 1) != 1:
        problems.append(f"model.critic.pack = {d.get('pack')}: the progressive critic scores single images; use 1")
    if c.train.get("schedule", "alternate_steps") != "alternate_steps":
        problems.append(f"train.schedule = {c.train.get('schedule')!r}: progressive growing trains both "
                        "players every step; use 'alternate_steps'")
    if p.reset_optimizer:
        decays = [f"optimizer.{net}.schedule = {c.optimizer[net].schedule!r}" for net in ("generator", "critic")
                  if c.optimizer[net].schedule != "constant"]
        if decays:
            problems.append(", ".join(decays) + " with progressive.reset_optimizer = True: each reset would "
                            "restart the decay; use 'constant' rates (as ProGAN) or reset_optimizer = False")
    return problems


SECTION = Section("progressive", {
    "stage_images": Field(1_200_000, ints(1),
                          "progan: real images the critic sees at each size, its fade-in included, "
                          "before the next size is added (the last size trains until train.steps)"),
    "fade_images": Field(600_000, ints(0),
                         "progan: real images over which each new size fades in (alpha 0 -> 1; 0: at once)"),
    "batch_sizes": Field((), seq(), "progan: batch size at each size from the smallest on, the last entry "
                                    "for every larger size ((): train.batch_size)"),
    "reset_optimizer": Field(True, boolean(), "progan: restart both optimizers (Adam moments) when a size "
                                              "is added and when its fade-in ends, as ProGAN does"),
    "reset_ema": Field(True, boolean(), "progan: set the generator's EMA (ema.decay > 0) to its online weights "
                                        "when a size is added and when its fade-in ends, so it never averages "
                                        "a new size's layers with their initialisation"),
}, check=_check)


@dataclasses.dataclass(frozen=True)
class Stage:
    index: int
    size: int  # the images' side at this stage
    batch_size: int  # global
    start: int  # its first step
    steps: int | None  # None: the last stage, to the end of the run
    fade_steps: int  # steps of its fade-in (0: none)
    data_start: int  # stream position (in examples) where its real batches begin

    def alpha(self, step):
        """The fade-in's alpha at `step` (a Python float for an int step, float32 for a traced one)."""
        if not self.fade_steps:
            return 1.0
        if isinstance(step, (int, np.integer)):
            return float(min(1.0, max(0.0, (step - self.start) / self.fade_steps)))
        return jnp.clip((step - self.start).astype(jnp.float32) / self.fade_steps, 0.0, 1.0)


@dataclasses.dataclass(frozen=True)
class Schedule:
    stages: tuple[Stage, ...]
    n_critic: int

    @classmethod
    def of(cls, config, data_shape: Sequence[int]) -> "Schedule":
        p, n = config.progressive, config.train.n_critic
        all_sizes = progan.sizes(int(data_shape[0]), config.model.generator.start_size)
        wanted = list(p.batch_sizes) or [config.train.batch_size]
        stages, step, position = [], 0, 0
        for k, size in enumerate(all_sizes):
            batch = int(wanted[min(k, len(wanted) - 1)])
            per_step = n * batch
            last = k == len(all_sizes) - 1
            steps = None if last else math.ceil(p.stage_images / per_step)
            fade = 0 if k == 0 else math.ceil(p.fade_images / per_step)
            stages.append(Stage(k, size, batch, step, steps, fade, -(-position // batch) * batch))
            if not last:
                step += steps
                position = stages[-1].data_start + steps * per_step
        return cls(tuple(stages), n)

    @property
    def sizes(self) -> list[int]:
        return [s.size for s in self.stages]

    def stage_at(self, step: int) -> Stage:
        return [s for s in self.stages if s.start <= step][-1]

    def stage_of_size(self, size: int) -> Stage:
        for s in self.stages:
            if s.size == size:
                return s
        raise ValueError(f"no stage of size {size}: the stages are {self.sizes}")

    def reals(self, x: np.ndarray, stage: int) -> np.ndarray:
        """Real images at full size -> at `stage`'s size (any leading axes; on the host)."""
        lead = x.shape[:-3]
        flat = x.reshape((-1,) + x.shape[-3:])
        out = progan.downsample_to_stage(flat, self.sizes, stage, xp=np)
        return out.reshape(lead + out.shape[1:])

    def data_position(self, step: int) -> int:
        """Where step `step`'s real batches begin in the data stream, in batches of its stage's size."""
        st = self.stage_at(step)
        return st.data_start // st.batch_size + (step - st.start) * self.n_critic

    def batches(self, dataset, start: int, *, shard_index: int = 0, num_shards: int = 1) -> Iterator[dict]:
        """The train step's batches from step `start` on: {'x': (n_critic, B_k, r_k, r_k, C), 'label'?},
        each step's at its stage's batch size and resolution; this process's slice of each."""
        step = start
        while True:
            st = self.stage_at(step)
            if st.batch_size % num_shards:
                raise RunError(f"progressive.batch_sizes: {st.batch_size} (stage {st.index}, {st.size}x"
                               f"{st.size}) must be a multiple of the {num_shards} processes")
            end = math.inf if st.steps is None else st.start + st.steps
            first = self.data_position(step)
            stream = pipeline.stack(dataset.batches(st.batch_size // num_shards, start=first,
                                                    shard_index=shard_index, num_shards=num_shards), self.n_critic)
            while step < end:
                batch = next(stream)
                yield {**batch, "x": self.reals(batch["x"], st.index)}
                step += 1

    def table(self) -> str:
        rows = []
        for s in self.stages:
            until = "the end" if s.steps is None else f"step {s.start + s.steps}"
            rows.append(f"stage {s.index + 1}: {s.size}x{s.size}, batch {s.batch_size}, steps {s.start} to {until}"
                        + (f", fade-in over {s.fade_steps} steps" if s.fade_steps else ""))
        return "\n".join(rows)


class AtStage:
    """A network as the train step applies it (`module.apply`), at stage `stage` with fade-in `alpha`."""

    def __init__(self, module, stage: int, alpha):
        self.module, self.stage, self.alpha = module, stage, alpha

    def apply(self, variables, *args, **kwargs):
        return self.module.apply(variables, *args, stage=self.stage, alpha=self.alpha, **kwargs)


def fade_reals(x, low_size: int, alpha):
    """(..., r, r, C) real images blended with their previous-stage version upsampled:
    (1 - alpha) * up(down(x)) + alpha * x, as the networks blend their blocks."""
    lead, (r, _, c) = x.shape[:-3], x.shape[-3:]
    flat = x.reshape((-1, r, r, c))
    low = progan.upsample(progan.downsample(flat, low_size), r)
    return progan._fade(alpha, low, flat).reshape(x.shape)


def _restart(state, stage: Stage, g_tx, d_tx, optimizers: bool, average: bool):
    """At the stage's first step and at the end of its fade-in: both optimizer states restarted
    (`optimizers`), and the generator's EMA set to its online weights (`average`)."""
    at = [stage.start] + ([stage.start + stage.fade_steps] if stage.fade_steps else [])
    reset = functools.reduce(jnp.logical_or, [state.step == s for s in at])
    pick = lambda new, old: jax.tree.map(lambda a, b: jnp.where(reset, a, b), new, old)
    g, d = state.g, state.d
    if optimizers:
        g, d = g.replace(opt=pick(g_tx.init(g.params), g.opt)), d.replace(opt=pick(d_tx.init(d.params), d.opt))
    if average and ema.NAME in g.extras:
        g = g.replace(extras={**g.extras, ema.NAME: pick(g.params, g.extras[ema.NAME])})
    return state.replace(g=g, d=d)


class Growth:
    """One run's progressive growing: its schedule, its train step, its samplers."""

    def __init__(self, config, data_shape: Sequence[int], generator):
        self.schedule = Schedule.of(config, data_shape)
        self.reset_optimizer = config.progressive.reset_optimizer
        self.reset_ema = config.progressive.reset_ema
        self.generator, self.image_size = generator, int(data_shape[0])
        self._samplers: dict[int, Callable] = {}

    @classmethod
    def of(cls, config, data_shape, generator) -> "Growth | None":
        return cls(config, data_shape, generator) if enabled(config) else None

    def make_step(self, build: Callable, generator, critic, g_tx, d_tx) -> Callable:
        """The train step of every stage: `build(generator, critic)` (steps.make_train_step with
        those networks) at the stage of the batch's resolution, with its fade-in applied."""
        schedule = self.schedule
        logging.info("Progressive growing:\n%s", schedule.table())

        def train_step(state, batch):
            st = schedule.stage_of_size(batch["x"].shape[-3])
            alpha = st.alpha(state.step)
            if not progan._is_one(alpha):
                batch = {**batch, "x": fade_reals(batch["x"], schedule.sizes[st.index - 1], alpha)}
            if (self.reset_optimizer or self.reset_ema) and st.index > 0:
                state = _restart(state, st, g_tx, d_tx, self.reset_optimizer, self.reset_ema)
            step = build(AtStage(generator, st.index, alpha), AtStage(critic, st.index, alpha))
            state, metrics = step(state, batch)
            return state, {**metrics, "progressive_size": jnp.float32(st.size),
                           "progressive_alpha": jnp.asarray(alpha, jnp.float32)}

        return train_step

    def progress(self, step: int) -> tuple[Stage, float]:
        """The stage and alpha of the last step trained before `step` (of step 0 at the start)."""
        last = max(int(step) - 1, 0)
        stage = self.schedule.stage_at(last)
        return stage, stage.alpha(last)

    def sample(self, step: int, params, stats, z, labels=None):
        """Samples of the generator as trained at `step`, upsampled to the image size, in [-1, 1]."""
        st, alpha = self.progress(step)
        fn = self._samplers.get(st.index)
        if fn is None:
            k, fades, size = st.index, bool(st.fade_steps), self.image_size

            def fn(params, stats, z, labels, alpha):
                out = self.generator.apply({"params": params, "batch_stats": stats}, z, labels, train=False,
                                           stage=k, alpha=alpha if fades else 1.0)
                return jnp.clip(progan.upsample(out, size), -1.0, 1.0)

            fn = self._samplers[st.index] = jax.jit(fn)
        return fn(params, stats, z, labels, jnp.float32(alpha))

    def describe(self) -> str:
        """What samplers draw, for evaluation protocols. Stage-independent on purpose: the best
        checkpoint compares FIDs of one protocol, and every stage's samples are at the image
        size (metrics.jsonl logs each step's progressive_size and progressive_alpha)."""
        return (f"progressive: the stage and fade-in of the last step trained, upsampled (nearest) to "
                f"{self.image_size}x{self.image_size}, clipped to [-1, 1]")
