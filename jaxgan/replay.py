"""Experience replay for the critic (seed 000's wish; CycleGAN's image pool, TF-GAN's
`tensor_pool`): a share of every critic fake batch is drawn from earlier generators' images.

A critic that only sees the current generator's samples forgets what older ones did, and the
generator can cycle back to modes the critic has stopped punishing. The buffer holds
`replay.size` generated images (and their labels for conditional runs) in the critic's state
(`extras["replay"]`): pure, checkpointed and resumed with it. Each critic update replaces the
first `round(replay.fraction * batch)` fakes of its batch with uniform draws from the filled part
of the buffer, then stores the update's fresh fakes: in order until the buffer is full, then each
in a distinct random slot, so an image's age in the buffer is geometric and older generators
stay represented. Under pmap every device stores the whole global batch (`replicas.gather`), so
the buffers stay identical and the result equals one device's.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from jaxgan.config import Field, Section, floats, ints


def _check(config) -> list[str]:
    r = config.replay
    if r.size and r.size < config.train.batch_size:
        return [f"replay.size = {r.size} must be 0 (off) or at least train.batch_size = "
                f"{config.train.batch_size} (one critic batch is stored per update)"]
    if r.size and not r.fraction:
        return [f"replay.size = {r.size} with replay.fraction = 0 keeps a buffer it never uses; "
                "set replay.fraction > 0 or replay.size = 0"]
    return []


SECTION = Section("replay", {
    "size": Field(0, ints(0), "generated images kept for the critic; 0 = off"),
    "fraction": Field(0.5, floats(0.0, 1.0), "share of each critic fake batch drawn from the buffer"),
}, check=_check)

NAME = "replay"


class ReplayBuffer:
    name = NAME

    def __init__(self, size: int, fraction: float, data_shape, num_classes: int):
        self.size, self.fraction = size, fraction
        self.data_shape, self.conditional = tuple(data_shape), bool(num_classes)

    def init(self, params):
        del params
        buffer = {"images": jnp.zeros((self.size,) + self.data_shape, jnp.float32),
                  "count": jnp.zeros((), jnp.int32)}  # images ever stored
        if self.conditional:
            buffer["labels"] = jnp.zeros((self.size,), jnp.int32)
        return buffer

    def __call__(self, buffer, key, fake, labels, replicas):
        """(fake, labels) with replayed images mixed in, and the buffer with the fresh fakes."""
        k_pick, k_slot = jax.random.split(key)
        b = fake.shape[0]
        filled = jnp.minimum(buffer["count"], self.size)
        global_b = b * replicas.num_replicas
        replayed = round(self.fraction * global_b)
        use = replicas.draw(lambda k, s: jnp.arange(s[0]) < replayed, k_pick, (b,)) & (filled > 0)
        pick = replicas.draw(lambda k, s: jax.random.randint(k, s, 0, jnp.maximum(filled, 1)), k_pick, (b,))
        mask = use.reshape((b,) + (1,) * (fake.ndim - 1))
        mixed = jnp.where(mask, buffer["images"][pick].astype(fake.dtype), fake)
        mixed_labels = None if labels is None else jnp.where(use, buffer["labels"][pick], labels)

        fresh = replicas.gather(fake)
        n = fresh.shape[0]
        in_order = (buffer["count"] + jnp.arange(n)) % self.size
        random = jax.random.permutation(k_slot, self.size)[:n]
        slots = jnp.where(buffer["count"] < self.size, in_order, random)
        new = {"images": buffer["images"].at[slots].set(lax.stop_gradient(fresh).astype(jnp.float32)),
               "count": buffer["count"] + n}
        if labels is not None:
            new["labels"] = buffer["labels"].at[slots].set(replicas.gather(labels).astype(jnp.int32))
        return mixed, mixed_labels, new


def from_config(config, data_shape, num_classes):
    r = config.replay
    return ReplayBuffer(r.size, r.fraction, data_shape, num_classes) if r.size else None
