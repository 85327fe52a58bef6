"""Latent distributions."""
import jax
import ml_collections
import numpy as np

from jaxgan import latent


def model_config(kind, **kw):
    return ml_collections.ConfigDict(dict(latent=kind, z_dim=3, latent_components=4,
                                          latent_component_std=0.01, **kw))


def test_normal_and_uniform():
    z = latent.make_sampler(model_config("normal"))(jax.random.key(0), (5000, 3))
    assert abs(float(z.std()) - 1) < 0.05
    u = latent.make_sampler(model_config("uniform"))(jax.random.key(0), (5000, 3))
    assert float(u.min()) >= -1 and float(u.max()) <= 1


def test_mixture_has_fixed_components():
    config = model_config("mixture")
    centres = np.asarray(latent.mixture_centres(config))
    assert centres.shape == (4, 3)
    np.testing.assert_array_equal(centres, latent.mixture_centres(config))  # part of the model
    a = np.asarray(latent.make_sampler(config)(jax.random.key(0), (2000, 3)))
    b = np.asarray(latent.make_sampler(config)(jax.random.key(1), (2000, 3)))
    for z in (a, b):
        dist = np.linalg.norm(z[:, None] - centres[None], axis=-1)
        assert dist.min(1).max() < 0.01 * 6  # every sample is near a centre
        assert len(np.unique(dist.argmin(1))) == 4  # and every component is used
    assert not np.array_equal(a, b)
