"""Fully connected GAN on 2D Gaussian mixtures (seed 001; the PacGAN 2D benchmarks).

    python launch.py --config=configs/gan2d.py:grid --workdir=runs/grid
    python launch.py --config=configs/gan2d.py:ring --workdir=runs/ring
    python launch.py --config=configs/gan2d.py:gaussian --config.model.z_dim=1 --workdir=runs/z1

Arguments: `grid` (25 modes, default), `ring` (8 modes), `gaussian` (one random Gaussian, seed
001's first example), each optionally followed by `,tiny` for a seconds-long smoke run.
"""
from jaxgan.config import base_config


def get_config(arg: str = "grid"):
    dataset, *options = arg.split(",") if arg else ["grid"]
    c = base_config()
    c.name = f"gan2d_{dataset}"
    c.data.source = "toy2d"
    c.data.name = dataset
    c.model.z_dim = 2
    # PacGAN's 2D architecture: G 4 x 400 ReLU + batch norm; D 3 x 200.
    c.model.generator.update(width=400, depth=4, activation="relu", batch_norm=True, output="linear")
    c.model.critic.update(width=200, depth=3, activation="relu", batch_norm=False, pack=1)
    c.loss.name = "non_saturating"
    c.optimizer.generator.update(lr=1e-4, b1=0.5, b2=0.999)
    c.optimizer.critic.update(lr=1e-4, b1=0.5, b2=0.999)
    c.train.steps = 20_000
    c.train.batch_size = 100
    if dataset == "gaussian":
        # Seed 001: 2 hidden layers each, and the latent size is the thing to study.
        c.model.z_dim = 100
        c.model.generator.update(width=128, depth=2)
        c.model.critic.update(width=128, depth=2)
        c.train.steps = 5_000
    if "tiny" in options:
        c.train.steps = 6
        c.train.log_every_steps = 2
        c.checkpoint.every_steps = 3
        c.eval.every_steps = 3
        c.eval.num_samples = 200
        c.viz.every_steps = 3
        c.viz.num_samples = 200
        c.model.generator.width = 16
        c.model.critic.width = 16
    return c
