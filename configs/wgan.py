"""WGAN with weight clipping (Arjovsky et al. 2017): a linear-output critic clipped to
[-0.01, 0.01], RMSprop, five critic updates per generator update. Seed 004's "cv_wgan" (and,
with `,fc`, its fully connected "s_wgan").

    python launch.py --config=configs/wgan.py:mnist --workdir=runs/wgan_mnist
    python launch.py --config=configs/wgan.py:flags32,fc --workdir=runs/wgan_fc_flags32

Arguments: mnist (default), fashion_mnist, flags32, flags64, pokemon, initials, rps; options
`fc` (fully connected networks) and `tiny`.
"""
from jaxgan import recipes


def get_config(arg: str = "mnist"):
    dataset, options = recipes.parse(arg, "mnist")
    fc = "fc" in options
    c = recipes.image_config("wgan_fc" if fc else "wgan", dataset)
    c.model.z_dim = 100
    c.model.latent = "normal"
    if fc:
        recipes.fc_networks(c)
    else:
        recipes.dcgan_networks(c)
    c.loss.name = "wasserstein"
    c.loss.clip = 0.01
    c.train.n_critic = 5
    c.optimizer.generator.update(name="rmsprop", lr=5e-5)
    c.optimizer.critic.update(name="rmsprop", lr=5e-5)
    c.train.steps = 5_000
    if "tiny" in options:
        recipes.tiny(c, dataset)
        c.train.n_critic = 2
    return c
