"""Model shapes, packing and the registry."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import models
from jaxgan.models import layers, mlp
from jaxgan.models.packed import Packed


@pytest.mark.parametrize("shape", [(2,), (5,), (8, 8, 1), (6, 4, 3)])
def test_mlp_generator_output_shape(shape):
    g = mlp.MLPGenerator(out_shape=shape, width=16, depth=2, output="tanh")
    z = jnp.ones((4, 3))
    variables = g.init(jax.random.key(0), z, train=False)
    x, _ = g.apply(variables, z, train=True, mutable=["batch_stats"])
    assert x.shape == (4,) + shape
    assert jnp.all(jnp.abs(x) <= 1)


@pytest.mark.parametrize("activation, pack", [("relu", 1), ("maxout", 1), ("leaky_relu", 4)])
def test_mlp_critic_scores_one_per_packed_input(activation, pack):
    d = mlp.MLPCritic(width=8, depth=2, activation=activation)
    d = Packed(d, pack) if pack > 1 else d
    x = jnp.ones((8, 2))
    variables = d.init(jax.random.key(0), x, train=False)
    assert d.apply(variables, x, train=False).shape == (8 // pack,)


def test_packed_critic_is_the_critic_on_packed_inputs_with_the_same_parameters():
    inner = mlp.MLPCritic(width=8, depth=2)
    x = jax.random.normal(jax.random.key(1), (8, 2))
    packed = Packed(inner, 4)
    variables = packed.init(jax.random.key(0), x, train=False)
    plain = inner.init(jax.random.key(0), layers.pack(x, 4), train=False)
    chex.assert_trees_all_equal(variables, plain)  # no extra level, same initial values
    np.testing.assert_array_equal(packed.apply(variables, x, train=False),
                                  inner.apply(plain, layers.pack(x, 4), train=False))


def test_pack_concatenates_consecutive_examples():
    x = jnp.arange(12.0).reshape(6, 2)
    np.testing.assert_array_equal(layers.pack(x, 3), [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]])
    images = jnp.arange(2 * 2 * 2 * 1.0).reshape(2, 2, 2, 1)
    packed = layers.pack(images, 2)
    assert packed.shape == (1, 2, 2, 2)
    np.testing.assert_array_equal(packed[0, ..., 0], images[0, ..., 0])
    np.testing.assert_array_equal(packed[0, ..., 1], images[1, ..., 0])


def test_conditional_mlp_uses_labels():
    g = mlp.MLPGenerator(out_shape=(2,), width=8, depth=1, batch_norm=False, num_classes=3)
    z = jnp.zeros((2, 4))
    variables = g.init(jax.random.key(0), z, jnp.array([0, 1]), train=False)
    a = g.apply(variables, z, jnp.array([0, 0]), train=False)
    b = g.apply(variables, z, jnp.array([0, 2]), train=False)
    assert jnp.allclose(a[0], b[0]) and not jnp.allclose(a[1], b[1])


def test_registry_fields_exclude_derived():
    fields = models.config_fields(models.GENERATORS["mlp"])
    assert "width" in fields and "out_shape" not in fields and "axis_name" not in fields


def test_gaussian_init_std():
    init = layers.kernel_init("normal", 0.02)
    w = init(jax.random.key(0), (400, 400))
    assert abs(float(jnp.std(w)) - 0.02) < 1e-3
