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
    # Measured to beat PacGAN's Table 1 (docs/results.md#the-2d-gan-against-pacgans-table-1): a fixed
    # Gaussian-mixture latent (no "bridges" between disconnected modes), a generator without
    # batch norm, a leaky-ReLU critic with a small R1 penalty, a faster critic, cosine decay.
    c.model.z_dim = 8
    c.model.latent = "mixture"
    c.model.latent_components = 100
    c.model.latent_component_std = 0.02
    c.model.generator.update(width=256, depth=4, activation="relu", batch_norm=False, output="linear")
    c.model.critic.update(width=200, depth=3, activation="leaky_relu", leaky_slope=0.2, batch_norm=False)
    c.loss.name = "non_saturating"
    c.loss.r1_penalty = 0.1
    c.optimizer.generator.update(lr=1e-4, b1=0.5, b2=0.999, schedule="cosine")
    c.optimizer.critic.update(lr=1e-3, b1=0.5, b2=0.999, schedule="cosine")
    c.train.steps = 60_000
    c.train.batch_size = 100
    c.checkpoint.every_steps = 10_000
    c.eval.every_steps = 5_000
    c.viz.every_steps = 2_500
    if dataset == "gaussian":
        # Seed 001: a plain GAN, 2 hidden layers each; the latent size is the thing to study.
        c.model.z_dim = 100
        c.model.latent = "normal"
        c.model.generator.update(width=128, depth=2, batch_norm=True)
        c.model.critic.update(width=128, depth=2, activation="relu")
        c.loss.r1_penalty = 0.0
        c.optimizer.generator.update(lr=1e-4, schedule="constant")
        c.optimizer.critic.update(lr=1e-4, schedule="constant")
        c.train.steps = 5_000
        c.eval.every_steps = c.viz.every_steps = 1_000
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
