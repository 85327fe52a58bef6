"""The fast convolution layers compute exactly what flax.linen's do, to every derivative order."""
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.models import conv


def _rand(shape, seed=0):
    return jax.random.normal(jax.random.key(seed), shape)


@pytest.mark.parametrize("impl", conv.IMPLEMENTATIONS)
@pytest.mark.parametrize("kernel,stride,padding,size", [(4, 2, 1, 9), (3, 1, 1, 8), (4, 2, 1, 16), (5, 3, 2, 11)])
def test_conv_equals_flax_conv(kernel, stride, padding, size, impl):
    x = _rand((2, size, size, 3))
    layer = conv.Conv(5, kernel, stride, padding, impl=impl)
    params = layer.init(jax.random.key(1), x)
    reference = nn.Conv(5, (kernel, kernel), strides=(stride, stride), padding=((padding, padding),) * 2)
    np.testing.assert_allclose(layer.apply(params, x), reference.apply(params, x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("impl", conv.IMPLEMENTATIONS)
@pytest.mark.parametrize("in_size,out_size", [(4, 8), (7, 14), (4, 9), (37, 75)])
def test_conv_transpose_equals_flax_conv_transpose(in_size, out_size, impl):
    x = _rand((2, in_size, in_size, 6))
    layer = conv.ConvTranspose(3, kernel_size=4, strides=2, padding=1, impl=impl)
    params = layer.init(jax.random.key(1), x, (out_size, out_size))
    # PyTorch's ConvTranspose2d(4, 2, padding=1, output_padding=out - 2 * in) in flax terms:
    # padding k - 1 - p on the dilated input, plus the output padding on the far side.
    extra = out_size - 2 * in_size
    reference = nn.ConvTranspose(3, (4, 4), strides=(2, 2), padding=((2, 2 + extra),) * 2, transpose_kernel=True)
    np.testing.assert_allclose(layer.apply(params, x, (out_size, out_size)), reference.apply(params, x),
                               rtol=1e-5, atol=1e-5)


def test_conv_transpose_rejects_an_unreachable_size():
    layer = conv.ConvTranspose(3)
    with pytest.raises(ValueError, match="cannot map"):
        layer.init(jax.random.key(0), jnp.zeros((1, 4, 4, 2)), (12, 12))


def _gan(impl):
    class G(nn.Module):
        @nn.compact
        def __call__(self, z):
            x = conv.ConvTranspose(8, impl=impl)(z, (8, 8))
            return jnp.tanh(conv.ConvTranspose(3, impl=impl)(nn.relu(x), (17, 17)))

    class D(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.leaky_relu(conv.Conv(8, 4, 2, 1, impl=impl)(x))
            x = nn.leaky_relu(conv.Conv(8, 3, 1, 1, impl=impl)(x))
            return jnp.sum(conv.Conv(4, 4, 2, 1, impl=impl)(x), axis=(1, 2, 3))

    return G(), D()


def _wgan_gp_objective(impl, pg, pd, z, real):
    g, d = _gan(impl)
    fake = g.apply(pg, z)
    x_hat = 0.3 * real + 0.7 * fake
    grad = jax.grad(lambda x: jnp.sum(d.apply(pd, x)))(x_hat)
    penalty = jnp.mean((jnp.sqrt(jnp.sum(grad**2, axis=(1, 2, 3))) - 1) ** 2)
    return penalty + jnp.mean(d.apply(pd, fake)) - jnp.mean(d.apply(pd, real))


def _assert_trees_close(a, b):
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(u, v, rtol=1e-4, atol=1e-5 * float(jnp.abs(v).max()))


@pytest.mark.parametrize("impl", [i for i in conv.IMPLEMENTATIONS if i != "xla"])
def test_gradients_equal_xla_ones_including_the_gradient_penalty(impl):
    """The custom VJPs change how derivatives are computed, never what they are: first
    derivatives through G and D, and the double backward of a WGAN-GP penalty."""
    z, real = _rand((4, 4, 4, 5), 1), _rand((4, 17, 17, 3), 2)
    g, d = _gan("xla")
    pg, pd = g.init(jax.random.key(3), z), d.init(jax.random.key(4), real)

    def value_and_grads(impl):
        f = functools.partial(_wgan_gp_objective, impl)
        return jax.jit(jax.value_and_grad(f, argnums=(0, 1)))(pg, pd, z, real)

    (v, grads), (v_xla, grads_xla) = value_and_grads(impl), value_and_grads("xla")
    np.testing.assert_allclose(v, v_xla, rtol=1e-5)
    _assert_trees_close(grads, grads_xla)


@pytest.mark.parametrize("impl", ["fast", "im2col"])
def test_vmapped_over_models_each_model_gets_its_own_gradients(impl):
    """`num_seeds` vmaps the step over stacked models: every model's value and gradients
    (penalty included) equal those of that model differentiated alone."""
    k = 3
    z, real = _rand((k, 4, 4, 4, 5), 1), _rand((k, 4, 17, 17, 3), 2)
    g, d = _gan(impl)
    pg = jax.vmap(g.init)(jax.random.split(jax.random.key(3), k), z)
    pd = jax.vmap(d.init)(jax.random.split(jax.random.key(4), k), real)
    f = jax.value_and_grad(functools.partial(_wgan_gp_objective, impl), argnums=(0, 1))
    values, grads = jax.jit(jax.vmap(f))(pg, pd, z, real)
    for i in range(k):
        v_alone, grads_alone = jax.jit(f)(*jax.tree.map(lambda a, i=i: a[i], (pg, pd, z, real)))
        np.testing.assert_allclose(values[i], v_alone, rtol=1e-5)
        _assert_trees_close(jax.tree.map(lambda a, i=i: a[i], grads), grads_alone)


def test_spectral_norm_bounds_the_largest_singular_value():
    x = _rand((2, 8, 8, 3))
    layer = conv.Conv(6, 3, 1, 1, spectral_norm=True, kernel_init=nn.initializers.normal(3.0))
    variables = layer.init(jax.random.key(0), x)
    for _ in range(30):  # power iteration converges over training calls
        _, updates = layer.apply(variables, x, mutable=["batch_stats"])
        variables = {**variables, **updates}
    w = variables["params"]["kernel"].reshape(-1, 6)
    u = variables["batch_stats"]["spectral_u"]
    v = u @ w.T
    v = v / jnp.linalg.norm(v)
    sigma_estimate = float(jnp.squeeze(v @ w @ (u / jnp.linalg.norm(u)).T))
    np.testing.assert_allclose(sigma_estimate, float(jnp.linalg.norm(w, ord=2)), rtol=1e-3)
