"""Input pipeline throughput per source and image size, against what a train step consumes.

    python benchmarks/input_pipeline.py                       # 28, 64, 300; batch 64
    python benchmarks/input_pipeline.py --train_step          # also time the DCGAN train step
    python benchmarks/input_pipeline.py --sizes=64 --json=runs/input_pipeline.json

For each source, the images/s that `dataset.batches(64)` delivers (float32 in [-1, 1], shuffled,
with flips) on one consumer thread, after the first batch; load time (decoding a folder,
rendering flags...) is reported apart. Sources: synthetic (rendered per batch), idx
(Fashion-MNIST, resized in memory), folder in memory and streamed from disk (PNG files written
for the benchmark), emoji flags, and tfds through `tfds.testing.mock_data` (no real download
here: its records are random arrays, so it times the tfds read path without PNG decoding).

With --train_step, the DCGAN recipe (configs/dcgan.py: fashion_mnist at 28, pokemon at 64, rps at
300) is timed on synthetic data of the same shape: real images consumed per second =
batch_size * n_critic / median step time. The ratio column is pipeline / train step.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jaxgan import xla_cpu  # noqa: E402

xla_cpu.apply()  # jaxgan's XLA:CPU setting, as launch.py applies it (before JAX starts)


from jaxgan import config as config_lib  # noqa: E402
from jaxgan import data  # noqa: E402

TRAIN_RECIPES = {28: "fashion_mnist", 64: "pokemon", 300: "rps"}


def data_config(**overrides):
    c = config_lib.base_config()
    c.data.update({"flip": True, **overrides})
    return c.data


def write_folder(root: Path, size: int, n: int) -> Path:
    from PIL import Image

    synthetic = data.build(data_config(source="synthetic", image_size=size, num_classes=4,
                                       num_examples=n, flip=False), seed=0)
    x = ((synthetic.reference(n)["x"] + 1) * 127.5 + 0.5).astype(np.uint8)
    for k, image in enumerate(x):
        folder = root / f"class_{k % 4}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{k:05d}.png")
    return root


def sources(size: int, tmp: Path):
    """(label, context manager giving a data config) for every source at `size`."""
    folder = tmp / f"folder_{size}"
    yield "synthetic", contextlib.nullcontext(data_config(
        source="synthetic", image_size=size, num_classes=10, channels=3))
    yield "idx (fashion_mnist)", contextlib.nullcontext(data_config(
        source="idx", name="fashion_mnist", image_size=size, num_examples=2000 if size > 100 else 0))
    n = 256 if size > 100 else 1024
    yield "folder, in memory", _lazy(lambda: data_config(
        source="folder", name="bench", path=str(folder if folder.exists() else write_folder(folder, size, n))))
    yield "folder, streamed", _lazy(lambda: data_config(
        source="folder", name="bench", path=str(folder), load_full=False))
    yield "flags (RGBA)", contextlib.nullcontext(data_config(
        source="flags", image_size=size, cache_dir=str(tmp / "flags")))
    yield "tfds (mock, streamed)", _mock_tfds(data_config(
        source="tfds", name="cifar10", image_size=size, load_full=False))


@contextlib.contextmanager
def _lazy(make):
    yield make()


@contextlib.contextmanager
def _mock_tfds(cfg):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=512):
        yield cfg


def pipeline_rate(cfg, batch_size: int, batches: int) -> tuple[float, float, tuple]:
    start = time.perf_counter()
    ds = data.build(cfg, seed=0)
    stream = ds.batches(batch_size)
    next(stream)
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(batches):
        next(stream)
    return batches * batch_size / (time.perf_counter() - start), load_s, ds.shape


def train_step_rate(size: int, steps: int = 3) -> tuple[float, str]:
    """Real images per second one DCGAN train step consumes at `size` (on synthetic data)."""
    import jax

    from jaxgan.experiment import Experiment

    recipe = TRAIN_RECIPES[size]
    c = config_lib.load_config_file(f"configs/dcgan.py:{recipe}")
    shape = {28: (28, 1), 64: (64, 3), 300: (300, 3)}[size]
    c.data.update(source="synthetic", name="shapes", path="", image_size=shape[0],
                  channels=shape[1], num_classes=0, num_examples=512)
    c.train.parallel = "single"
    exp = Experiment.build(c)
    state = exp.init_state()
    step = jax.jit(exp.make_step(), donate_argnums=0)
    from jaxgan.data import pipeline

    batches = pipeline.stack(exp.dataset.batches(c.train.batch_size), c.train.n_critic)
    state, metrics = step(state, next(batches))  # compile
    jax.block_until_ready(metrics)
    times = []
    for _ in range(steps):
        batch = next(batches)
        start = time.perf_counter()
        state, metrics = step(state, batch)
        jax.block_until_ready(metrics)
        times.append(time.perf_counter() - start)
    per_step = statistics.median(times)
    return c.train.batch_size * c.train.n_critic / per_step, (
        f"dcgan:{recipe}, batch {c.train.batch_size}, {per_step * 1000:.0f} ms/step")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="28,64,300")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--train_step", action="store_true")
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from absl import logging

    logging.set_verbosity(logging.ERROR)
    rows = []
    print(f"CPU cores: {os.cpu_count()}; batch {args.batch_size}; {args.batches} batches timed\n")
    print("| size | source | shape | load (s) | pipeline images/s | train step images/s | ratio |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for size in [int(s) for s in args.sizes.split(",")]:
            step_rate, step_note = None, "(--train_step)"
            if args.train_step:
                try:
                    step_rate, step_note = train_step_rate(size)
                except Exception as e:  # the image models may be unavailable
                    step_note = f"n/a ({type(e).__name__}: {str(e)[:60]})"
            for label, context in sources(size, Path(tmp)):
                try:
                    with context as cfg:
                        rate, load_s, shape = pipeline_rate(cfg, args.batch_size, args.batches)
                except data.DataError as e:
                    print(f"| {size} | {label} | - | - | unavailable: {str(e)[:80]} | | |")
                    continue
                ratio = f"{rate / step_rate:.0f}x" if step_rate else ""
                step_text = f"{step_rate:.1f}" if step_rate else step_note
                print(f"| {size} | {label} | {'x'.join(map(str, shape))} | {load_s:.1f} | "
                      f"{rate:,.0f} | {step_text} | {ratio} |", flush=True)
                rows.append(dict(size=size, source=label, shape=shape, load_s=load_s,
                                 pipeline_images_per_s=rate, train_step_images_per_s=step_rate,
                                 train_step=step_note))
            if step_rate:
                print(f"| {size} | train step: {step_note} | | | | {step_rate:.1f} | |")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
