"""Loss values on known inputs, and penalties against closed forms and finite differences."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import losses

LOG2 = np.log(2.0)


def test_binary_losses_at_zero_logits():
    zero = jnp.zeros(4)
    assert np.isclose(losses.minimax_critic(zero, zero), 2 * LOG2)
    assert np.isclose(losses.minimax_generator(zero), -LOG2)  # log(1 - 1/2)
    assert np.isclose(losses.non_saturating_generator(zero), LOG2)  # -log(1/2)


def test_binary_losses_match_probabilities():
    real, fake = jnp.array([2.0, -1.0]), jnp.array([0.5, -3.0])
    p_real, p_fake = jax.nn.sigmoid(real), jax.nn.sigmoid(fake)
    expected = -np.mean(np.log(p_real)) - np.mean(np.log(1 - p_fake))
    assert np.isclose(losses.minimax_critic(real, fake), expected, rtol=1e-6)
    assert np.isclose(losses.minimax_generator(fake), np.mean(np.log(1 - p_fake)), rtol=1e-6)
    assert np.isclose(losses.non_saturating_generator(fake), -np.mean(np.log(p_fake)), rtol=1e-6)


def test_label_smoothing_targets():
    real, fake = jnp.array([1.5]), jnp.array([-0.5])
    p_r, p_f = jax.nn.sigmoid(1.5), jax.nn.sigmoid(-0.5)
    expected = -(0.9 * np.log(p_r) + 0.1 * np.log(1 - p_r)) - (0.8 * np.log(1 - p_f) + 0.2 * np.log(p_f))
    assert np.isclose(losses.minimax_critic(real, fake, 0.9, 0.2), expected, rtol=1e-6)


def test_wasserstein_hinge_least_squares():
    real, fake = jnp.array([1.0, 3.0]), jnp.array([-2.0, 0.5])
    assert np.isclose(losses.wasserstein_critic(real, fake), -0.75 - 2.0)
    assert np.isclose(losses.wasserstein_generator(fake), 0.75)
    assert np.isclose(losses.hinge_critic(real, fake), (0 + 0) / 2 + (0 + 1.5) / 2)
    assert np.isclose(losses.least_squares_critic(real, fake), 0.5 * (0 + 4) / 2 + 0.5 * (4 + 0.25) / 2)
    assert np.isclose(losses.least_squares_generator(fake), 0.5 * (9 + 0.25) / 2)


def test_get_unknown_loss_names_choices():
    with pytest.raises(ValueError, match="non_saturating"):
        losses.get("nonsaturating")


def test_gradient_penalty_linear_critic_closed_form():
    # D(x) = w.x has gradient w everywhere: GP = (|w| - 1)^2 for any interpolate.
    w = jnp.array([3.0, 4.0])
    critic = lambda x: x @ w
    real, fake = jnp.ones((5, 2)), -jnp.ones((5, 2))
    eps = jnp.linspace(0, 1, 5)
    assert np.isclose(losses.gradient_penalty(critic, real, fake, eps), (5.0 - 1.0) ** 2)
    # Packed in pairs, the critic input is 4-dimensional with gradient (w, w): norm 5 * sqrt(2).
    packed = lambda x: x.reshape(-1, 4) @ jnp.concatenate([w, w])
    real4, fake4 = jnp.ones((4, 2)), jnp.zeros((4, 2))
    gp = losses.gradient_penalty(packed, real4, fake4, jnp.array([0.3, 0.7]), group=2)
    assert np.isclose(gp, (5 * np.sqrt(2) - 1) ** 2, rtol=1e-6)


def test_gradient_penalty_matches_finite_differences():
    key = jax.random.key(0)
    w1, w2 = jax.random.normal(key, (3, 8)), jax.random.normal(jax.random.key(1), (8,))
    critic = lambda x: jnp.tanh(x @ w1) @ w2
    real = jax.random.normal(jax.random.key(2), (4, 3))
    fake = jax.random.normal(jax.random.key(3), (4, 3))
    eps = jnp.array([0.1, 0.4, 0.6, 0.9])
    x_hat = np.asarray(eps[:, None] * real + (1 - eps[:, None]) * fake, np.float64)
    f = lambda x: float(np.tanh(x @ np.asarray(w1, np.float64)) @ np.asarray(w2, np.float64))
    h, norms = 1e-5, []
    for x in x_hat:
        g = [(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(3)]
        norms.append(np.linalg.norm(g))
    expected = np.mean((np.array(norms) - 1) ** 2)
    assert np.isclose(losses.gradient_penalty(critic, real, fake, eps), expected, rtol=1e-4)


def test_r1_penalty_closed_form():
    w = jnp.array([1.0, 2.0, 2.0])
    assert np.isclose(losses.r1_penalty(lambda x: x @ w, jnp.ones((3, 3))), 9.0)


def test_class_loss_is_softmax_cross_entropy():
    logits = jnp.array([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    labels = jnp.array([0, 2])
    expected = -(jax.nn.log_softmax(logits[0])[0] + jnp.log(1 / 3)) / 2
    np.testing.assert_allclose(losses.class_loss(logits, labels), expected, rtol=1e-6)


def test_label_targets_fixed_or_uniform_range():
    from jaxgan import objectives

    fixed = objectives.label_targets(jax.random.key(0), (5,), 0.9, ())
    np.testing.assert_allclose(fixed, 0.9)
    drawn = objectives.label_targets(jax.random.key(0), (10_000,), 1.0, (0.7, 1.0))
    assert 0.7 <= float(drawn.min()) and float(drawn.max()) <= 1.0
    np.testing.assert_allclose(float(drawn.mean()), 0.85, atol=0.01)


def test_soft_targets_change_the_binary_loss_minimiser():
    # With real target 0.9 the critic loss is minimised at sigmoid(logit) = 0.9, not at 1.
    logits = jnp.linspace(-1, 6, 701)
    loss = jax.vmap(lambda l: losses.minimax_critic(l, jnp.array(-20.0), 0.9, 0.0))(logits)
    best = float(jax.nn.sigmoid(logits[jnp.argmin(loss)]))
    assert abs(best - 0.9) < 0.01


def test_instance_noise_anneals_linearly_to_zero():
    from jaxgan import augment

    std = [float(augment.instance_noise_std(jnp.array(s), 0.2, 100)) for s in (0, 50, 100, 150)]
    np.testing.assert_allclose(std, [0.2, 0.1, 0.0, 0.0], atol=1e-7)
    assert float(augment.instance_noise_std(jnp.array(10**6), 0.2, 0)) == pytest.approx(0.2)
