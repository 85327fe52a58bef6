"""GANState: everything a run needs to continue bit for bit, as one pytree of arrays."""
from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax


@flax.struct.dataclass
class GANState:
    step: jax.Array  # int32 scalar: generator updates done
    g_params: Any
    g_stats: Any  # generator batch-norm statistics ({} when it has none)
    d_params: Any
    d_stats: Any
    g_opt: optax.OptState
    d_opt: optax.OptState
    key: jax.Array  # uint32 key data of the run's base PRNG key (portable in checkpoints)

    def rng(self) -> jax.Array:
        return jax.random.wrap_key_data(self.key)


def _split_variables(variables) -> tuple[Any, Any]:
    variables = flax.core.unfreeze(variables)
    return variables["params"], variables.get("batch_stats", {})


def init_state(generator, critic, g_tx, d_tx, *, data_shape, z_dim: int, num_classes: int,
               seed: int) -> GANState:
    """Initialise both networks and optimizers from `seed` (a pure function of its inputs)."""
    key = jax.random.key(seed)
    g_key, d_key, run_key = jax.random.split(key, 3)
    z = jnp.zeros((2, z_dim), jnp.float32)
    labels = jnp.zeros((2,), jnp.int32) if num_classes else None
    # The critic sees whole packing groups (PacGAN), so it is initialised on 2 * pack examples.
    pack = getattr(critic, "pack", 1)
    x = jnp.zeros((2 * pack,) + tuple(data_shape), jnp.float32)
    d_labels = jnp.zeros((2 * pack,), jnp.int32) if num_classes else None
    g_params, g_stats = _split_variables(
        generator.init({"params": g_key, "dropout": g_key}, z, labels, train=False))
    d_params, d_stats = _split_variables(
        critic.init({"params": d_key, "dropout": d_key}, x, d_labels, train=False))
    return GANState(
        step=jnp.zeros((), jnp.int32),
        g_params=g_params,
        g_stats=g_stats,
        d_params=d_params,
        d_stats=d_stats,
        g_opt=g_tx.init(g_params),
        d_opt=d_tx.init(d_params),
        key=jax.random.key_data(run_key),
    )
