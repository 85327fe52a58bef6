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
