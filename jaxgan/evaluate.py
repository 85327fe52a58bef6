"""Quality numbers for a trained generator: during training, with `--mode=eval`, and on real data.

Images are measured in the feature space of the networks `eval.features` chooses
(`jaxgan/metrics/feature_policy.py`), against `eval.num_reference` real images of
`eval.reference_split`. For each network `<net>`: `fid/<net>`, `kid/<net>` (and `kid_std/<net>`),
`precision/<net>`, `recall/<net>`, `density/<net>`, `coverage/<net>`, `is/<net>`; with the domain
classifier also `classes_covered`, `class_kl_uniform`, `class_fraction/<k>_<name>`, and for
conditional generators `class_accuracy` (the classifier agrees with the requested class). Small
training sets (`eval.nearest_train`) also get pixel distances to the nearest training image
(`nearest_train_*`, memorisation and diversity: `jaxgan/metrics/nearest_train.py`), the
measure of the emoji flags, for which no feature network exists here. 2D point data gets mode
coverage (`jaxgan/metrics/mode_coverage.py`).

Every result carries its protocol (`EvalResult.protocol`), written with it to eval/step_N.json.
The trainer's periodic evaluation and best checkpoint are hooks (`jaxgan/hooks.py`); the
evaluation tools (real-data floor, pytorch-fid statistics) are `python -m jaxgan.evaluate_cli`.
"""
from __future__ import annotations

import collections
import json
import re
from pathlib import Path

import numpy as np
from absl import logging

from jaxgan.config import ALL, Field, Section, boolean, choice, ints, text
from jaxgan.experiment import EVAL_STREAM, Experiment, restore_run, saved_config
from jaxgan.metrics import classes, feature_policy, frechet, inception_score, kid, mode_coverage
from jaxgan.metrics import nearest_train, precision_recall
from jaxgan.workdir import RunError, atomic_write_text, json_default, new_output, reading

# Image metrics compare generated and real samples in the feature space of a domain classifier
# and/or pytorch-fid's Inception; 2D data gets mode coverage instead.
SECTION = Section("eval", {
    "every_steps": Field(2_000, ints(0), "steps between evaluations (0: only at the end of the run)"),
    "num_samples": Field(2_500, ints(2), "generated samples per evaluation"),
    "num_reference": Field(0, ints(0), "real images (0: as many as num_samples)"),
    "reference_split": Field("train", choice("train", "test"), "split the real images come from"),
    "features": Field("auto", choice("auto", "classifier", "inception", "both", "none"),
                      "feature space of the image metrics (jaxgan/metrics/feature_policy.py)"),
    "batch_size": Field(500, ints(1), "feature-extraction batch (Inception: at most 50)"),
    "kid_subsets": Field(100, ints(0), "KID subsets; 0 skips KID"),
    "precision_recall": Field(True, boolean(), "compute precision, recall, density and coverage"),
    "nearest_train": Field("auto", choice("auto", "on", "off"),
                           "pixel distances of the samples to their nearest training image "
                           "(nearest_train_*); auto: training sets of at most 5,000 images of "
                           "at most 16,384 values (64x64 RGBA)"),
    "best_metric": Field("auto", text(), "kept in checkpoints_best/: auto (the first fid/*), a "
                                         "metric name, or none"),
    "classifier_dir": Field("~/.cache/jaxgan/classifiers", text(), "trained domain classifiers"),
    "inception_dir": Field("~/.cache/jaxgan/inception", text(), "Inception weights cache"),
    "inception_weights": Field("", text(), "pt_inception-2015-12-05-6726825d.pth or its converted .npz"),
    "reference_stats": Field("", text(), "a pytorch-fid .npz (mu, sigma) for the Inception FID"),
}, resumable=ALL)


class EvalResult(dict):
    """Scalar metrics (what TensorBoard and metrics.jsonl receive) plus `protocol`: how they
    were obtained (feature networks and weights, sample counts, reference split, resize)."""

    def __init__(self, metrics=(), protocol: dict | None = None):
        super().__init__(metrics)
        self.protocol = protocol or {}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", str(text)).strip("_")


# eval.nearest_train = auto: the seeds' small datasets (flags, Pokemon, initials, letters), not
# Fashion-MNIST's 60,000 images nor Rock-Paper-Scissors' 300x300 ones, nor a single image (no
# nearest other image to compare with).
NEAREST_AUTO_MAX_IMAGES, NEAREST_AUTO_MAX_VALUES = 5_000, 64 * 64 * 4
_TRAINING_SETS: collections.OrderedDict = collections.OrderedDict()


