"""Small data: recipes and option sets trained at several training-set sizes, measured alike.

For one dataset, every variant (a recipe of configs/ plus option overrides) is trained through
the real trainer at each `--num_examples` (the first N training images; 0 = all), with
`--seeds` seeds (0, 1, ...; each its own run, as `--config.seed=s` alone trains it, so a rerun
with more seeds trains only the new ones) and the same `--steps`, then every seed's final
generator is measured as
benchmarks/ema_diffaugment.py measures it (its `measure` and `summarize`): `--eval_samples`
images from the fixed eval latents, in the domain classifier's features, FID and KID against the
FULL training set (`--num_reference`, 0 = all of it), and precision, recall, density and coverage
against a fixed random `--knn_reference` of them (their k-NN radii cost N^2 distances per
measurement). Training sets of at most 5,000 images (`eval.nearest_train=auto`) also get the
pixel distances to the nearest training image (`nearest_train_*`, docs/evaluation.md), which
are all that `--features=none` measures (the emoji flags: no domain classifier). A run with an
EMA of the generator is measured with its EMA and online weights.

A variant is NAME=RECIPE[,OPTION...][+KEY=VALUE...]; the recipe gets the dataset as its first
argument, KEY=VALUE are config overrides (values read as Python literals, else strings), e.g.

    python benchmarks/small_data.py --dataset=fashion_mnist --num_examples 1000 --seeds=3 --steps=4000 \\
        --variants dcgan=dcgan.py dcgan_diffaug=dcgan.py+augment.diffaugment=color,translation,cutout \\
        dcgan_ada=dcgan.py+ada.ops=all sngan=sngan.py sngan_lecam=sngan.py+loss.lecam=0.3 \\
        --out=runs/small_data_fmnist

`--set KEY=VALUE ...` overrides every variant (after its own). A variant's `train.steps`
override gives it another step budget. `--wall_budget_s=S` gives every variant equal wall
time instead: each variant's train step is built as the trainer builds it and timed on a real
batch (repetitions interleaved across variants, so all see the same machine; median), and the
variant trains for floor(S / step time) steps (the step alone: evaluations, sample grids and
checkpoints come on top, so compare the recorded walls too). The calibration is written to
<out>/calibration.json and reused by a rerun, so an interrupted study resumes with the same
budgets whatever the machine's load is then. Writes <out>/results.json and
<out>/results.md (mean ± std over seeds, mean wall time of a seed's training), both after every
seed (each variant's entry keeps the options of the invocation that wrote it, `invocation`),
and <out>/grids/<variant>_n<N>.png (64 samples of seed 0's final generator); each run stays
in <out>/<variant>/n<N>/seed_<s>/ (its own sample grids in samples/). A finished, measured seed is
neither trained nor measured again. Each N < all also gets a row of its training images
themselves (tiled to --eval_samples): the score of a generator that copied them exactly.
"""
from __future__ import annotations

import argparse
import ast
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ema_diffaugment as ed  # noqa: E402  (applies jaxgan's XLA:CPU setting first)
import step_throughput as st  # noqa: E402

from jaxgan import config as config_lib  # noqa: E402
from jaxgan import seeds  # noqa: E402
from jaxgan import viz  # noqa: E402
from jaxgan.evaluate import Evaluator, eval_labels  # noqa: E402
from jaxgan.experiment import EVAL_STREAM, Experiment, restore_run  # noqa: E402
from jaxgan.workdir import seed_dirs  # noqa: E402

NEAREST_METRICS = ("nearest_train_rms", "nearest_train_distinct", "nearest_train_copies")
FULL_METRICS = ("fid", "kid", "classes_covered") + NEAREST_METRICS
KNN_METRICS = ("precision", "recall", "density", "coverage")
COLUMNS = ("fid", "kid", "precision", "recall", "density", "coverage", "classes_covered") + NEAREST_METRICS


def _value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_overrides(items) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or "." not in key:
            raise SystemExit(f"override {item!r}: expected SECTION.KEY=VALUE")
        out[key] = _value(value)
    return out


def parse_variant(spec: str) -> tuple[str, str, dict]:
    """'name=recipe.py,opt+a.b=1' -> ('name', 'recipe.py', ',opt' options, {'a.b': 1})."""
    name, sep, rest = spec.partition("=")
    if not sep or not rest:
        raise SystemExit(f"variant {spec!r}: expected NAME=RECIPE[,OPTION...][+KEY=VALUE...]")
    recipe, *overrides = rest.split("+")
    return name, recipe, parse_overrides(overrides)


def apply_overrides(c, overrides: dict, where: str):
    for key, value in overrides.items():
        *path, leaf = key.split(".")
        node = c
        for part in path:
            node = node[part] if part in node else None
            if node is None:
                raise SystemExit(f"{where}: no config section {'.'.join(path)!r} for {key}")
        if leaf not in node:
            raise SystemExit(f"{where}: no config key {key!r}")
        node[leaf] = value
    return c


