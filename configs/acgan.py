"""AC-GAN (Odena et al. 2017): a class-conditional generator and a critic that, besides real
vs fake, classifies every image it sees; both nets also minimise that class loss. Seed 002.

    python launch.py --config=configs/acgan.py:fashion_mnist --workdir=runs/acgan_fashion_mnist
    python launch.py --config=configs/acgan.py:pokemon --config.data.path=DIR --workdir=runs/acgan_pokemon
    python launch.py --config=configs/acgan.py:letters --workdir=runs/acgan_letters

Arguments: fashion_mnist (default), mnist, rps, pokemon (a folder with one subfolder per
class), letters (A-Z rendered from the system's fonts at 32x32: seed 000's conditional wish;
the critic's class loss on real glyphs only, `loss.class_on_fakes=False`);
append `,tiny` for a seconds-long smoke run on synthetic labelled images.
"""
from jaxgan import recipes


def get_config(arg: str = "fashion_mnist"):
    dataset, options = recipes.parse(arg, "fashion_mnist")
    c = recipes.image_config("acgan", dataset, labels=True)
    c.model.z_dim = 100
    c.model.latent = "normal"
    recipes.dcgan_networks(c, conditioning="auxiliary")  # the generator takes one-hot labels
    c.loss.name = "non_saturating"
    c.loss.class_weight = 1.0
    c.optimizer.generator.update(lr=2e-4, b1=0.5, b2=0.999)
    c.optimizer.critic.update(lr=2e-4, b1=0.5, b2=0.999)
    c.train.steps = 10_000
    if dataset in ("fashion_mnist", "mnist"):
        c.train.steps = 8_000  # wall times in docs/results.md#fashion-mnist-dcgan-vs-wgan-gp-vs-ac-gan
    if dataset == "letters":
        # The critic learns the letters from real glyphs only: classifying the fakes as what
        # they were asked to be let the generator draw N for A and M for Y (docs/results.md).
        c.loss.class_on_fakes = False
        c.train.steps = 2_500  # the length measured there (class accuracy over seeds)
    if dataset == "pokemon":
        c.data.folder_labels = "subfolders"
        c.model.generator.update(activation="leaky_relu", dropout=0.25)
    if "tiny" in options:
        recipes.tiny(c, dataset)
        c.data.num_classes = recipes.CLASSES[dataset] or 3
    return c
