"""Fully connected GAN on images (seed 004's "s", and "s_l" with label smoothing): dense
LeakyReLU layers with batch norm in the generator, a dense LeakyReLU critic, binary
cross-entropy, Adam 2e-4.

    python launch.py --config=configs/fc_gan.py:mnist --workdir=runs/fc_gan_mnist
    python launch.py --config=configs/fc_gan.py:mnist,smoothing --workdir=runs/fc_gan_smooth_mnist
    python launch.py --config=configs/fc_gan.py:flags64 --workdir=runs/fc_gan_flags64

Arguments: mnist (default), fashion_mnist, flags32, flags64, pokemon, initials, rps; options
`smoothing` (real targets drawn from U(0.8, 1.0): one-sided label smoothing; set
--config.loss.fake_label_range="(0.0, 0.2)" to smooth both) and `tiny`.
"""
from jaxgan import recipes


def get_config(arg: str = "mnist"):
    dataset, options = recipes.parse(arg, "mnist")
    smoothing = "smoothing" in options
    c = recipes.image_config("fc_gan_smooth" if smoothing else "fc_gan", dataset)
    c.model.z_dim = 100
    c.model.latent = "normal"
    recipes.fc_networks(c)
    c.loss.name = "non_saturating"
    if smoothing:
        c.loss.real_label_range = (0.8, 1.0)
    c.optimizer.generator.update(lr=2e-4, b1=0.5, b2=0.999)
    c.optimizer.critic.update(lr=2e-4, b1=0.5, b2=0.999)
    c.train.steps = 10_000
    if "tiny" in options:
        recipes.tiny(c, dataset)
    return c