def nearest_training_set(config, dataset) -> nearest_train.TrainingSet | None:
    """The whole training split the `nearest_train_*` metrics compare with, when
    `eval.nearest_train` asks for them; built once per process per data config."""
    choice = config.eval.nearest_train
    if choice == "off" or dataset.kind != "images":
        return None
    n = dataset.num_examples
    if choice == "auto" and (n < 2 or n > NEAREST_AUTO_MAX_IMAGES or int(np.prod(dataset.shape)) > NEAREST_AUTO_MAX_VALUES):
        return None
    key = json.dumps(config.data.to_dict(), sort_keys=True, default=str)
    if key not in _TRAINING_SETS:
        images = dataset.reference(n, split=getattr(dataset, "train_split", "train"))["x"]
        _TRAINING_SETS[key] = nearest_train.TrainingSet(images)
        while len(_TRAINING_SETS) > 2:
            _TRAINING_SETS.popitem(last=False)
    _TRAINING_SETS.move_to_end(key)
    return _TRAINING_SETS[key]


class Evaluator:
    """Measures images against the fixed reference set of a (data, eval) config; the networks
    and reference features come from the process-wide `feature_policy.reference`."""

    def __init__(self, config, dataset):
        self.config, self.dataset = config, dataset
        self.reference = feature_policy.reference(config, dataset)
        self.nets = self.reference.nets
        self.nearest = nearest_training_set(config, dataset)

    def protocol(self, num_generated: int, generated: str) -> dict:
        e = self.config.eval
        nearest = {"nearest_train": self.nearest.protocol} if self.nearest is not None else {}
        return nearest | {
            "generated": {"num": num_generated, "source": generated},
            "reference": {"num": self.reference.num, "split": e.reference_split,
                          "dataset": f"{self.config.data.get('source')}:{self.config.data.get('name')}",
                          "fid_stats": e.reference_stats or "computed from the reference images"},
            "features": {net.name: net.protocol for net in self.nets},
            "fid": "Frechet distance of Gaussian fits (float64, eigenvalue matrix square root)",
            "kid": f"{kid.PROTOCOL}; {e.kid_subsets} subsets of min(1000, n)",
            "precision_recall": precision_recall.PROTOCOL,
            "density_coverage": precision_recall.DC_PROTOCOL,
            "is": "Inception Score over 10 splits, from the network's logits",
            "classes": classes.PROTOCOL,
        }

    def measure(self, images: np.ndarray, labels: np.ndarray | None = None,
                generated: str = "generator") -> EvalResult:
        e = self.config.eval
        out = {}
        for net in self.nets:
            f, logits = net(images)
            ref = self.reference.features[net.name][0]
            mu, sigma = frechet.gaussian_stats(f)
            out[f"fid/{net.name}"] = frechet.frechet_distance(mu, sigma, *self.reference.stats[net.name])
            if e.kid_subsets:
                out[f"kid/{net.name}"], out[f"kid_std/{net.name}"] = kid.kernel_inception_distance(
                    ref, f, num_subsets=e.kid_subsets)
            if e.precision_recall:
                for name, value in precision_recall.prdc(ref, f).items():
                    out[f"{name}/{net.name}"] = value
            out[f"is/{net.name}"], out[f"is_std/{net.name}"] = inception_score.inception_score(logits)
            if net.class_names:
                pred = np.argmax(logits, axis=-1)
                hist = classes.class_histogram(pred, len(net.class_names))
                out["classes_covered"] = hist["classes_covered"]
                out["class_kl_uniform"] = hist["class_kl_uniform"]
                for k, (name, p) in enumerate(zip(net.class_names, hist["class_fractions"])):
                    out[f"class_fraction/{k}_{_slug(name)}"] = float(p)
                if labels is not None:
                    out["class_accuracy"] = float(np.mean(pred == labels))
        if self.nearest is not None:
            out |= self.nearest.measure(images)
        return EvalResult(out, self.protocol(len(images), generated))


def eval_labels(exp: Experiment, n: int) -> np.ndarray | None:
    """Classes for a conditional generator: each class in turn, so every class gets n / K."""
    k = exp.dataset.num_classes
    return np.arange(n, dtype=np.int32) % k if k else None


