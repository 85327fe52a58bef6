"""Several seeds of one recipe trained together: `--config.num_seeds=K`.

GAN results vary a lot between seeds, so papers report several. Training K copies one after
the other pays K compilations and runs K small steps that leave the machine underused; here
the K states are stacked on a leading axis and one `jax.vmap`-ed step updates them all.

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

SUMMARY = "seeds.json"


def seed_config(config: ml_collections.ConfigDict, k: int) -> ml_collections.ConfigDict:
    """The config of the k-th seed's own run: seed + k, trained alone."""
    c = copy.deepcopy(config)
    c.seed = config.seed + k
    c.num_seeds = 1
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


def vmapped(make_step: Callable[..., Callable]) -> Callable[..., Callable]:
    """`make_step` for stacked states and batches: the same step mapped over the seed axis."""

    def make(**kwargs):
        return jax.vmap(make_step(**kwargs))

    return make


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
