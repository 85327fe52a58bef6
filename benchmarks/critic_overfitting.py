"""Does a trained critic memorise its training images? Its scores on them, on held-out real
images and on generated ones (the diagnostic of Karras et al. 2020, "Training Generative
Adversarial Networks with Limited Data", figure 1).

A critic that generalises scores held-out real images like its training images; one that
memorises scores them like fakes. For each run directory this restores the newest checkpoint and
scores, in train-mode batches of the run's batch size (real and generated batches apart, as the
train step scores them), the run's training images, as many images of another split and as many
samples of the online generator (the one the critic was trained against; uniform labels for a
conditional one, the images' own labels for the real ones). The critic sees
un-augmented images, so an augmenting run's critic is scored off its training distribution.

    python benchmarks/critic_overfitting.py runs/small1k/dcgan/n1000/seed_0 runs/x5/dat/n1000/seed_0 \\
        --out=runs/critic_overfitting.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jaxgan.experiment import EVAL_STREAM, restore_run  # noqa: E402
from jaxgan.objectives import split_output  # noqa: E402
from jaxgan.steps import make_apply, make_sample_fn  # noqa: E402


def critic_scores(apply, state, images: np.ndarray, labels, batch_size: int) -> np.ndarray:
    """The critic's scores of `images` (with their `labels`, or None), batch by batch in train
    mode (batch statistics); `apply` is the jitted `make_apply` of the run's critic."""
    key = jax.random.key(0)
    n = len(images) - len(images) % batch_size  # whole batches only: statistics of a full batch
    out = [split_output(apply(state.d.params, state.d.stats, images[i:i + batch_size],
                              None if labels is None else labels[i:i + batch_size],
                              jax.random.fold_in(key, i))[0])[0]
           for i in range(0, n, batch_size)]
    return np.asarray(np.concatenate([np.ravel(o) for o in out]))


def summary(scores: np.ndarray) -> dict:
    return {"mean": float(np.mean(scores)), "std": float(np.std(scores)),
            "judged_real": float(np.mean(scores > 0)), "sign_mean": float(np.mean(np.sign(scores)))}


def measure(workdir: str, held_out_split: str, num: int) -> dict:
    exp, state, step = restore_run(workdir)
    train = exp.dataset.reference(num, split=exp.dataset.train_split)
    held = exp.dataset.reference(num, split=held_out_split)
    n_train = min(len(train["x"]), len(held["x"]))  # as many of each kind
    train, held = ({k: v[:n_train] for k, v in d.items()} for d in (train, held))
    batch = min(exp.config.train.batch_size, n_train)
    sample = jax.jit(make_sample_fn(exp.generator, batch_stats="batch"))
    z = exp.latents(EVAL_STREAM, n_train)
    classes = exp.dataset.num_classes
    y = np.asarray(jax.random.randint(jax.random.key(1), (n_train,), 0, classes)) if classes else None
    fake = {"x": np.concatenate([np.asarray(sample(state.g.params, state.g.stats, z[i:i + batch],
                                                   None if y is None else y[i:i + batch]))
                                 for i in range(0, n_train, batch)]), "label": y}
    apply = jax.jit(make_apply(exp.critic))  # one compilation for the three sets
    rows = {name: summary(critic_scores(apply, state, d["x"], d.get("label"), batch))
            for name, d in (("training", train), ("held_out", held), ("generated", fake))}
    gap = rows["training"]["mean"] - rows["held_out"]["mean"]
    span = rows["training"]["mean"] - rows["generated"]["mean"]
    return {"workdir": workdir, "step": int(step), "images": n_train, "held_out_split": held_out_split,
            "scores": rows,
            # 0: held-out images score like training images; 1: like generated ones.
            "memorisation": gap / span if span else float("nan")}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("workdirs", nargs="+", help="run directories (one seed each)")
    p.add_argument("--held_out_split", default="test")
    p.add_argument("--num", type=int, default=1000, help="images of each kind (at most the training set and the held-out split)")
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    results = [measure(w, args.held_out_split, args.num) for w in args.workdirs]
    print("| run | step | D(training) | D(held-out) | D(generated) | held-out judged real | training judged real | memorisation |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        s = r["scores"]
        print(f"| {r['workdir']} | {r['step']} | {s['training']['mean']:.2f} | {s['held_out']['mean']:.2f} | "
              f"{s['generated']['mean']:.2f} | {s['held_out']['judged_real']:.3f} | "
              f"{s['training']['judged_real']:.3f} | {r['memorisation']:.2f} |")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