def variant_config(recipe: str, overrides: dict, n: int, args, steps: int | None = None):
    file, _, options = recipe.partition(",")
    c = config_lib.load_config_file(str(ed.ROOT / "configs" / f"{file}:{args.dataset}{',' if options else ''}{options}"))
    c.data.num_examples = n
    c.train.steps, c.num_seeds = args.steps, 1  # each seed its own run (main)
    c.eval.every_steps = 0  # measured once at the end, below, with more samples
    c.eval.features = args.features
    c.train.progress_bar = False
    apply_overrides(c, overrides, recipe)
    apply_overrides(c, args.set, "--set")
    if steps is not None:  # --wall_budget_s: the calibrated budget
        c.train.steps = steps
    c.checkpoint.every_steps = c.train.steps
    return config_lib.validate(c)


def evaluators(config, args) -> tuple[Evaluator, Evaluator]:
    """(FID/KID against the full training set, k-NN metrics against knn_reference of its images)."""
    def build(num_reference: int, knn: bool) -> Evaluator:
        c = config_lib.validate(config.copy_and_resolve_references())
        c.data.num_examples = 0
        c.num_seeds = 1
        c.eval.num_samples = args.eval_samples
        c.eval.num_reference = num_reference
        c.eval.precision_recall = knn
        c.eval.kid_subsets = 0 if knn else c.eval.kid_subsets
        return Evaluator(c, Experiment.build(c).dataset)

    full = build(args.num_reference or 10**9, False)
    return full, None if args.features == "none" else build(args.knn_reference, True)


