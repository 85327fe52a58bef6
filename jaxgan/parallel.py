"""Execution modes for the train step: one device, a sharded mesh, or pmap.

`mesh` is the default with several devices: the state is replicated, the batch is sharded over
a `data` mesh axis, and `jax.jit` inserts the collectives, so batch-norm statistics and
gradients are over the global batch with no code change. `pmap` runs the per-device program
with an axis name (for forks that want explicit collectives); it gives the same numbers.

Several processes (hosts) run one program when `initialize_distributed()` is called first (from
JAXGAN_* environment variables): `mesh` then spans every process's devices, each process feeds
only its slice of the global batch, and the state is replicated everywhere.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Callable

import jax
import numpy as np
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P

AXIS = "data"


@dataclasses.dataclass
class Executor:
    """A compiled train step plus the placement of its inputs for one execution mode."""

    mode: str
    num_devices: int
    step: Callable  # (placed_state, placed_batch) -> (placed_state, metrics)
    place_state: Callable
    place_batch: Callable
    unplace_state: Callable  # placed state -> one logical copy (for checkpoints and sampling)


ENV_COORDINATOR, ENV_NUM_PROCESSES, ENV_PROCESS_ID = (
    "JAXGAN_COORDINATOR", "JAXGAN_NUM_PROCESSES", "JAXGAN_PROCESS_ID")


def initialize_distributed(timeout_s: int = 300) -> bool:
    """Join a multi-process run if JAXGAN_COORDINATOR (host:port of process 0),
    JAXGAN_NUM_PROCESSES and JAXGAN_PROCESS_ID are set; return whether it did.

    Call it before anything else touches JAX. On CPU the cross-process collectives are gloo's
    (XLA:CPU has none by default)."""
    address = os.environ.get(ENV_COORDINATOR)
    if not address:
        return False
    try:
        num_processes = int(os.environ[ENV_NUM_PROCESSES])
        process_id = int(os.environ[ENV_PROCESS_ID])
    except (KeyError, ValueError) as e:
        raise ValueError(f"{ENV_COORDINATOR} is set, so {ENV_NUM_PROCESSES} and {ENV_PROCESS_ID} "
                         f"must be integers too ({e!r})") from None
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=address, num_processes=num_processes,
                               process_id=process_id, initialization_timeout=timeout_s)
    return True


def resolve_mode(mode: str) -> str:
    if mode == "auto":
        return "mesh" if jax.device_count() > 1 else "single"
    if mode != "mesh" and jax.process_count() > 1:
        raise ValueError(f"train.parallel = {mode!r} runs on one process; with "
                         f"{jax.process_count()} processes use 'mesh' (or 'auto')")
    return mode


def check_batch(batch_size: int, num_devices: int, pack: int = 1) -> None:
    if batch_size % (num_devices * pack):
        raise ValueError(
            f"train.batch_size = {batch_size} must be a multiple of the number of devices "
            f"({num_devices}) times model.critic.pack ({pack}); choose e.g. "
            f"{num_devices * pack * max(1, batch_size // (num_devices * pack))}")


def make_executor(mode: str, make_step: Callable[..., Callable], batch_axis: int = 1) -> Executor:
    """`make_step(axis_name=None|str, num_replicas=int)` builds the pure step function; the
    batch's examples are on axis `batch_axis` ((n_critic, B, ...), or (seeds, n_critic, B, ...))."""
    mode = resolve_mode(mode)
    if mode == "single":
        device = jax.local_devices()[0]
        return Executor(
            mode, 1, jax.jit(make_step(), donate_argnums=0),
            place_state=lambda s: jax.device_put(s, device),
            place_batch=lambda b: jax.device_put(b, device),
            unplace_state=lambda s: s)
    if mode == "mesh":
        n = jax.device_count()  # every process's devices
        mesh = jax.make_mesh((n,), (AXIS,), axis_types=(AxisType.Auto,))
        replicated = NamedSharding(mesh, P())
        batch_sharding = NamedSharding(mesh, P(*[None] * batch_axis, AXIS))
        step = jax.jit(make_step(), donate_argnums=0,
                       in_shardings=(replicated, batch_sharding),
                       out_shardings=(replicated, replicated))
        place_state = lambda s: jax.device_put(s, replicated)
        place_batch = lambda b: jax.device_put(b, batch_sharding)
        if jax.process_count() > 1:
            # Each process holds the whole state but only its slice of the global batch.
            place_state = lambda s: jax.tree.map(
                lambda x: jax.make_array_from_process_local_data(replicated, np.asarray(x)),
                jax.device_get(s))
            place_batch = lambda b: jax.tree.map(
                lambda x: jax.make_array_from_process_local_data(batch_sharding, np.asarray(x)), b)
        return Executor(mode, n, step, place_state=place_state, place_batch=place_batch,
                        unplace_state=lambda s: s)
    if mode == "pmap":
        if batch_axis != 1:
            raise ValueError("train.parallel = 'pmap' trains one seed; use 'mesh' or 'single' with num_seeds > 1")
        n = jax.local_device_count()
        pstep = jax.pmap(make_step(axis_name=AXIS, num_replicas=n), axis_name=AXIS, donate_argnums=0)

        def step(state, batch):
            state, metrics = pstep(state, batch)
            return state, jax.tree.map(lambda m: m[0], metrics)  # already averaged over devices

        def place_batch(batch):
            # (n_critic, B, ...) -> (devices, n_critic, B / devices, ...)
            def split(x):
                x = np.asarray(x)
                x = x.reshape((x.shape[0], n, x.shape[1] // n) + x.shape[2:])
                return np.swapaxes(x, 0, 1)
            return jax.tree.map(split, batch)

        return Executor(
            mode, n, step,
            place_state=lambda s: jax.tree.map(lambda x: np.broadcast_to(x, (n,) + np.shape(x)),
                                               jax.device_get(s)),
            place_batch=place_batch,
            unplace_state=lambda s: jax.tree.map(lambda x: x[0], s))
    raise ValueError(f"unknown execution mode {mode!r}; choose auto, single, mesh or pmap")
