"""One process of a multi-process (multi-host) run, or the one-process reference.

    python tests/multihost_worker.py OUT.json                 # reference: one process, global batch
    JAXGAN_COORDINATOR=localhost:PORT JAXGAN_NUM_PROCESSES=2 JAXGAN_PROCESS_ID=i \
        python tests/multihost_worker.py OUT.json             # process i of a 2-process mesh run

Started by test_multihost.py. A few train steps of a tiny 2D GAN with batch norm in both nets,
two critic updates and a gradient penalty; each process reads only its slice of every global
batch, exactly as jaxgan.train does. Writes the final metrics and parameters as JSON.
"""
import json
import sys

from jaxgan import parallel

distributed = parallel.initialize_distributed(timeout_s=60)  # before anything else uses JAX

import jax  # noqa: E402
import numpy as np  # noqa: E402

from conftest import tiny_config  # noqa: E402
from jaxgan.data import pipeline  # noqa: E402
from jaxgan.experiment import Experiment  # noqa: E402

GLOBAL_BATCH, STEPS = 16, 3


def config():
    c = tiny_config()
    c.model.generator.batch_norm = c.model.critic.batch_norm = True
    c.train.n_critic = 2
    c.train.batch_size = GLOBAL_BATCH
    c.loss.name, c.loss.gradient_penalty, c.loss.r1_penalty = "wasserstein", 1.0, 0.0
    # SGD, so parameter differences measure gradient differences (see parallel_worker.py).
    for opt in (c.optimizer.generator, c.optimizer.critic):
        opt.name, opt.lr, opt.b1 = "sgd", 0.05, 0.0
    return c


def main(out_path: str) -> None:
    c = config()
    exp = Experiment.build(c)
    executor = parallel.make_executor("mesh" if distributed else "single", exp.make_step)
    parallel.check_batch(c.train.batch_size, executor.num_devices)
    n, i = jax.process_count(), jax.process_index()
    source = exp.dataset.batches(c.train.batch_size // n, shard_index=i, num_shards=n)
    batches = pipeline.stack(source, c.train.n_critic)
    state = executor.place_state(exp.init_state())
    for _ in range(STEPS):
        state, metrics = executor.step(state, executor.place_batch(next(batches)))
    state = jax.device_get(executor.unplace_state(state))
    result = {
        "process_index": i, "process_count": n, "num_devices": executor.num_devices,
        "local_devices": jax.local_device_count(),
        "metrics": {k: float(v) for k, v in jax.device_get(metrics).items()},
        "leaves": [np.asarray(x, np.float64).ravel().tolist() for x in jax.tree.leaves(state)],
    }
    with open(out_path, "w") as f:
        json.dump(result, f)
    if distributed:
        jax.distributed.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
