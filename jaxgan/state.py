"""GANState: everything a run needs to continue bit for bit, as one pytree of arrays.

One sub-state per player, as flaxmodels' StyleGAN2 keeps `state_G` and `state_D`: each `Player`
holds its parameters, batch-norm statistics, optimizer state and `extras`, a dict of whatever an
extension keeps beside them (the generator's EMA weights, the critic's replay buffer, ...), keyed
by the extension's name. Extensions add entries; nothing here has to change for them.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import flax
import jax
import jax.numpy as jnp
import optax


@flax.struct.dataclass
class Player:
    params: Any
    stats: Any  # batch-norm statistics ({} when the network has none)
    opt: optax.OptState
    extras: dict = flax.struct.field(default_factory=dict)

    def variables(self) -> dict:
        return {"params": self.params, "batch_stats": self.stats}


@flax.struct.dataclass
class GANState:
    step: jax.Array  # int32 scalar: loop steps done (generator updates under train.schedule's default)
    key: jax.Array  # uint32 key data of the run's base PRNG key (portable in checkpoints)
    g: Player
    d: Player

    def rng(self) -> jax.Array:
        return jax.random.wrap_key_data(self.key)


def _split_variables(variables) -> tuple[Any, Any]:
    variables = flax.core.unfreeze(variables)
    return variables["params"], variables.get("batch_stats", {})


# An extension's state: name -> fn(params) -> initial pytree.
ExtrasInit = Mapping[str, Callable[[Any], Any]]


def init_state(generator, critic, g_tx, d_tx, *, data_shape, z_dim: int, num_classes: int,
               batch_size: int, seed: int, g_extras: ExtrasInit = {}, d_extras: ExtrasInit = {}) -> GANState:
    """Initialise both players from `seed` (a pure function of its inputs).

    The critic is initialised on a whole training batch, so a critic that groups examples
    (PacGAN) needs nothing special here."""
    key = jax.random.key(seed)
    g_key, d_key, run_key = jax.random.split(key, 3)
    z = jnp.zeros((2, z_dim), jnp.float32)
    labels = jnp.zeros((2,), jnp.int32) if num_classes else None
    x = jnp.zeros((batch_size,) + tuple(data_shape), jnp.float32)
    d_labels = jnp.zeros((batch_size,), jnp.int32) if num_classes else None
    g_params, g_stats = _split_variables(
        generator.init({"params": g_key, "dropout": g_key}, z, labels, train=False))
    d_params, d_stats = _split_variables(
        critic.init({"params": d_key, "dropout": d_key}, x, d_labels, train=False))
    return GANState(
        step=jnp.zeros((), jnp.int32),
        key=jax.random.key_data(run_key),
        g=Player(g_params, g_stats, g_tx.init(g_params), {k: f(g_params) for k, f in g_extras.items()}),
        d=Player(d_params, d_stats, d_tx.init(d_params), {k: f(d_params) for k, f in d_extras.items()}),
    )
