"""Run a few train steps in each execution mode and print the final parameters' checksums.

Started by test_parallel.py in a fresh process with XLA_FLAGS asking for 4 CPU devices.
"""
import json
import sys

import jax
import numpy as np

from conftest import tiny_config
from jaxgan import parallel
from jaxgan.data import pipeline
from jaxgan.experiment import Experiment


def run(mode: str, steps: int = 3):
    """`mode` is an execution mode, or one followed by '_reuse' for train.reuse_fake (the
    generator's pullback then crosses its batch norm's cross-device statistics), or by '_ext'
    for the extensions with per-example draws or state: DiffAugment and instance noise on 8x8
    images, the generator's EMA and the critic's replay buffer."""
    mode, _, variant = mode.partition("_")
    reuse = variant == "reuse"
    c = tiny_config()
    if variant == "ext":
        c.data.update(source="synthetic", name="shapes", image_size=8, channels=1, num_examples=64)
        c.augment.diffaugment, c.augment.instance_noise = "color,translation,cutout", 0.1
        c.ema.decay, c.replay.size, c.replay.fraction = 0.9, 24, 0.5
    # Batch norm in both networks, two critic updates and a gradient penalty: every place where
    # a per-device program could differ from a global one.
    c.model.critic.batch_norm = True
    if reuse:
        c.model.generator.batch_norm, c.train.reuse_fake = True, True
    c.train.n_critic = 2
    c.train.batch_size = 16
    c.loss.name, c.loss.gradient_penalty = "wasserstein", 1.0
    # SGD, so parameter differences measure gradient differences: Adam would turn float noise
    # in near-zero gradients (e.g. the critic's output bias, which a Wasserstein loss leaves
    # unidentified) into full-size steps of random sign.
    for opt in (c.optimizer.generator, c.optimizer.critic):
        opt.name, opt.lr, opt.b1 = "sgd", 0.05, 0.0
    exp = Experiment.build(c)
    executor = parallel.make_executor(mode, exp.make_step)
    state = executor.place_state(exp.init_state())
    batches = pipeline.stack(exp.dataset.batches(c.train.batch_size), c.train.n_critic)
    for _ in range(steps):
        state, metrics = executor.step(state, executor.place_batch(next(batches)))
    state = jax.device_get(executor.unplace_state(state))
    return {"num_devices": executor.num_devices,
            "metrics": {k: float(v) for k, v in jax.device_get(metrics).items()},
            "leaves": [np.asarray(x, np.float64).ravel().tolist() for x in jax.tree.leaves(state)]}


def run_trainer(mode: str):
    """The whole trainer with two seeds over the devices, vmapped ('seeds_mesh') or looped
    ('seeds_loop_mesh'), or seed 1 alone on one device ('seed1_single'); returns seed 1's final
    state."""
    import tempfile

    from jaxgan.experiment import restore_run
    from jaxgan.train import train

    c = tiny_config()
    c.train.batch_size = 16
    c.viz.every_steps = 0
    many = mode.startswith("seeds_")
    if many:
        c.num_seeds, c.train.parallel = 2, "mesh"
        c.train.seeds_step = "loop" if mode == "seeds_loop_mesh" else "vmap"
    else:
        c.seed = 1
    with tempfile.TemporaryDirectory() as workdir:
        train(c, workdir)
        _, state, _ = restore_run(f"{workdir}/seed_1" if many else workdir)
    return {"num_devices": jax.device_count(), "metrics": {},
            "leaves": [np.asarray(x, np.float64).ravel().tolist() for x in jax.tree.leaves(state)]}


if __name__ == "__main__":
    print(json.dumps({mode: (run_trainer if "seed" in mode else run)(mode) for mode in sys.argv[1:]}))
