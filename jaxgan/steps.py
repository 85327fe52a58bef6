"""The train step: one pure function `train_step(state, batch) -> (state, metrics)`.

`n_critic` critic updates (each on its own real batch) then one generator update. All
randomness comes from `fold_in(state.key, state.step)`, so a step is a pure function of its
inputs and a resumed run repeats an uninterrupted one exactly.

The batch holds `n_critic` stacked real batches: {'x': (n_critic, B, ...), 'label'?: (n_critic, B)}.

By default the generator update draws a fresh latent batch. `train.reuse_fake` makes it reuse the
last critic update's fake batch (and its labels) instead, as pytorch/examples' DCGAN loop does:
that generator forward is differentiated with `jax.vjp`, so the step runs one generator forward
fewer (8-9% of a DCGAN step's FLOPs: tests/test_steps.py, README "Performance").

The same function serves three execution modes:
  * one device, under `jax.jit`;
  * data parallel under `jax.jit` with the batch sharded over a mesh axis (XLA inserts the
    all-reduces; nothing here changes);
  * under `jax.pmap`/`shard_map` with `axis_name` set: gradients, batch-norm statistics and
    metrics are averaged over that axis, and random draws are sliced from the global draw so
    each device gets exactly its part of what one device would have drawn.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import optax
from jax import lax

from jaxgan import augment, latent, losses
from jaxgan.state import GANState


class _Draws:
    """Random draws that are identical whether the batch lives on one device or is split."""

    def __init__(self, axis_name: str | None, num_replicas: int):
        self.axis_name, self.num_replicas = axis_name, num_replicas

    def __call__(self, sample: Callable, key, local_shape):
        if self.axis_name is None:
            return sample(key, local_shape)
        n = local_shape[0]
        full = sample(key, (n * self.num_replicas,) + tuple(local_shape[1:]))
        return lax.dynamic_slice_in_dim(full, lax.axis_index(self.axis_name) * n, n)

    def local_key(self, key):
        # For draws made inside modules (dropout): a different stream on every device.
        return key if self.axis_name is None else jax.random.fold_in(key, lax.axis_index(self.axis_name))

    def mean(self, tree):
        return tree if self.axis_name is None else lax.pmean(tree, self.axis_name)


def _split(critic_out):
    """(scores, class logits or None): an AC-GAN critic returns both, others scores only."""
    return critic_out if isinstance(critic_out, tuple) else (critic_out, None)


def make_apply(module):
    """(params, stats, inputs, labels, dropout_key) -> (outputs, new_stats), in train mode."""

    def apply(params, stats, x, labels, key):
        out, updates = module.apply(
            {"params": params, "batch_stats": stats}, x, labels, train=True,
            rngs={"dropout": key}, mutable=["batch_stats"])
        return out, updates.get("batch_stats", stats)

    return apply


def make_train_step(config, generator, critic, g_tx, d_tx, *, num_classes: int = 0,
                    axis_name: str | None = None, num_replicas: int = 1):
    """Build the pure train step for `config` (see the module docstring)."""
    loss = losses.get(config.loss.name)
    lc = config.loss
    z_dim, sample_latent = config.model.z_dim, latent.make_sampler(config.model)
    pack = getattr(critic, "pack", 1)
    g_apply, d_apply = make_apply(generator), make_apply(critic)
    draws = _Draws(axis_name, num_replicas)
    noise = config.augment
    reuse_fake = config.train.reuse_fake

    def add_noise(step, key, x):
        # Instance noise on every critic input, real and fake alike.
        if not noise.instance_noise:
            return x
        std = augment.instance_noise_std(step, noise.instance_noise, noise.instance_noise_anneal_steps)
        return x + std * draws(jax.random.normal, key, x.shape).astype(x.dtype)

    fold = lambda k: jax.random.fold_in(k, 1)

    def critic_update(state: GANState, carry, real_batch, key, keep_fake: bool = False):
        """One critic update; with `keep_fake` it also returns (fake, labels, the generator's
        pullback at fake) for the generator update to reuse."""
        d_params, d_stats, d_opt, g_stats = carry
        real, labels = real_batch["x"], real_batch.get("label")
        b = real.shape[0]
        k_z, k_g, k_real, k_fake, k_pen, k_eps, k_noise, k_t = jax.random.split(key, 8)
        z = draws(sample_latent, k_z, (b, z_dim))
        generate = lambda g_params: g_apply(g_params, g_stats, z, labels, draws.local_key(k_g))
        if keep_fake:
            fake, pullback, g_stats = jax.vjp(generate, state.g_params, has_aux=True)
            kept = (fake, labels, pullback)
        else:
            (fake, g_stats), kept = generate(state.g_params), None
        fake = lax.stop_gradient(fake)
        real, fake = add_noise(state.step, k_noise, real), add_noise(state.step, fold(k_noise), fake)
        eps = draws(jax.random.uniform, k_eps, (b // pack,))
        k_rt, k_ft = jax.random.split(k_t)
        real_target = draws(lambda k, s: augment.label_targets(k, s, lc.real_label, lc.real_label_range),
                            k_rt, (b // pack,))
        fake_target = draws(lambda k, s: augment.label_targets(k, s, lc.fake_label, lc.fake_label_range),
                            k_ft, (b // pack,))

        def loss_fn(d_params):
            real_out, stats = d_apply(d_params, d_stats, real, labels, draws.local_key(k_real))
            fake_out, stats = d_apply(d_params, stats, fake, labels, draws.local_key(k_fake))
            (real_out, real_logits), (fake_out, fake_logits) = _split(real_out), _split(fake_out)
            d_loss = loss.critic(real_out, fake_out, real_target, fake_target)
            metrics = {"d_loss": d_loss, "d_real": jnp.mean(real_out), "d_fake": jnp.mean(fake_out)}
            total = d_loss
            if real_logits is not None:
                class_loss = losses.class_loss(real_logits, labels) + losses.class_loss(fake_logits, labels)
                total += lc.class_weight * class_loss
                metrics["d_class_loss"] = class_loss
                metrics["d_class_accuracy"] = jnp.mean(jnp.argmax(real_logits, -1) == labels)
            critic_fn = lambda x: _split(d_apply(d_params, d_stats, x, labels, draws.local_key(k_pen))[0])[0]
            if lc.gradient_penalty:
                gp = losses.gradient_penalty(critic_fn, real, fake, eps, group=pack)
                total += lc.gradient_penalty * gp
                metrics["gradient_penalty"] = gp
            if lc.r1_penalty:
                r1 = losses.r1_penalty(critic_fn, real, group=pack)
                total += 0.5 * lc.r1_penalty * r1
                metrics["r1_penalty"] = r1
            return total, (stats, metrics)

        grads, (d_stats, metrics) = jax.grad(loss_fn, has_aux=True)(d_params)
        grads = draws.mean(grads)
        updates, d_opt = d_tx.update(grads, d_opt, d_params)
        d_params = optax.apply_updates(d_params, updates)
        if lc.clip:
            d_params = jax.tree.map(lambda p: jnp.clip(p, -lc.clip, lc.clip), d_params)
        return (d_params, d_stats, d_opt, g_stats), metrics, kept

    def generator_update(state: GANState, g_stats, b, key, kept=None):
        """One generator update on a fresh latent batch, or on the critic's `kept` fake."""
        k_z, k_y, k_g, k_d, k_noise = jax.random.split(key, 5)

        def objective(fake, labels):  # the generator's loss as a function of its output
            fake = add_noise(state.step, k_noise, fake)
            fake_out, _ = d_apply(state.d_params, state.d_stats, fake, labels, draws.local_key(k_d))
            fake_out, fake_logits = _split(fake_out)
            g_loss = loss.generator(fake_out)
            metrics = {"g_loss": g_loss}
            total = g_loss
            if fake_logits is not None:
                metrics["g_class_loss"] = losses.class_loss(fake_logits, labels)
                total += lc.class_weight * metrics["g_class_loss"]
            return total, metrics

        if kept is not None:
            fake, labels, pullback = kept
            d_fake, metrics = jax.grad(objective, has_aux=True)(fake, labels)
            (grads,) = pullback(d_fake)
        else:
            z = draws(sample_latent, k_z, (b, z_dim))
            labels = None
            if num_classes:
                labels = draws(lambda k, s: jax.random.randint(k, s, 0, num_classes), k_y, (b,))

            def loss_fn(g_params):
                fake, stats = g_apply(g_params, g_stats, z, labels, draws.local_key(k_g))
                total, metrics = objective(fake, labels)
                return total, (stats, metrics)

            grads, (g_stats, metrics) = jax.grad(loss_fn, has_aux=True)(state.g_params)
        grads = draws.mean(grads)
        updates, g_opt = g_tx.update(grads, state.g_opt, state.g_params)
        return optax.apply_updates(state.g_params, updates), g_stats, g_opt, metrics

    def train_step(state: GANState, batch):
        key = jax.random.fold_in(state.rng(), state.step)
        n_critic = batch["x"].shape[0]
        carry = (state.d_params, state.d_stats, state.d_opt, state.g_stats)
        # A Python loop, not lax.scan: XLA:CPU runs convolutions inside a while loop on a slow
        # path (a DCGAN critic update took 950 ms in a scan against 30 ms outside one).
        d_metrics = []
        for i in range(n_critic):
            real_batch = jax.tree.map(lambda v: v[i], batch)
            keep_fake = reuse_fake and i == n_critic - 1
            carry, metrics, kept = critic_update(state, carry, real_batch, jax.random.fold_in(key, i), keep_fake)
            d_metrics.append(metrics)
        d_metrics = jax.tree.map(lambda *v: jnp.stack(v), *d_metrics)
        d_params, d_stats, d_opt, g_stats = carry
        state = state.replace(d_params=d_params, d_stats=d_stats, d_opt=d_opt)
        b = batch["x"].shape[1]
        g_params, g_stats, g_opt, g_metrics = generator_update(
            state, g_stats, b, jax.random.fold_in(key, n_critic), kept)
        state = state.replace(g_params=g_params, g_stats=g_stats, g_opt=g_opt, step=state.step + 1)
        metrics = {k: jnp.mean(v) for k, v in d_metrics.items()} | g_metrics
        return state, draws.mean(metrics)

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
