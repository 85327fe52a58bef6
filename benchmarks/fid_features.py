"""Images per second of the FID feature networks: the Flax Inception (jit-compiled, batched; random
weights, which run at the speed of the real ones), the PyTorch reference of pytorch-fid's network
when torch is installed, and the Fashion-MNIST domain classifier when it is cached.

    python benchmarks/fid_features.py --batch=50 --batches=4 --out=runs/fid_features.json

Prints a table and writes JSON. Timings are medians over `--batches` batches after one warm-up
batch (compilation excluded; reported separately). Flax and PyTorch are timed interleaved,
batch by batch, because single runs on shared VMs drift.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jaxgan import xla_cpu  # noqa: E402

xla_cpu.apply()  # jaxgan's XLA:CPU setting, as launch.py applies it (before JAX starts)

import jax  # noqa: E402
import numpy as np  # noqa: E402

from jaxgan.metrics import features, inception  # noqa: E402


def _random_inception_variables():
    """Random FID-Inception variables (the converted layout), from the PyTorch reference when
    torch is there, else from Flax's own initialiser."""
    try:
        from jaxgan.metrics import inception_torch

        model = inception_torch.randomize(inception_torch.FIDInceptionV3(), seed=0)
        return inception.convert_state_dict(model.state_dict()), model
    except ImportError:
        net = inception.FIDInceptionV3()
        v = net.init(jax.random.key(0), np.zeros((1, 299, 299, 3), np.float32))
        return jax.tree.map(np.asarray, dict(v)), None


def _timed(fn, batches):
    times = []
    for b in batches:
        t = time.perf_counter()
        fn(b)
        times.append(time.perf_counter() - t)
    return times


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--batches", type=int, default=4)
    p.add_argument("--sizes", default="28x28x1,64x64x3,299x299x3", help="input shapes HxWxC")
    p.add_argument("--torch_threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--out", default="")
    args = p.parse_args(argv)
    variables, torch_model = _random_inception_variables()
    extract = inception.make_extractor(variables)
    prep = jax.jit(features.quantize)

    def flax_apply(x):
        return jax.block_until_ready(extract(prep(x)))

    rng = np.random.default_rng(0)
    rows = []
    for spec in args.sizes.split(","):
        h, w, c = (int(s) for s in spec.split("x"))
        batches = [rng.uniform(-1, 1, (args.batch, h, w, c)).astype(np.float32) for _ in range(args.batches + 1)]
        t = time.perf_counter()
        flax_apply(batches[0])
        compile_s = time.perf_counter() - t
        flax_t, torch_t = [], []
        for b in batches[1:]:  # interleaved
            flax_t += _timed(flax_apply, [b])
            if torch_model is not None:
                import torch

                torch.set_num_threads(args.torch_threads)
                x = torch.from_numpy(np.repeat((b + 1) / 2, 3 // c, axis=-1)).permute(0, 3, 1, 2).contiguous()
                with torch.no_grad():
                    torch_t += _timed(torch_model, [x])
        row = {"network": "inception_v3 (Flax, jit)", "input": spec, "batch": args.batch,
               "images_per_s": args.batch / float(np.median(flax_t)), "first_batch_s": compile_s}
        rows.append(row)
        if torch_t:
            rows.append({"network": "inception_v3 (PyTorch reference, eager)", "input": spec,
                         "batch": args.batch, "images_per_s": args.batch / float(np.median(torch_t)),
                         "first_batch_s": None})
    clf_dir = Path(os.path.expanduser("~/.cache/jaxgan/classifiers"))
    cached = sorted(clf_dir.glob("tfds-fashion_mnist-28x28x1-*/info.json"))
    if cached:
        from jaxgan.classifier import Classifier

        clf = features.classifier_net(Classifier.load(cached[0].parent), "classifier_fashion_mnist", 500)
        x = rng.uniform(-1, 1, (500 * (args.batches + 1), 28, 28, 1)).astype(np.float32)
        t = time.perf_counter()
        clf(x[:500])
        compile_s = time.perf_counter() - t
        times = _timed(lambda i: clf(x[i * 500:(i + 1) * 500]), range(1, args.batches + 1))
        rows.append({"network": "classifier_fashion_mnist (Flax, jit)", "input": "28x28x1", "batch": 500,
                     "images_per_s": 500 / float(np.median(times)), "first_batch_s": compile_s})
    print(f"{'network':42s} {'input':>10s} {'batch':>6s} {'images/s':>10s} {'first batch s':>14s}")
    for r in rows:
        first = f"{r['first_batch_s']:.1f}" if r["first_batch_s"] is not None else "-"
        print(f"{r['network']:42s} {r['input']:>10s} {r['batch']:6d} {r['images_per_s']:10.1f} {first:>14s}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
            "jax": jax.__version__, "backend": jax.default_backend(), "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
