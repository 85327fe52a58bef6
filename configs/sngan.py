"""SNGAN (Miyato et al. 2018): the ResNet generator and spectrally normalised ResNet critic of
jaxgan/models/sngan.py, hinge loss, Adam (beta1 0, beta2 0.9) at 2e-4 for both players and five
critic updates per generator update, as in the paper's ResNet experiments. With `cond`: the
class-conditional variant (conditional batch norm in the generator, projection critic; cGAN-PD,
Miyato & Koyama 2018).

    python launch.py --config=configs/sngan.py:fashion_mnist --workdir=runs/sngan_fashion_mnist
    python launch.py --config=configs/sngan.py:fashion_mnist,cond --workdir=runs/sngan_cond_fashion_mnist
    python launch.py --config=configs/sngan.py:flags32 --workdir=runs/sngan_flags32
    python launch.py --config=configs/sngan.py:letters,cond --workdir=runs/sngan_cond_letters

Arguments: fashion_mnist (default), mnist, pokemon, rps, flags32, flags64, letters (the datasets
of configs/dcgan.py; letters: A-Z rendered from the system's fonts at 32x32, docs/datasets.md);
options `cond` (labelled datasets: mnist, fashion_mnist, rps, letters, and pokemon as a folder
with one subfolder per class) and `tiny` (a seconds-long smoke run on synthetic images of the
same shape). `letters,cond` is issue 17's projection-conditioned SNGAN for seed 000's
conditional wish, beside configs/acgan.py:letters and configs/dcgan.py:letters,cond.
"""
from jaxgan import recipes

DATASETS = ("fashion_mnist", "mnist", "pokemon", "rps", "flags32", "flags64", "letters")


def get_config(arg: str = "fashion_mnist"):
    dataset, options = recipes.parse(arg, "fashion_mnist")
    unknown = options - {"cond", "tiny"}
    if dataset not in DATASETS or unknown:
        raise ValueError(f"configs/sngan.py:{arg}: datasets {', '.join(DATASETS)}; options cond, tiny")
    cond = "cond" in options
    if cond and dataset.startswith("flags"):
        raise ValueError(f"configs/sngan.py:{arg}: the flags have no classes; drop 'cond'")
    c = recipes.image_config("sngan_cond" if cond else "sngan", dataset, labels=cond)
    c.model.z_dim = 128
    c.model.latent = "normal"
    c.model.generator = recipes.network("sngan", "generator", n_feature=64, max_features=256)
    c.model.critic = recipes.network("sngan", "critic", n_feature=64, max_features=256)
    c.loss.name = "hinge"
    c.train.n_critic = 5
    c.optimizer.generator.update(lr=2e-4, b1=0.0, b2=0.9)
    c.optimizer.critic.update(lr=2e-4, b1=0.0, b2=0.9)
    c.train.steps = 10_000
    c.viz.every_steps = 250
    if dataset == "pokemon" and cond:
        c.data.folder_labels = "subfolders"
    if "tiny" in options:
        recipes.tiny(c, dataset)
        c.train.n_critic = 1  # each critic update is another copy of the critic to compile
        # One width throughout: few distinct parameter shapes, so few initialisers to compile.
        c.model.generator.max_features = c.model.critic.max_features = c.model.critic.n_feature
        if cond:
            c.data.num_classes = recipes.CLASSES[dataset] or 3
    return c
