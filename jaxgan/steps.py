"""The train step: one pure function `train_step(state, batch) -> (state, metrics)`.

`n_critic` critic updates (each on its own real batch) then one generator update, read top to
bottom in `critic_update` and `generator_update`. The batch holds `n_critic` stacked real
batches: {'x': (n_critic, B, ...), 'label'?: (n_critic, B)}. All randomness comes from
`fold_in(state.key, state.step)`, so a resumed run repeats an uninterrupted one exactly.

What the research code plugs in lives elsewhere: the objectives in jaxgan/objectives.py, the
critic-input transforms, fake-batch sources and after-update functions in jaxgan/extensions.py.
What the execution edge decides arrives as arguments: `replicas` (how draws and averages relate
to devices, jaxgan/replicas.py; pmap), `reuse_fake`. The same function runs on one device, on a
sharded mesh under jit, and under pmap with an axis name, with the same numbers.

`only='critic'` / `only='generator'` builds the step of one player: its updates alone, the
other player's weights untouched (the critic's fakes still move the generator's batch-norm
statistics, as a train-mode generator forward does). `train.schedule = 'alternate_epochs'`
(jaxgan/schedule.py) runs these in turn; the generator-only step reads no real batch.

`reuse_fake`: the generator update reuses the last critic update's fake batch and the pullback
of its generator forward (`jax.vjp`) instead of a fresh latent batch, as pytorch/examples' DCGAN
loop does: one generator forward fewer per step (docs/performance.md). The fresh path uses the
same vjp form, so the two paths differ only in where the fake comes from.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from jax import lax

from jaxgan import augment, latent, objectives
from jaxgan.extensions import Extensions
from jaxgan.replicas import SINGLE, Replicas
from jaxgan.state import GANState, Player


def make_apply(module, replicas: Replicas = SINGLE):
    """(params, stats, inputs, labels, dropout_key) -> (outputs, new_stats), in train mode."""

    def apply(params, stats, x, labels, key):
        out, updates = module.apply(
            {"params": params, "batch_stats": stats}, x, labels, train=True,
            rngs={"dropout": replicas.local_key(key)}, mutable=["batch_stats"])
        return out, updates.get("batch_stats", stats)

    return apply


def apply_update(player: Player, grads, tx, after, step, replicas: Replicas, outputs=None) -> Player:
    """One optimizer step on `player`, then its after-update functions in order (those that
    declare `uses_outputs` also get the update's `outputs`)."""
    updates, opt = tx.update(replicas.mean(grads), player.opt, player.params)
    player = player.replace(params=optax.apply_updates(player.params, updates), opt=opt)
    for fn in after:
        player = fn(player, step, outputs) if getattr(fn, "uses_outputs", False) else fn(player, step)
    return player


def make_train_step(config, generator, critic, g_tx, d_tx, extensions: Extensions, *,
                    num_classes: int = 0, replicas: Replicas = SINGLE, reuse_fake: bool = False,
                    only: str | None = None):
    """Build the pure train step for `config`; `only` = 'critic' or 'generator' for one
    player's step (see the module docstring)."""
    if only not in (None, "critic", "generator"):
        raise ValueError(f"only = {only!r}: choose None (both players), 'critic' or 'generator'")
    lc, z_dim, sample_latent = config.loss, config.model.z_dim, latent.make_sampler(config.model)
    g_apply, d_apply = make_apply(generator, replicas), make_apply(critic, replicas)
    def transform(key, step, images, d_extras):
        """`images` through the critic-input transforms, those with state reading the critic's."""
        return augment.apply_chain(extensions.bound_transforms(d_extras), key, step, images, replicas)

    def generate(g_params, g_stats, z, labels, key):
        """(fake, pullback of the generator at g_params, new g_stats)."""
        return jax.vjp(lambda p: g_apply(p, g_stats, z, labels, key), g_params, has_aux=True)

    def critic_update(state: GANState, d: Player, g_stats, real_batch, key, keep_fake: bool):
        """One critic update; with `keep_fake` it also returns (fake, labels, pullback) for the
        generator update to reuse."""
        real, labels = real_batch["x"], real_batch.get("label")
        k_z, k_g, k_real, k_fake, k_pen, k_eps, k_noise, k_t = jax.random.split(key, 8)
        z = replicas.draw(sample_latent, k_z, (real.shape[0], z_dim))
        if keep_fake:
            fake, pullback, g_stats = generate(state.g.params, g_stats, z, labels, k_g)
            kept = (fake, labels, pullback)
        else:  # no pullback: XLA then computes only the forward
            (fake, g_stats), kept = g_apply(state.g.params, g_stats, z, labels, k_g), None
        fake, fake_labels, extras = lax.stop_gradient(fake), labels, dict(d.extras)
        for i, source in enumerate(extensions.fake_sources):
            fake, fake_labels, extras[source.name] = source(
                extras[source.name], jax.random.fold_in(key, 8 + i), fake, fake_labels, replicas)
        real = transform(k_noise, state.step, real, extras)
        fake = transform(jax.random.fold_in(k_noise, 1), state.step, fake, extras)
        keys = {"real": k_real, "fake": k_fake, "penalty": k_pen, "eps": k_eps, "targets": k_t}
        grads, (stats, metrics, outputs) = jax.grad(objectives.critic_objective, has_aux=True)(
            d.params, d.stats, d_apply, real, fake, labels, fake_labels, keys, lc, replicas,
            extras=extras, step=state.step)
        d = apply_update(d.replace(stats=stats, extras=extras), grads, d_tx, extensions.d_after,
                         state.step, replicas, outputs)
        return d, g_stats, metrics, kept

    def generator_update(state: GANState, g_stats, batch_size: int, key, kept) -> tuple[Player, dict]:
        """One generator update on a fresh latent batch, or on the critic's `kept` fake."""
        k_z, k_y, k_g, k_d, k_noise = jax.random.split(key, 5)
        if kept is None:
            z = replicas.draw(sample_latent, k_z, (batch_size, z_dim))
            labels = None
            if num_classes:
                labels = replicas.draw(lambda k, s: jax.random.randint(k, s, 0, num_classes), k_y, (batch_size,))
            fake, pullback, g_stats = generate(state.g.params, g_stats, z, labels, k_g)
        else:
            fake, labels, pullback = kept
        objective = lambda fake: objectives.generator_objective(
            transform(k_noise, state.step, fake, state.d.extras), labels, state.d, d_apply, k_d, lc)
        d_fake, metrics = jax.grad(objective, has_aux=True)(fake)
        (grads,) = pullback(d_fake)
        g = apply_update(state.g.replace(stats=g_stats), grads, g_tx, extensions.g_after, state.step, replicas)
        return g, metrics

    def critic_updates(state: GANState, batch, key):
        """The step's n_critic critic updates, each on its own real batch: (d, g_stats, mean
        metrics, the last update's kept fake or None)."""
        d, g_stats, kept, d_metrics, n_critic = state.d, state.g.stats, None, [], batch["x"].shape[0]
        # A Python loop, not lax.scan: XLA:CPU runs convolutions inside a while loop on a slow
        # path (docs/performance.md).
        for i in range(n_critic):
            real_batch = jax.tree.map(lambda v: v[i], batch)
            keep_fake = reuse_fake and i == n_critic - 1
            d, g_stats, metrics, kept = critic_update(state, d, g_stats, real_batch,
                                                      jax.random.fold_in(key, i), keep_fake)
            d_metrics.append(metrics)
        return d, g_stats, {k: jnp.mean(jnp.stack([m[k] for m in d_metrics])) for k in d_metrics[0]}, kept

    def train_step(state: GANState, batch):
        key = jax.random.fold_in(state.rng(), state.step)
        g_stats, kept, metrics = state.g.stats, None, {}
        if only != "generator":
            d, g_stats, metrics, kept = critic_updates(state, batch, key)
            state = state.replace(d=d)
        if only == "critic":
            g = state.g.replace(stats=g_stats)
        else:
            # The generator-only step has no real batch: its size is the config's (per device).
            n_critic, batch_size = (batch["x"].shape[:2] if only is None else
                                    (config.train.n_critic, config.train.batch_size // replicas.num_replicas))
            g, g_metrics = generator_update(state, g_stats, batch_size, jax.random.fold_in(key, n_critic), kept)
            metrics |= g_metrics
        state = state.replace(g=g, step=state.step + 1)
        metrics |= extensions.metrics(state.g.extras, state.d.extras)
        return state, replicas.mean(metrics)

    return train_step


def make_sample_fn(generator, *, batch_stats: str = "running"):
    """(g_params, g_stats, z, labels) -> samples; batch norm from running averages or the batch."""

    def sample(g_params, g_stats, z, labels=None):
        variables = {"params": g_params, "batch_stats": g_stats}
        if batch_stats == "batch":
            out, _ = generator.apply(variables, z, labels, train=True, mutable=["batch_stats"],
                                     rngs={"dropout": jax.random.key(0)})
            return out
        return generator.apply(variables, z, labels, train=False)

    return sample
