"""What each player minimises, as module-level pure functions of the critic and the batches.

`critic` below is `(params, stats, images, labels, key) -> (output, new_stats)` in train mode
(`steps.make_apply`); its output is a score per critic input, or (scores, class logits) for an
AC-GAN critic. The images arrive already through the critic-input transforms. The loss pair is
chosen by `loss.name` (jaxgan/losses.py); penalties and the AC-GAN class loss are added here,
each weighted by its `loss.*` factor. A new penalty is a function in losses.py and a line in
`critic_objective`; a penalty with state (LeCam's EMAs) reads it from the critic's `extras`,
which a critic after-update function keeps (jaxgan/lecam.py).
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp

from jaxgan import lecam, losses


def split_output(out):
    """(scores, class logits or None): an AC-GAN critic returns both, others scores only."""
    return out if isinstance(out, tuple) else (out, None)


def label_targets(key, shape, value: float, uniform_range: Sequence[float]):
    """Targets of the binary losses: `value`, or per-example U(low, high) when a range is given
    (seed 004's label smoothing: fixed values or sampled from a uniform range)."""
    if uniform_range:
        low, high = uniform_range
        return jax.random.uniform(key, shape, minval=low, maxval=high)
    return jnp.full(shape, value, jnp.float32)


def critic_objective(params, stats, critic, real, fake, real_labels, fake_labels, keys, lc, replicas,
                     extras=None, step=0):
    """The critic's loss on a real and a fake batch, with label smoothing, penalties and the
    AC-GAN class loss; returns (total, (new batch stats, metrics, outputs)).

    `keys` holds 'real', 'fake' (the critic's own dropout), 'penalty', 'eps' (interpolation
    weights) and 'targets' (smoothed labels); `lc` is the `loss` config section; `extras` the
    critic's extras and `step` the generator step, for penalties with state. `outputs` are
    means over the global batch of the scores (`real_mean`, `fake_mean`, and `real_sign`,
    E[sign(D(real))]), for the critic's after-update functions (LeCam's EMAs, ADA's p)."""
    loss = losses.get(lc.name)
    real_out, stats_after = critic(params, stats, real, real_labels, keys["real"])
    fake_out, stats_after = critic(params, stats_after, fake, fake_labels, keys["fake"])
    (real_scores, real_logits), (fake_scores, fake_logits) = split_output(real_out), split_output(fake_out)
    # One target per critic input: a critic that packs examples (PacGAN) scores groups.
    k_rt, k_ft = jax.random.split(keys["targets"])
    real_target = replicas.draw(lambda k, s: label_targets(k, s, lc.real_label, lc.real_label_range),
                                k_rt, real_scores.shape)
    fake_target = replicas.draw(lambda k, s: label_targets(k, s, lc.fake_label, lc.fake_label_range),
                                k_ft, fake_scores.shape)
    d_loss = loss.critic(real_scores, fake_scores, real_target, fake_target)
    metrics = {"d_loss": d_loss, "d_real": jnp.mean(real_scores), "d_fake": jnp.mean(fake_scores)}
    outputs = jax.lax.stop_gradient(replicas.mean({
        "real_mean": metrics["d_real"], "fake_mean": metrics["d_fake"], "real_sign": jnp.mean(jnp.sign(real_scores))}))
    total = d_loss
    if real_logits is not None:
        class_loss = losses.class_loss(real_logits, real_labels)
        if lc.class_on_fakes:
            class_loss += losses.class_loss(fake_logits, fake_labels)
        total += lc.class_weight * class_loss
        metrics["d_class_loss"] = class_loss
        metrics["d_class_accuracy"] = jnp.mean(jnp.argmax(real_logits, -1) == real_labels)
    # The penalties see the critic's scores only, with the statistics it started the update with;
    # a critic that packs examples scores groups of `group`, and norms are taken per group.
    scores = lambda x: split_output(critic(params, stats, x, real_labels, keys["penalty"])[0])[0]
    group = real.shape[0] // real_scores.shape[0]
    if lc.gradient_penalty:
        eps = replicas.draw(jax.random.uniform, keys["eps"], real_scores.shape)
        gp = losses.gradient_penalty(scores, real, fake, eps, group=group)
        total += lc.gradient_penalty * gp
        metrics["gradient_penalty"] = gp
    if lc.r1_penalty:
        r1 = losses.r1_penalty(scores, real, group=group)
        total += 0.5 * lc.r1_penalty * r1
        metrics["r1_penalty"] = r1
    if lc.drift:
        drift = losses.drift_penalty(real_scores)
        total += lc.drift * drift
        metrics["drift_penalty"] = drift
    if lc.lecam:
        ema = extras[lecam.NAME]
        reg = losses.lecam_penalty(real_scores, fake_scores, ema["real"], ema["fake"])
        total += lc.lecam * jnp.where(step >= lc.lecam_start_step, reg, 0.0)
        metrics["lecam_penalty"] = reg
    return total, (stats_after, metrics, outputs)


def generator_objective(fake, labels, d, critic, key, lc):
    """The generator's loss as a function of its (transformed) output, against critic `d`
    (a `state.Player`); returns (total, metrics)."""
    out, _ = critic(d.params, d.stats, fake, labels, key)
    scores, logits = split_output(out)
    g_loss = losses.get(lc.name).generator(scores)
    metrics = {"g_loss": g_loss}
    total = g_loss
    if logits is not None:
        metrics["g_class_loss"] = losses.class_loss(logits, labels)
        total += lc.class_weight * metrics["g_class_loss"]
    return total, metrics
