"""Small data: what DiffAugment and the generator's EMA do for DCGAN on Fashion-MNIST.

Trains each variant with `--config.num_seeds` seeds through the real trainer, then measures
every seed's final generator with the domain classifier's features: `eval_samples` generated
images (fixed eval latents) against the FULL training set (60,000 images, whatever
`data.num_examples` the run trained on). An EMA run is measured twice, with its EMA weights and
with its online weights: the EMA is an after-update function that training never reads, so the
online weights are exactly those of the same run without EMA (tests/test_extensions.py checks
it), and one training run gives both rows.

    python benchmarks/ema_diffaugment.py --num_examples=1000 --steps=4000 \
        --variants plain diffaugment --out=runs/small_data
    python benchmarks/ema_diffaugment.py --num_examples=1000 --steps=4000 --variants plain \
        --out=runs/small_data --measure_only --sample_batch_stats=batch
    python benchmarks/ema_diffaugment.py --num_examples=0 --steps=4000 --variants plain \
        --out=runs/full_data

Writes <out>/results.json and <out>/results.md (mean ± std over seeds per row), and keeps each
variant's run (sample grids in <out>/<variant>/seed_<s>/samples/).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jaxgan import xla_cpu  # noqa: E402

xla_cpu.apply()  # jaxgan's XLA:CPU setting, as launch.py applies it (before JAX starts)


from jaxgan import config as config_lib  # noqa: E402
from jaxgan.evaluate import Evaluator, eval_labels  # noqa: E402
from jaxgan.experiment import EVAL_STREAM, restore_run  # noqa: E402
from jaxgan.workdir import seed_dirs  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {"plain": {}, "diffaugment": {"augment.diffaugment": "color,translation,cutout"}}
METRICS = ("fid", "kid", "classes_covered")  # (per feature network: fid/<net>, ...)


def variant_config(variant: str, args) -> config_lib.ml_collections.ConfigDict:
    c = config_lib.load_config_file(str(ROOT / "configs" / "dcgan.py:fashion_mnist"))
    c.data.num_examples = args.num_examples
    c.train.steps, c.num_seeds = args.steps, args.seeds
    c.ema.decay, c.ema.start_step = args.ema_decay, args.ema_start
    c.eval.every_steps = 0  # measured once at the end, below, with more samples
    c.eval.features = "classifier"
    c.checkpoint.every_steps = args.steps
    c.train.progress_bar = False
    for key, value in VARIANTS[variant].items():
        section, name = key.split(".")
        c[section][name] = value
    return c


def measure(run_dir: Path, evaluator: Evaluator, n: int, batch_stats: str, metrics=METRICS) -> dict:
    exp, state, step = restore_run(run_dir)
    exp.config.model.sample_batch_stats = batch_stats  # read when `generate` first compiles
    z, labels = exp.latents(EVAL_STREAM, n), eval_labels(exp, n)
    online = state.replace(g=state.g.replace(extras={}))
    out = {}
    for weights, s in (("ema", state), ("online", online)):
        if weights == "ema" and "ema" not in state.g.extras:
            continue
        result = evaluator.measure(exp.generate(s, z, labels), labels, generated=f"{weights} weights")
        out[weights] = {k: float(v) for k, v in result.items() if k.split("/")[0] in metrics}
        out["protocol"] = result.protocol
    out["step"] = step
    return out


def summarize(rows: list[dict]) -> dict:
    return {k: (statistics.fmean(r[k] for r in rows), statistics.stdev(r[k] for r in rows) if len(rows) > 1 else 0.0)
            for k in rows[0]}


def main() -> int:
    from jaxgan.train import train

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--num_examples", type=int, default=1000)
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--ema_decay", type=float, default=0.999)
    p.add_argument("--ema_start", type=int, default=1000, help="generator steps before the EMA averages")
    p.add_argument("--eval_samples", type=int, default=10_000)
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--sample_batch_stats", default="running", choices=("running", "batch"),
                   help="batch norm when sampling: the online generator's running statistics, or "
                        "each 5,000-sample chunk's own (the EMA weights' own statistics)")
    p.add_argument("--measure_only", action="store_true", help="measure the runs already in --out")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results = {"protocol": {"num_examples": args.num_examples, "steps": args.steps, "seeds": args.seeds,
                            "ema_decay": args.ema_decay, "ema_start_step": args.ema_start, "eval_samples": args.eval_samples,
                            "reference": "the full Fashion-MNIST training set (60,000)",
                            "sample_batch_stats": args.sample_batch_stats}, "variants": {}}
    evaluator = None
    suffix = "" if args.sample_batch_stats == "running" else "_batch_stats"
    for variant in args.variants:
        config = variant_config(variant, args)
        workdir = args.out / variant
        t0 = time.perf_counter()
        if not args.measure_only:
            train(config, workdir)
        wall = time.perf_counter() - t0 if not args.measure_only else float("nan")
        if evaluator is None:  # reference features of the full training set, computed once
            full = variant_config(variant, args)
            full.data.num_examples = 0
            full.eval.num_samples = full.eval.num_reference = args.eval_samples
            full.eval.num_reference = 60_000
            # k-NN precision/recall against 60,000 references costs minutes per measurement on
            # 2 cores; FID, KID and the class histogram do not.
            full.eval.precision_recall = False
            from jaxgan.experiment import Experiment

            evaluator = Evaluator(full, Experiment.build(full).dataset)
        per_seed = {d.name: measure(d, evaluator, args.eval_samples, args.sample_batch_stats) for d in seed_dirs(workdir)}
        results["variants"][variant] = {"wall_s": wall, "seeds": per_seed}
        for weights in ("online", "ema"):
            rows = [s[weights] for s in per_seed.values() if weights in s]
            if rows:
                results["variants"][variant][weights] = summarize(rows)
        (args.out / f"results{suffix}.json").write_text(json.dumps(results, indent=2, default=str))
        print(json.dumps({variant: {w: results["variants"][variant].get(w) for w in ("online", "ema")}}, indent=1),
              flush=True)
    names = sorted({k for r in results["variants"].values() for w in ("online", "ema") for k in r.get(w, {})},
                   key=lambda k: (METRICS.index(k.split("/")[0]), k))
    lines = [f"| variant | weights | wall (s) | {' | '.join(names)} |", "|---" * (len(names) + 3) + "|"]
    for variant, r in results["variants"].items():
        for weights in ("online", "ema"):
            if weights in r:
                cells = [f"{r['wall_s']:.0f}"] + [f"{r[weights][k][0]:.3f} ± {r[weights][k][1]:.3f}"
                                                  if k in r[weights] else "" for k in names]
                lines.append(f"| {variant} | {weights} | " + " | ".join(cells) + " |")
    (args.out / f"results{suffix}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
