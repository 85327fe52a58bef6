"""Several seeds of one recipe trained together: `--config.num_seeds=K`.

GAN results vary a lot between seeds, so papers report several. Training K copies one after
the other pays K compilations and runs K small steps that leave the machine underused; here
the K states are stacked on a leading axis and one `jax.vmap`-ed step updates them all.

`train.seeds_step` picks how a step runs: 'vmap' (one compiled step over the stacked seeds) or
'loop' (the seeds kept as a tuple of states, the one-seed step compiled once and called for each).
On XLA:CPU one seed's step of a 28x28 model already keeps the cores busy, and a vmapped step
costs more than K one-seed steps: each seed's convolutions cannot be batched (the slices, stacks
and layout transposes around them add 20-30%), and batched matmuls run slower than one matmul per
seed (the fully connected MNIST GAN: 0.63x). Whole runs of the tiny 2D GAN were faster looped too
(README "Performance"). So 'auto' loops on CPU and vmaps on accelerators, where one small model
leaves the device idle. Both give the same numbers.

Each seed s = config.seed + k is a complete run of its own in `<workdir>/seed_<s>/`: the
config, checkpoints, metrics, samples and evaluations that `--config.seed=s` alone would write
there, from the same initial state and the same data order (its dataset reshuffled with its
seed). So every per-run tool (`--mode=eval`, `--mode=sample`, `jaxgan.report`) works on one
seed's directory, and `<workdir>/seeds.json` holds every seed's final metrics with their mean
and standard deviation.
"""
from __future__ import annotations

import copy
import json
import os
import statistics
from pathlib import Path
from typing import Callable, Iterator, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxgan import parallel
from jaxgan.parallel import Executor

SUMMARY = "seeds.json"


def seed_config(config: ml_collections.ConfigDict, k: int) -> ml_collections.ConfigDict:
    """The config of the k-th seed's own run: seed + k, trained alone."""
    c = copy.deepcopy(config)
    c.seed = config.seed + k
    c.num_seeds, c.train.seeds_step = 1, "auto"  # as if trained alone (the default for one seed)
    return c


def seed_workdir(workdir: Path, seed: int) -> Path:
    return Path(workdir) / f"seed_{seed}"


def seed_dirs(workdir: str | os.PathLike) -> list[Path]:
    """The per-seed run directories of a multi-seed workdir (empty for any other)."""
    path = Path(workdir).expanduser()
    return sorted((p for p in path.glob("seed_*") if p.is_dir() and p.name[5:].isdigit()),
                  key=lambda p: int(p.name[5:]))


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
    from jaxgan.experiment import atomic_write_text

    atomic_write_text(Path(workdir) / SUMMARY, json.dumps(summary, indent=2, sort_keys=True))
