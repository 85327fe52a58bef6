"""DCGAN (Radford et al. 2015): transposed-conv generator, strided-conv critic, batch norm,
binary cross-entropy. The convolutional GANs of seeds 002 (Pokemon), 003 (Rock-Paper-Scissors)
and 004 ("cv" on MNIST and flags).

    python launch.py --config=configs/dcgan.py:fashion_mnist --workdir=runs/dcgan_fashion_mnist
    python launch.py --config=configs/dcgan.py:pokemon --config.data.path=DIR --workdir=runs/dcgan_pokemon
    python launch.py --config=configs/dcgan.py:rps --workdir=runs/dcgan_rps
    python launch.py --config=configs/dcgan.py:letters,cond --workdir=runs/dcgan_cond_letters

`rps` keeps seed 003's training loop: a whole epoch of generator updates, then an epoch (one
batch fewer) of critic updates (`train.schedule = alternate_epochs`); any recipe takes
`--config.train.schedule=alternate_epochs`, and each step then trains one player.

Arguments: fashion_mnist (default), mnist, pokemon, rps, flags32, flags64, letters; append
`,cond` on a labelled dataset (letters, mnist, fashion_mnist, rps) for the conditional DCGAN
(one-hot labels into the generator, a projection critic: Miyato & Koyama 2018), and `,tiny` for
a seconds-long smoke run on synthetic images of the same shape.
"""
from jaxgan import recipes


def get_config(arg: str = "fashion_mnist"):
    dataset, options = recipes.parse(arg, "fashion_mnist")
    cond = "cond" in options
    if cond and not recipes.CLASSES[dataset]:
        raise ValueError(f"configs/dcgan.py:{arg}: {dataset} has no classes; drop 'cond'")
    c = recipes.image_config("dcgan_cond" if cond else "dcgan", dataset, labels=cond)
    c.model.z_dim = 100
    c.model.latent = "normal"
    # pytorch/examples DCGAN: ReLU generator, LeakyReLU(0.2) critic, batch norm (none on the
    # critic's input block), N(0, 0.02) weights, Adam 2e-4 with beta1 = 0.5.
    recipes.dcgan_networks(c, **({"conditioning": "projection"} if cond else {}))
    c.loss.name = "non_saturating"
    c.optimizer.generator.update(lr=2e-4, b1=0.5, b2=0.999)
    c.optimizer.critic.update(lr=2e-4, b1=0.5, b2=0.999)
    c.train.steps = 10_000
    if dataset in ("fashion_mnist", "mnist"):
        c.train.steps = 8_000  # wall times in docs/results.md#fashion-mnist-dcgan-vs-wgan-gp-vs-ac-gan
    if dataset == "pokemon":
        # Seed 002: generator blocks ConvTranspose / BatchNorm / Dropout / LeakyReLU, tanh output;
        # critic blocks Conv / BatchNorm / LeakyReLU. (The dropout rate is not stated: 0.25.)
        c.model.generator.update(activation="leaky_relu", dropout=0.25)
        c.train.steps = 20_000
    if dataset == "rps":
        # Seed 003 (after the TensorFlow DCGAN tutorial): critic of conv + max-pool + LeakyReLU
        # (Keras' default slope 0.3) + dropout 0.3, no batch norm; generator of transposed convs +
        # LeakyReLU + batch norm; separate Adam optimizers at 1e-4; full 300x300x3 images.
        c.model.generator.update(activation="leaky_relu", leaky_slope=0.3)
        c.model.critic.update(downsample="maxpool", normalization="none", leaky_slope=0.3, dropout=0.3)
        c.optimizer.generator.update(lr=1e-4, b1=0.9)
        c.optimizer.critic.update(lr=1e-4, b1=0.9)
        # Its loop trains the generator for a whole epoch, then the critic for one batch fewer
        # (jaxgan/schedule.py); 20,000 one-player steps are about 10,000 updates of each.
        c.train.schedule = "alternate_epochs"
        c.train.steps = 20_000
    if dataset.startswith("flags"):
        c.viz.every_steps = 250
    if "tiny" in options:
        recipes.tiny(c, dataset)
    return c
