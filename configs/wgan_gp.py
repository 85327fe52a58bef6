"""WGAN-GP (Gulrajani et al. 2017): a Wasserstein critic whose gradient norm at random
interpolates of real and fake images is pushed to 1 (the penalty is `jax.grad` of the critic).
Seed 000 (decorated initials) and seed 002 (Pokemon).

    python launch.py --config=configs/wgan_gp.py:fashion_mnist --workdir=runs/wgan_gp_fashion_mnist
    python launch.py --config=configs/wgan_gp.py:initials --config.data.path=DIR --workdir=runs/initials
    python launch.py --config=configs/wgan_gp.py:initials_v2 --config.data.path=DIR --workdir=runs/initials_v2
    python launch.py --config=configs/wgan_gp.py:letters_v2 --workdir=runs/letters_v2

Arguments: fashion_mnist (default), mnist, pokemon, initials, initials_v2, rps, flags32,
flags64, letters, letters_v2 (seed 000's two recipes on A-Z rendered from the system's fonts,
at seed 000's 64x64); append `,tiny` for a seconds-long smoke run on synthetic images of the
same shape.
"""
from jaxgan import recipes


def get_config(arg: str = "fashion_mnist"):
    name, *rest = (arg or "fashion_mnist").split(",")
    v2 = name in ("initials_v2", "letters_v2")
    dataset, options = recipes.parse(",".join([name.removesuffix("_v2") if v2 else name, *rest]),
                                     "fashion_mnist")
    c = recipes.image_config("wgan_gp", dataset)
    c.name = f"wgan_gp_{name}"
    c.model.z_dim = 100
    c.model.latent = "normal"
    # No batch norm in the critic: the penalty constrains each example's gradient, which batch
    # statistics would couple across the batch (the paper uses layer norm).
    recipes.dcgan_networks(c, critic_normalization="layer")
    c.loss.name = "wasserstein"
    c.loss.gradient_penalty = 10.0
    c.train.n_critic = 5
    c.optimizer.generator.update(lr=1e-4, b1=0.5, b2=0.9)
    c.optimizer.critic.update(lr=1e-4, b1=0.5, b2=0.9)
    c.train.steps = 3_000
    c.viz.every_steps = 250
    c.eval.every_steps = 500
    c.checkpoint.every_steps = 500
    if dataset in ("initials", "letters"):
        # Seed 000, 25 Jan 2021: ConvTranspose-BatchNorm-ReLU generator, Conv2d-BatchNorm-ReLU
        # critic, n_feature 64 for both, z_dim 50, Adam 1e-4 betas (0.9, 0.999), penalty factor 2.
        c.model.z_dim = 50
        c.model.generator.update(activation="relu", weight_init="default")
        c.model.critic.update(normalization="batch", activation="relu", weight_init="default")
        c.loss.gradient_penalty = 2.0
        c.optimizer.generator.update(lr=1e-4, b1=0.9, b2=0.999)
        c.optimizer.critic.update(lr=1e-4, b1=0.9, b2=0.999)
        c.train.steps = 15_000
        c.data.image_size = 64  # the initials' size (letters are rendered at any size)
    if v2:
        # Seed 000, 12 Feb 2021, the fixes: dropout in the generator (ConvTranspose-BatchNorm-
        # Dropout-ReLU), instance noise, LeakyReLU in the generator, Gaussian initialisation.
        # (Rates not stated in the seed: dropout 0.2, noise std 0.1 annealed over the run.)
        c.model.generator.update(activation="leaky_relu", dropout=0.2, weight_init="normal")
        c.model.critic.update(weight_init="normal")
        c.augment.instance_noise = 0.1
        c.augment.instance_noise_anneal_steps = c.train.steps
    if dataset == "pokemon":
        # Seed 002's DCGAN blocks (LeakyReLU + dropout generator); instance norm in the critic.
        c.model.generator.update(activation="leaky_relu", dropout=0.25)
        c.model.critic.update(normalization="instance")
        c.train.steps = 10_000
    if "tiny" in options:
        recipes.tiny(c, dataset)
        c.train.n_critic = 2
        if v2:
            c.augment.instance_noise_anneal_steps = c.train.steps
    return c