def evaluate_state(exp: Experiment, state) -> EvalResult:
    """The metrics that apply to the run's data, on `config.eval.num_samples` samples drawn
    from a fixed latent batch (so changes between evaluations come from the model). Samples
    that are not finite raise `Diverged` (no metric of them means anything)."""
    from jaxgan.sample import check_finite

    n = exp.config.eval.num_samples
    if exp.dataset.kind == "points":
        samples = exp.generate(state, exp.latents(EVAL_STREAM, n))
        check_finite(samples, int(state.step), "this run")
        return EvalResult(mode_coverage.evaluate_points(samples, exp.dataset),
                          {"generated": {"num": n, "weights": exp.sampling_weights(state)},
                           "mode_coverage": mode_coverage.PROTOCOL})
    ev = Evaluator(exp.config, exp.dataset)
    if not ev.nets and ev.nearest is None:
        return EvalResult({}, {"features": "none"})
    labels = eval_labels(exp, n)
    images = exp.generate(state, exp.latents(EVAL_STREAM, n), labels)
    check_finite(images, int(state.step), "this run")
    return ev.measure(images, labels, generated=f"generator ({exp.sampling_weights(state)}), fixed eval "
                      f"latents (stream {EVAL_STREAM})" + (", classes in turn" if labels is not None else ""))


def write_eval(workdir: Path, step: int, metrics: dict, prefix: str = "step") -> Path:
    """<workdir>/eval/step_N.json: the metrics of step N with their protocol (the trainer's,
    replaced when a resumed run evaluates step N again). Any other `prefix` (`--mode=eval`'s
    eval_step_N.json, best_step_N.json) never replaces a file: a later one is <name>-2.json, ..."""
    out_dir = Path(workdir) / "eval"
    out_dir.mkdir(exist_ok=True)
    record = {"step": step, **metrics}
    protocol = getattr(metrics, "protocol", None)
    if protocol:
        record["protocol"] = protocol
    text = json.dumps(record, indent=2, default=json_default) + "\n"
    path = out_dir / f"{prefix}_{step:09d}.json"
    if prefix == "step":
        atomic_write_text(path, text)
        return path
    n = 1
    while path.exists():
        n += 1
        path = out_dir / f"{prefix}_{step:09d}-{n}.json"
    with new_output(path) as tmp:
        tmp.write_text(text)
    return path


def _restore(workdir: Path, checkpoint: str, data_overrides: dict | None = None):
    from jaxgan import checkpoint as checkpoint_lib  # orbax is only needed once a run exists

    if checkpoint == "latest":
        return restore_run(workdir, data_overrides=data_overrides)
    if checkpoint != "best":
        raise RunError(f"--checkpoint={checkpoint!r}: use 'latest' or 'best'")
    best = Path(workdir).expanduser() / checkpoint_lib.BEST_DIR
    if not (best / "best.json").is_file():
        raise RunError(f"no best checkpoint in {str(best)!r}: it is kept when eval.every_steps > 0 "
                       "and the run's evaluation has a FID (eval.features != 'none')")
    with checkpoint_lib.Checkpointer(best) as ckpt:
        newest = ckpt.newest_meta()
        if newest is None:
            raise RunError(f"the best checkpoint in {str(best)!r} is missing; evaluate "
                           "--checkpoint=latest or train on")
        config = saved_config(newest[0]["config"])
        with config.unlocked():
            config.data.update(data_overrides or {})
        exp = Experiment.build(config)
        restored = ckpt.restore_latest(exp.abstract_state(), move_damaged=False)
    state, _, step = restored
    return exp, state, step


def evaluate(workdir: str | Path, num_samples: int | None = None, checkpoint: str = "latest",
             overrides: dict | None = None, data_overrides: dict | None = None) -> dict:
    """Evaluate the latest intact (or the best) checkpoint of `workdir`; save the metrics as
    eval/eval_step_N.json (eval/best_step_N.json for the best; never replacing the training's
    eval/step_N.json or an earlier evaluation) and return them with their protocol."""
    if num_samples is not None and num_samples < 2:
        raise RunError(f"--num_samples={num_samples}: an evaluation needs >= 2 samples (omit it "
                       "to use the run's eval.num_samples)")
    with reading(workdir, "eval"):
        exp, state, step = _restore(Path(workdir), checkpoint, data_overrides)
        with exp.config.unlocked():
            if num_samples:
                exp.config.eval.num_samples = num_samples
            for k, v in (overrides or {}).items():
                exp.config.eval[k] = v
        metrics = evaluate_state(exp, state)
        path = write_eval(Path(workdir), step, metrics, prefix="best_step" if checkpoint == "best" else "eval_step")
    logging.info("Evaluation of step %d written to %s", step, path)
    return {"step": step, **metrics, "protocol": metrics.protocol}

