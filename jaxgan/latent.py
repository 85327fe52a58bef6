"""The generator's input distribution, chosen by `config.model.latent`.

'normal' and 'uniform' are the usual choices. 'mixture' is a fixed mixture of
`latent_components` Gaussians (centres drawn once from N(0, I) with a fixed seed, spread
`latent_component_std`), as in DeLiGAN (Gurumurthy et al. 2017) without learned centres: a
continuous generator fed a unimodal latent must connect the modes of a disconnected target with
"bridges" of samples, while a multimodal latent lets it place each component on its own.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

KINDS = ("normal", "uniform", "mixture")
_CENTRES_SEED = 20170706  # fixed: the centres belong to the model definition, not to the run


def mixture_centres(model_config) -> jax.Array:
    return jax.random.normal(jax.random.key(_CENTRES_SEED),
                             (model_config.latent_components, model_config.z_dim))


def make_sampler(model_config) -> Callable[[jax.Array, tuple[int, ...]], jax.Array]:
    """`sample(key, (n, z_dim)) -> z` for the configured latent distribution."""
    kind = model_config.latent
    if kind == "uniform":
        return lambda key, shape: jax.random.uniform(key, shape, minval=-1.0, maxval=1.0)
    if kind == "mixture":
        k, std = model_config.latent_components, model_config.latent_component_std
        centres = mixture_centres(model_config)

        def sample(key, shape):
            k_which, k_noise = jax.random.split(key)
            which = jax.random.randint(k_which, shape[:1], 0, k)
            return jnp.take(centres, which, axis=0) + std * jax.random.normal(k_noise, shape)

        return sample
    return jax.random.normal
