"""`train.schedule`: which player each loop step trains.

  * `alternate_steps` (the default): every loop step is `n_critic` critic updates then one
    generator update (`jaxgan/steps.py`'s train step), the usual alternation.
  * `alternate_epochs`: seed 003's loop. An epoch of E = `train.epoch_steps` steps (by default
    one pass over the training set, ceil(num_examples / batch_size) batches, as the seed's
    `len(dataset)`) is E generator-only steps, then E - 1 critic-only steps, each on its own
    real batch; the seed's critic loop is `dataset.take(num_steps_per_epoch - 1)`, one batch
    fewer than the generator's. One loop step then updates one player, so `train.steps` (and
    every step count in the config: eval/checkpoint/viz intervals, `ema.start_step`, ...)
    counts updates of either player, and a learning-rate decay runs over each player's own
    updates (`Schedule.updates`). A step's metrics are its player's: `g_loss` on a generator
    step, `d_loss` and the critic's scores on a critic step, so the logged rows alternate too.

Which step runs is a pure function of the step counter and E (`Schedule.player`), and so is the
real batch a critic step reads (`Schedule.data_position`: critic steps read the data stream's
batches in order, generator steps read none), so a run resumed in the middle of an epoch
continues exactly. `Schedule.batches` yields an empty batch for a generator-only step, and the
executor of `group` runs the generator-only step on an empty batch, the critic-only step on a
real one: the two compiled steps, and nothing else, differ between the players' phases.
"""
from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from typing import Iterator

import jax

from jaxgan import seeds
from jaxgan.data import pipeline
from jaxgan.workdir import RunError

SCHEDULES = ("alternate_steps", "alternate_epochs")


def config_problems(t) -> list[str]:
    """The train section's rules for the schedule (`t` = config.train)."""
    if t.schedule != "alternate_epochs":
        return []
    problems = []
    if t.n_critic != 1:
        problems.append(f"train.n_critic = {t.n_critic} with train.schedule = 'alternate_epochs': each "
                        "critic step of that schedule is one update (the critic's phase is its "
                        "epoch of updates); use train.n_critic = 1")
    if t.reuse_fake:
        problems.append("train.reuse_fake = True with train.schedule = 'alternate_epochs': the "
                        "generator's steps have no critic fake batch to reuse; set it False")
    if t.epoch_steps == 1:
        problems.append("train.epoch_steps = 1 leaves the critic no update (its phase is "
                        "epoch_steps - 1 steps, as seed 003's loop); use >= 2, or 0 for one pass "
                        "over the training set")
    return problems


@dataclasses.dataclass(frozen=True)
class Schedule:
    """Which player loop step `step` (0-based: the step from state.step = step to step + 1)
    trains, and what it reads."""

    kind: str = "alternate_steps"
    epoch: int = 0  # alternate_epochs: E, generator steps per epoch (the critic gets E - 1)
    n_critic: int = 1

    @classmethod
    def of(cls, config, dataset) -> "Schedule":
        """The schedule of `config` on `dataset` (whose size gives the default epoch)."""
        t = config.train
        if t.schedule == "alternate_steps":
            return cls("alternate_steps", 0, t.n_critic)
        epoch = t.epoch_steps
        if not epoch:
            n = getattr(dataset, "num_examples", None)
            if not n:
                raise RunError(
                    f"train.schedule = 'alternate_epochs' with train.epoch_steps = 0 needs a "
                    f"training set of known size, and data.source = {config.data.source!r} is an "
                    "endless stream; set --config.train.epoch_steps=N (generator steps per epoch)")
            epoch = math.ceil(n / t.batch_size)
            if epoch < 2:
                raise RunError(
                    f"one pass over the {n} training examples is {epoch} batch of "
                    f"{t.batch_size}, which leaves the critic no update (its phase is one batch "
                    "fewer than the generator's); set --config.train.epoch_steps=N with N >= 2")
        return cls("alternate_epochs", epoch, 1)

    @property
    def cycle(self) -> int:
        """Loop steps per epoch (alternate_epochs)."""
        return 2 * self.epoch - 1

    def player(self, step: int) -> str:
        """'both', or 'generator' / 'critic': what loop step `step` updates."""
        if self.kind == "alternate_steps":
            return "both"
        return "generator" if step % self.cycle < self.epoch else "critic"

    def critic_steps(self, steps: int) -> int:
        """Critic-only steps among the loop steps [0, steps) (alternate_epochs)."""
        epochs, phase = divmod(steps, self.cycle)
        return epochs * (self.epoch - 1) + max(0, phase - self.epoch)

    def updates(self, steps: int) -> tuple[int, int]:
        """(generator updates, critic updates) in the first `steps` loop steps."""
        if self.kind == "alternate_steps":
            return steps, steps * self.n_critic
        critic = self.critic_steps(steps)
        return steps - critic, critic

    def data_position(self, step: int) -> int:
        """Real batches read before loop step `step`: where a resumed data stream starts."""
        return self.updates(step)[1]

    def batches(self, dataset, batch_size: int, start: int, **shard) -> Iterator[dict]:
        """The train step's batches from loop step `start` on: {'x': (n_critic, B, ...),
        'label'?}, and under alternate_epochs an empty dict for a generator-only step."""
        real = pipeline.stack(dataset.batches(batch_size, start=self.data_position(start), **shard),
                              self.n_critic)
        if self.kind == "alternate_steps":
            return real
        return (next(real) if self.player(s) == "critic" else {} for s in itertools.count(start))


def group(config, make_step, num_seeds: int) -> seeds.Group:
    """`seeds.group` for `config`'s schedule. Under alternate_epochs its executor holds the
    generator-only and the critic-only steps (`make_step(only=...)`) and runs the one the
    batch says (`Schedule.batches`: empty for the generator); they place states alike."""
    if config.train.schedule == "alternate_steps":
        return seeds.group(config, make_step, num_seeds)
    g = seeds.group(config, functools.partial(make_step, only="generator"), num_seeds)
    d = seeds.group(config, functools.partial(make_step, only="critic"), num_seeds)

    def step(state, batch):
        return (d if jax.tree.leaves(batch) else g).executor.step(state, batch)

    return dataclasses.replace(d, executor=dataclasses.replace(d.executor, step=step))
