"""Several seeds of one recipe trained together: `--config.num_seeds=K`.

GAN results vary a lot between seeds, so papers report several. Training K copies one after
the other pays K compilations and runs K small steps that leave an accelerator underused; here
the K seeds step together, and the trainer's loop does not know how many there are: `group`
gives it one executor over one state, one batch stream, and each seed's part of what a step
returns (`Group.member`), from which the trainer builds each seed's hooks' view.

`train.seeds_step` picks how a step runs: 'vmap' (the K states stacked on a leading axis and one
`jax.vmap`-ed step updating them all) or 'loop' (the seeds kept as a tuple of states, the one-seed
step compiled once and called for each). On XLA:CPU one seed's step already keeps the cores busy
and a vmapped step costs more than K one-seed steps (per-seed convolutions cannot be batched,
and the slices and transposes around them are extra work), so 'auto' loops on CPU and vmaps on
accelerators, where one small model leaves the device idle. Both give the same numbers. The
measurements: docs/performance.md#several-seeds and `benchmarks/seeds_throughput.py`.

Each seed s = config.seed + k is a complete run of its own in `<workdir>/seed_<s>/`: the
config, checkpoints, metrics, samples and evaluations that `--config.seed=s` alone would write
there, from the same initial state and the same data order (its dataset reshuffled with its
seed). So every per-run tool (`--mode=eval`, `--mode=sample`, `jaxgan.report`) works on one
seed's directory, and `<workdir>/seeds.json` holds every seed's final metrics with their mean
and standard deviation.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import statistics
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxgan import parallel
from jaxgan.parallel import Executor
from jaxgan.workdir import SEEDS_SUMMARY as SUMMARY
from jaxgan.workdir import atomic_write_text


def seed_config(config: ml_collections.ConfigDict, k: int) -> ml_collections.ConfigDict:
    """The config of the k-th seed's own run: seed + k, trained alone."""
    c = copy.deepcopy(config)
    c.seed = config.seed + k
    c.num_seeds, c.train.seeds_step = 1, "auto"  # as if trained alone (the default for one seed)
    return c


def stack(trees: Sequence) -> object:
    """K pytrees of the same structure -> one pytree of arrays with a leading axis K."""
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def take(tree, k: int):
    """The k-th member of a stacked pytree."""
    return jax.tree.map(lambda x: x[k], tree)


def step_mode(config: ml_collections.ConfigDict) -> str:
    """'vmap' or 'loop' for `config.train.seeds_step` on this backend (module docstring)."""
    mode = config.train.seeds_step
    if mode != "auto":
        return mode
    return "loop" if jax.default_backend() == "cpu" else "vmap"


def make_executor(mode: str, parallel_mode: str, make_step: Callable[..., Callable], num_seeds: int) -> Executor:
    """The `parallel_mode` executor of `num_seeds` seeds stepped as `mode` says ('vmap' or 'loop').

    Either way it places and gives back the seeds' states stacked on a leading axis (`stack`)
    and takes batches stacked the same way (`zip_batches`), and its metrics have the seed axis
    first, so the trainer handles both alike."""
    if mode == "vmap":
        vmapped = lambda **kwargs: jax.vmap(make_step(**kwargs))
        return parallel.make_executor(parallel_mode, vmapped, batch_axis=2)
    return looped(parallel.make_executor(parallel_mode, make_step), num_seeds)


def looped(executor: Executor, num_seeds: int) -> Executor:
    """`executor` (one seed's compiled step) called once per seed. The placed state is a tuple of
    the seeds' own states, split from the stacked state once (`place_state`) and stacked again
    only when asked (`unplace_state`: checkpoints, evaluation), so a step slices nothing."""
    stack_metrics = jax.jit(lambda *metrics: stack(metrics))  # one dispatch, not one per metric
    split = lambda tree: [take(tree, k) for k in range(num_seeds)]

    def step(states, batches):
        results = [executor.step(s, b) for s, b in zip(states, batches, strict=True)]
        return tuple(s for s, _ in results), stack_metrics(*(m for _, m in results))

    return Executor(
        f"{executor.mode} x {num_seeds} seeds", executor.num_devices, step,
        place_state=lambda state: tuple(executor.place_state(s) for s in split(state)),
        place_batch=lambda batch: tuple(executor.place_batch(b) for b in split(batch)),
        unplace_state=lambda states: stack([executor.unplace_state(s) for s in states]))


@dataclasses.dataclass(frozen=True)
class Group:
    """K >= 1 seeds as the training loop sees them: one executor over one state."""

    executor: Executor
    stack: Callable[[Sequence], Any]  # the seeds' states -> the one state the executor places
    member: Callable[[Any, int], Any]  # seed k's part of that state, or of a step's metrics
    zip: Callable[[Sequence[Iterator[dict]]], Iterator[dict]]  # the seeds' batch streams -> one


def group(config: ml_collections.ConfigDict, make_step: Callable[..., Callable], num_seeds: int) -> Group:
    """How `num_seeds` seeds of `config` step together (`train.seeds_step`, `train.parallel`);
    for one seed, its own executor, with nothing stacked."""
    if num_seeds == 1:
        return Group(parallel.make_executor(config.train.parallel, make_step),
                     stack=lambda states: states[0], member=lambda tree, k: tree,
                     zip=lambda streams: streams[0])
    return Group(make_executor(step_mode(config), config.train.parallel, make_step, num_seeds),
                 stack=stack, member=take, zip=zip_batches)


def zip_batches(streams: Sequence[Iterator[dict]]) -> Iterator[dict]:
    """One batch per seed's stream, stacked on a leading seed axis."""
    for group in zip(*streams):
        yield {key: np.stack([b[key] for b in group]) for key in group[0]}


def summarize(final: dict[int, dict]) -> dict:
    """{seed: metrics} -> per-seed rows plus mean and (sample) std of each shared metric."""
    names = sorted(set.intersection(*(set(m) for m in final.values()))) if final else []
    values = {n: [float(m[n]) for m in final.values()] for n in names}
    mean = {n: statistics.fmean(v) for n, v in values.items()}
    std = {n: statistics.stdev(v) if len(v) > 1 else 0.0 for n, v in values.items()}
    return {"seeds": {str(s): m for s, m in final.items()}, "mean": mean, "std": std}


def write_summary(workdir: Path, summary: dict) -> None:
    atomic_write_text(Path(workdir) / SUMMARY, json.dumps(summary, indent=2, sort_keys=True))
