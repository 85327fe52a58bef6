"""Compile time of every recipe's train step (the issue's bound: under 20 s on 2 CPU cores).

    python benchmarks/compile_times.py                     # every recipe x dataset, Markdown table
    python benchmarks/compile_times.py --only wgan_gp.py:rps dcgan.py:pokemon --json=runs/compile.json

Each entry is the recipe's real config (network, loss, n_critic, batch) on synthetic data of the
dataset's shape; the step is built as the trainer builds it and compiled from abstract inputs
(`jax.jit(step).lower(abstract_state, abstract_batch).compile()`), so nothing is executed:
lowering (tracing + StableHLO) and XLA compilation are timed separately. `--seeds K` compiles
the `num_seeds=K` vmapped step instead.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jaxgan import xla_cpu  # noqa: E402

xla_cpu.apply()  # jaxgan's XLA:CPU setting, as launch.py applies it (before JAX starts)


import jax  # noqa: E402

from jaxgan import recipes  # noqa: E402
from jaxgan.config import load_config_file, validate  # noqa: E402
from jaxgan.experiment import Experiment  # noqa: E402

IMAGE_RECIPES = {"dcgan.py": [""], "wgan_gp.py": [""], "wgan.py": ["", ",fc"],
                 "fc_gan.py": ["", ",smoothing"], "acgan.py": [""]}


def all_specs() -> list[str]:
    specs = [f"gan2d.py:{d}" for d in ("grid", "ring", "gaussian")]
    for recipe, options in IMAGE_RECIPES.items():
        for dataset in sorted(recipes.DATASETS):
            if recipe == "acgan.py" and not recipes.CLASSES[dataset]:
                continue
            specs += [f"{recipe}:{dataset}{o}" for o in options]
    return specs + ["wgan_gp.py:initials_v2"]


def config_for(spec: str):
    c = load_config_file(str(ROOT / "configs" / spec))
    recipe, _, arg = spec.partition(":")
    dataset = arg.split(",")[0].replace("initials_v2", "initials")
    if dataset in recipes.SHAPES:
        size, channels = recipes.SHAPES[dataset]
        classes = recipes.CLASSES[dataset] if c.data.use_labels else 0
        c.data.update(source="synthetic", name="shapes", path="", image_size=size, channels=channels,
                      num_classes=classes, num_examples=8)
    c.train.parallel = "single"
    return validate(c)


def compile_time(spec: str, num_seeds: int = 1) -> dict:
    c = config_for(spec)
    exp = Experiment.build(c)
    state, batch = exp.abstract_state(), exp.abstract_batch()
    step = exp.make_step()
    if num_seeds > 1:
        step = jax.vmap(step)
        state, batch = jax.tree.map(
            lambda x: jax.ShapeDtypeStruct((num_seeds,) + tuple(x.shape), x.dtype), (state, batch))
    start = time.perf_counter()
    lowered = jax.jit(step, donate_argnums=0).lower(state, batch)
    lowered_at = time.perf_counter()
    lowered.compile()
    end = time.perf_counter()
    return {"lower_s": lowered_at - start, "compile_s": end - lowered_at, "total_s": end - start,
            "shape": list(exp.dataset.shape), "batch_size": c.train.batch_size, "n_critic": c.train.n_critic}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", default=None, metavar="RECIPE.py:ARG")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--limit_s", type=float, default=20.0, help="flag entries above this")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    specs = args.only or all_specs()
    print(f"# jax {jax.__version__}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}", flush=True)
    results = {}
    for spec in specs:
        results[spec] = r = compile_time(spec, args.seeds)
        print(f"{spec}: {r['total_s']:.1f} s (lower {r['lower_s']:.1f} + compile {r['compile_s']:.1f})", flush=True)
    print(f"\nload average at end {os.getloadavg()[0]:.2f}\n")
    print("| recipe | image | batch x n_critic | lower (s) | XLA compile (s) | total (s) |")
    print("|---|---|---|---|---|---|")
    for spec, r in results.items():
        flag = " **over the limit**" if r["total_s"] > args.limit_s else ""
        print(f"| {spec} | {'x'.join(map(str, r['shape']))} | {r['batch_size']} x {r['n_critic']} | "
              f"{r['lower_s']:.1f} | {r['compile_s']:.1f} | {r['total_s']:.1f}{flag} |")
    worst = max(results, key=lambda s: results[s]["total_s"])
    print(f"\nslowest: {worst} {results[worst]['total_s']:.1f} s")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"seeds": args.seeds, "entries": results}, indent=2))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
