"""GAN objectives as pure functions of critic outputs, chosen by name.

Every critic loss takes the critic's scores on a real and a fake batch (and, for the binary
losses, the target values, so label smoothing is a matter of passing other targets); every
generator loss takes the scores on a fake batch. Penalties take the critic as a function.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from jaxgan.config import Field, Section, boolean, choice, floats, ints, seq


def _check(c) -> list[str]:
    problems = []
    smoothing = (c.loss.real_label != 1.0 or c.loss.fake_label != 0.0
                 or c.loss.real_label_range or c.loss.fake_label_range)
    if smoothing and not get(c.loss.name).uses_targets:
        problems.append(f"loss.real_label/fake_label(_range) (label smoothing) have no effect with "
                        f"loss.name = {c.loss.name!r}; use a binary loss or leave them at 1.0/0.0 and ()")
    for side in ("real", "fake"):
        r = c.loss[f"{side}_label_range"]
        if r and not (len(r) == 2 and all(isinstance(v, (int, float)) for v in r) and 0 <= r[0] <= r[1] <= 1):
            problems.append(f"loss.{side}_label_range = {tuple(r)!r}: must be () or (low, high) "
                            "with 0 <= low <= high <= 1")
    if c.loss.lecam and c.loss.lecam_start_step >= c.train.steps:
        problems.append(f"loss.lecam = {c.loss.lecam} never applies: loss.lecam_start_step "
                        f"({c.loss.lecam_start_step}) >= train.steps ({c.train.steps}); lower it, e.g. "
                        f"--config.loss.lecam_start_step={c.train.steps // 10}, or set loss.lecam=0")
    return problems


# Declared before the losses it names; `choice` reads LOSSES when a config is validated.
SECTION = Section("loss", {
    "name": Field("non_saturating", choice(lambda c: tuple(LOSSES)), "the GAN objective"),
    "gradient_penalty": Field(0.0, floats(0.0), "WGAN-GP factor (lambda)"),
    "r1_penalty": Field(0.0, floats(0.0), "R1 factor (gamma); the penalty added is "
                                          "gamma / 2 * E||grad||^2"),
    "drift": Field(0.0, floats(0.0), "drift penalty factor (epsilon_drift; ProGAN: 0.001): "
                                     "epsilon * E[D(real)^2] keeps Wasserstein scores near 0"),
    "clip": Field(0.0, floats(0.0), "WGAN weight clipping to [-clip, clip]; 0 disables"),
    # Label smoothing (binary losses): fixed targets, or per-example U(low, high) when a
    # (low, high) range is given, e.g. --config.loss.real_label_range="(0.7, 1.0)".
    "real_label": Field(1.0, floats(0.0, 1.0), "target of real examples"),
    "fake_label": Field(0.0, floats(0.0, 1.0), "target of generated examples"),
    "real_label_range": Field((), seq(), "() or (low, high): real targets drawn from U(low, high)"),
    "fake_label_range": Field((), seq(), "() or (low, high): fake targets drawn from U(low, high)"),
    "class_weight": Field(1.0, floats(0.0), "AC-GAN: weight of the auxiliary class loss (critic "
                                            "conditioning 'auxiliary')"),
    "class_on_fakes": Field(True, boolean(), "AC-GAN: the critic's class loss covers generated images too "
                                             "(Odena et al.); False: real images only (StudioGAN's ACGAN)"),
    "lecam": Field(0.0, floats(0.0), "LeCam regularization weight (lambda; Tseng et al. 2021, "
                                     "jaxgan/lecam.py); 0 = off"),
    "lecam_decay": Field(0.99, floats(0.0, 1.0, high_open=True),
                         "LeCam: decay of the EMAs of the critic's real and fake scores, per critic update"),
    "lecam_start_step": Field(1000, ints(0), "LeCam: generator steps before the penalty applies and the "
                                             "EMAs average (until then they copy the last batch's means)"),
}, check=_check)


class GANLoss(NamedTuple):
    critic: Callable[..., jax.Array]
    generator: Callable[[jax.Array], jax.Array]
    # Whether the loss reads target labels (so label smoothing means something for it).
    uses_targets: bool


def _bce(logits, target):
    # Numerically stable binary cross-entropy on logits; `target` may be soft.
    return jnp.mean(jax.nn.softplus(logits) - target * logits)


def minimax_critic(real, fake, real_target=1.0, fake_target=0.0):
    return _bce(real, real_target) + _bce(fake, fake_target)


def minimax_generator(fake):
    # The original game: G minimises log(1 - D(G(z))) = -softplus(logit).
    return -jnp.mean(jax.nn.softplus(fake))


def non_saturating_generator(fake):
    # Goodfellow et al.'s practical variant: G maximises log D(G(z)).
    return _bce(fake, 1.0)


def wasserstein_critic(real, fake, real_target=None, fake_target=None):
    del real_target, fake_target
    return jnp.mean(fake) - jnp.mean(real)


def wasserstein_generator(fake):
    return -jnp.mean(fake)


def hinge_critic(real, fake, real_target=None, fake_target=None):
    del real_target, fake_target
    return jnp.mean(jax.nn.relu(1.0 - real)) + jnp.mean(jax.nn.relu(1.0 + fake))


def least_squares_critic(real, fake, real_target=1.0, fake_target=0.0):
    return 0.5 * jnp.mean((real - real_target) ** 2) + 0.5 * jnp.mean((fake - fake_target) ** 2)


def least_squares_generator(fake):
    return 0.5 * jnp.mean((fake - 1.0) ** 2)


LOSSES: dict[str, GANLoss] = {
    "minimax": GANLoss(minimax_critic, minimax_generator, True),
    "non_saturating": GANLoss(minimax_critic, non_saturating_generator, True),
    "wasserstein": GANLoss(wasserstein_critic, wasserstein_generator, False),
    "hinge": GANLoss(hinge_critic, wasserstein_generator, False),
    "least_squares": GANLoss(least_squares_critic, least_squares_generator, True),
}


def get(name: str) -> GANLoss:
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; choose one of {sorted(LOSSES)}") from None


def _per_example_norm(grads, group: int):
    # With a packed critic (PacGAN) one critic input is `group` consecutive examples, so the
    # Lipschitz constraint applies to the packed vector.
    flat = grads.reshape(grads.shape[0] // group, -1)
    return jnp.sqrt(jnp.sum(flat**2, axis=1) + 1e-12)


def gradient_penalty(critic_fn, real, fake, eps, *, group: int = 1, target: float = 1.0):
    """WGAN-GP (Gulrajani et al. 2017): E[(||grad D(x_hat)|| - target)^2] at random interpolates.

    `critic_fn` maps a batch of inputs to one score per (packed) input; its gradient with
    respect to the input is taken with `jax.grad`. `eps` holds one U(0, 1) interpolation weight
    per critic input (B / group of them), drawn by the caller so it controls the randomness.
    """
    eps = jnp.repeat(eps.astype(real.dtype), group, axis=0)
    eps = eps.reshape((real.shape[0],) + (1,) * (real.ndim - 1))
    x_hat = eps * real + (1.0 - eps) * fake
    grads = jax.grad(lambda x: jnp.sum(critic_fn(x)))(x_hat)
    return jnp.mean((_per_example_norm(grads, group) - target) ** 2)


def r1_penalty(critic_fn, real, *, group: int = 1):
    """R1 (Mescheder et al. 2018): E[||grad D(x_real)||^2]; scale by gamma/2 outside."""
    grads = jax.grad(lambda x: jnp.sum(critic_fn(x)))(real)
    return jnp.mean(_per_example_norm(grads, group) ** 2)


def drift_penalty(real_scores):
    """ProGAN's drift term (Karras et al. 2018): E[D(x_real)^2], so a Wasserstein critic's scores
    do not drift away from zero (the loss sees only their differences); scale by epsilon outside."""
    return jnp.mean(jnp.square(real_scores))


def lecam_penalty(real, fake, ema_real, ema_fake):
    """LeCam regularization (Tseng et al. 2021): pulls the critic's real scores towards the EMA
    of its fake scores and the fake scores towards the EMA of the real ones, so the critic
    cannot push them apart without bound on a small dataset. As in the authors' code (and
    StudioGAN's), only the side that overshoots is penalised:
    E[relu(D(x) - ema_fake)^2] + E[relu(ema_real - D(G(z)))^2]."""
    return jnp.mean(jax.nn.relu(real - ema_fake) ** 2) + jnp.mean(jax.nn.relu(ema_real - fake) ** 2)


def class_loss(logits, labels):
    """AC-GAN's auxiliary classification loss (Odena et al. 2017): softmax cross-entropy of
    the critic's class logits against the labels, on real and on generated images alike."""
    log_probs = jax.nn.log_softmax(logits)
    return -jnp.mean(jnp.take_along_axis(log_probs, labels[:, None].astype(jnp.int32), axis=-1))