def calibrate(configs: dict, budget_s: float, repeats: int) -> dict:
    """Step budgets of equal wall time: {variant: {step_ms, steps, compile_s}} (docstring above)."""
    timed = {}
    for name, c in configs.items():
        exp = Experiment.build(c)
        timed[name] = st.TimedStep(exp.make_step(), exp.init_state(), next(exp.batches(c.train.batch_size, 0)))
    for _ in range(repeats):
        for t in timed.values():
            t.repeat()
    out = {}
    for name, t in timed.items():
        step_s = statistics.median(t.times)
        out[name] = {"step_ms": 1000 * step_s, "steps": int(budget_s // step_s), "compile_s": t.compile_s,
                     "repetitions": repeats, "steps_per_repetition": t.n}
        print(f"calibration {name}: {1000 * step_s:.1f} ms/step -> {out[name]['steps']} steps", flush=True)
    return out


def training_set_row(config, pair, args) -> dict:
    """The N training images themselves, tiled to --eval_samples and measured as samples are:
    what a generator that reproduced its training set exactly would score (FID's floor at N)."""
    import numpy as np

    dataset = Experiment.build(config).dataset
    images = dataset.reference(dataset.num_examples, split="train")["x"]
    tiled = np.resize(images, (args.eval_samples, *images.shape[1:]))
    out = {}
    for evaluator, metrics in zip(pair, (FULL_METRICS, KNN_METRICS)):
        if evaluator is not None:
            result = evaluator.measure(tiled, generated=f"the {len(images)} training images, tiled")
            out.update({k: float(v) for k, v in result.items() if k.split("/")[0] in metrics})
    return out


def save_grid(run_dir: Path, path: Path) -> None:
    exp, state, _ = restore_run(run_dir)
    images = exp.generate(state, exp.latents(EVAL_STREAM, 64), eval_labels(exp, 64))
    viz.save_image(viz.image_grid(images, 8), path)


def _cell(row: dict, col: str, fmt) -> str:
    key = next((k for k in row if k.split("/")[0] == col), None)  # e.g. fid/classifier_fashion_mnist
    return fmt(row[key]) if key else ""


def table(results: dict) -> str:
    lines = ["| variant | N | weights | seeds | steps | wall per seed (s) | " + " | ".join(COLUMNS) + " |",
             "|---" * (len(COLUMNS) + 6) + "|"]
    for n, row in results.get("training_set", {}).items():
        cells = [_cell(row, col, lambda v: f"{v:.3f}") for col in COLUMNS]
        lines.append(f"| (the training images) | {n} | | | | | " + " | ".join(cells) + " |")
    for name, sizes in results["variants"].items():
        for n, r in sizes.items():
            for weights in ("online", "ema"):
                if weights not in r:
                    continue
                row, walls = r[weights], list(r["wall_s_per_seed"].values())
                cells = [_cell(row, col, lambda v: f"{v[0]:.3f} ± {v[1]:.3f}") for col in COLUMNS]
                lines.append(f"| {name} | {n} | {weights} | {len(r['seeds'])} | {r['steps']} | {statistics.fmean(walls):.0f} | "
                             + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    from jaxgan.train import train

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="fashion_mnist")
    p.add_argument("--variants", nargs="+", required=True, help="NAME=RECIPE[,OPTION...][+KEY=VALUE...]")
    p.add_argument("--num_examples", nargs="+", type=int, default=[500, 1000, 5000, 0], help="0 = all")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--eval_samples", type=int, default=10_000)
    p.add_argument("--num_reference", type=int, default=0, help="FID/KID reference images (0 = all)")
    p.add_argument("--knn_reference", type=int, default=10_000, help="precision/recall/density/coverage reference")
    p.add_argument("--features", default="classifier", choices=("classifier", "inception", "both", "none"),
                   help="none: only the nearest-training-image metrics (training sets of at most 5,000 images)")
    p.add_argument("--sample_batch_stats", default="running", choices=("running", "batch"))
    p.add_argument("--set", nargs="*", default=[], help="SECTION.KEY=VALUE overrides of every variant")
    p.add_argument("--wall_budget_s", type=float, default=0,
                   help="equal wall time per variant: steps = budget / the variant's timed step (0 = --steps)")
    p.add_argument("--calibration_repeats", type=int, default=7)
    p.add_argument("--calibrate_only", action="store_true", help="print the step budgets and stop")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    args.set = parse_overrides(args.set)
    variants = [parse_variant(v) for v in args.variants]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "grids").mkdir(exist_ok=True)
    results_path = args.out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {"variants": {}}
    results["protocol"] = {"dataset": args.dataset, "seeds": args.seeds, "steps": args.steps,
                           "eval_samples": args.eval_samples, "num_reference": args.num_reference or "all",
                           "knn_reference": args.knn_reference, "features": args.features,
                           "sample_batch_stats": args.sample_batch_stats, "set": args.set,
                           "variants": {name: f"{recipe} {overrides}" for name, recipe, overrides in variants}}
    # What each variant's entry records of the invocation that wrote it: the top-level
    # protocol is the last invocation's, and studies add variants over several.
    invocation = {k: v for k, v in results["protocol"].items() if k != "variants"}
    budgets = {}
    if args.wall_budget_s:
        calibration_path = args.out / "calibration.json"
        calibration = json.loads(calibration_path.read_text()) if calibration_path.exists() else {}
        if calibration.get("wall_budget_s") != args.wall_budget_s:
            calibration = {"wall_budget_s": args.wall_budget_s, "machine": st.machine()}
        missing = {name: variant_config(recipe, overrides, args.num_examples[0], args)
                   for name, recipe, overrides in variants if name not in calibration.get("variants", {})}
        if missing:
            calibration.setdefault("variants", {}).update(calibrate(missing, args.wall_budget_s, args.calibration_repeats))
            calibration_path.write_text(json.dumps(calibration, indent=2, default=str))
        budgets = {name: calibration["variants"][name]["steps"] for name, _, _ in variants}
        results["protocol"]["wall_budget_s"] = invocation["wall_budget_s"] = args.wall_budget_s
        results["protocol"]["calibration"] = calibration
        if args.calibrate_only:
            return 0
    pair = None
    for name, recipe, overrides in variants:
        for n in args.num_examples:
            config = variant_config(recipe, overrides, n, args, steps=budgets.get(name))
            workdir = args.out / name / f"n{n}"
            prior = results["variants"].get(name, {}).get(str(n), {})
            if prior.get("steps") != config.train.steps:
                prior = {}  # another budget: every seed trains again
            walls, per_seed = dict(prior.get("wall_s_per_seed", {})), dict(prior.get("seeds", {}))
            for seed in range(args.seeds):
                run = f"seed_{seed}"
                if run not in walls or not (workdir / run).is_dir():
                    t0 = time.perf_counter()
                    train(seeds.seed_config(config, seed), workdir / run)  # resumes an interrupted run
                    walls[run] = time.perf_counter() - t0
                    per_seed.pop(run, None)
                if pair is None:  # reference features, computed once
                    pair = evaluators(config, args)
                if n and str(n) not in results.setdefault("training_set", {}):
                    results["training_set"][str(n)] = training_set_row(config, pair, args)
                if run not in per_seed:
                    full = ed.measure(workdir / run, pair[0], args.eval_samples, args.sample_batch_stats, FULL_METRICS)
                    knn = pair[1] and ed.measure(workdir / run, pair[1], args.eval_samples, args.sample_batch_stats,
                                                 KNN_METRICS)
                    per_seed[run] = {w: {**full[w], **(knn[w] if knn else {})} for w in ("online", "ema") if w in full}
                    prior["protocol"] = {"full": full["protocol"], "knn": knn and knn["protocol"]}
                entry = {"spec": {"recipe": recipe, "overrides": overrides, "set": args.set},
                         "steps": config.train.steps, "wall_s_per_seed": walls, "seeds": per_seed,
                         "protocol": prior.get("protocol"),
                         "invocation": {**invocation, "calibration": calibration["variants"][name] if budgets else None}}
                for weights in ("online", "ema"):
                    rows = [r[weights] for r in per_seed.values() if weights in r]
                    if rows:
                        entry[weights] = ed.summarize(rows)
                results["variants"].setdefault(name, {})[str(n)] = entry
                results_path.write_text(json.dumps(results, indent=2, default=str))  # after every seed
                (args.out / "results.md").write_text(table(results))
            save_grid(workdir / "seed_0", args.out / "grids" / f"{name}_n{n}.png")
            print(f"{name} n={n}: " + json.dumps({w: entry.get(w) for w in ("online", "ema") if w in entry}),
                  flush=True)
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
