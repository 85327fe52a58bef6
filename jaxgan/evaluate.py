"""Quality numbers for a trained generator: during training, with `--mode=eval`, and on real data.

Images are measured in the feature space of one or more networks chosen by `eval.features`:
`classifier` (a domain CNN that jaxgan trains on the dataset, `jaxgan/classifier.py`),
`inception` (pytorch-fid's InceptionV3, `jaxgan/metrics/inception.py`), `both`, `none`, or `auto`
(the classifier for labelled datasets, else Inception when its weights are at hand). Against
`eval.num_reference` real images of `eval.reference_split`, for each network `<net>`:
`fid/<net>`, `kid/<net>` (and `kid_std/<net>`), `precision/<net>`, `recall/<net>`, `is/<net>`;
with the classifier also `classes_covered`, `class_kl_uniform`, `class_fraction/<k>_<name>`, and
for conditional generators `class_accuracy` (the classifier agrees with the requested class).
2D point data gets mode coverage (`jaxgan/metrics/mode_coverage.py`).

Every result carries its protocol (`EvalResult.protocol`), written with it to eval/step_N.json.

    python -m jaxgan.evaluate floor --config=configs/dcgan.py:fashion_mnist   # real vs real
    python -m jaxgan.evaluate run runs/dcgan --checkpoint=best                # a trained run
    python -m jaxgan.evaluate stats --config=... --split=train --out=stats.npz  # pytorch-fid .npz
"""
from __future__ import annotations

import collections
import json
import math
import os
import re
import shutil
import sys
from pathlib import Path

import ml_collections
import numpy as np
from absl import logging

from jaxgan.experiment import EVAL_STREAM, Experiment, RunError, atomic_write_text, restore_run, saved_config
from jaxgan.metrics import classes, frechet, inception, inception_score, kid, mode_coverage
from jaxgan.metrics import precision_recall

FEATURES = ("auto", "classifier", "inception", "both", "none")
# eval.features=auto trains a missing domain classifier (minutes) only for runs at least this
# long: a smoke run of a few steps must not wait for one. `classifier` always trains it.
AUTO_TRAIN_MIN_STEPS = 1000
BEST_DIR = "checkpoints_best"


class EvalResult(dict):
    """Scalar metrics (what TensorBoard and metrics.jsonl receive) plus `protocol`: how they
    were obtained (feature networks and weights, sample counts, reference split, resize)."""

    def __init__(self, metrics=(), protocol: dict | None = None):
        super().__init__(metrics)
        self.protocol = protocol or {}


# ---- feature networks ------------------------------------------------------------------------

def _labelled_data_config(data_config):
    """The dataset the classifier learns: the run's, with its labels (an unconditional run may
    drop them, `data.use_labels=False`) and all its training examples (`data.num_examples`)."""
    d = ml_collections.ConfigDict(data_config.to_dict() if hasattr(data_config, "to_dict") else dict(data_config))
    for key, value in (("use_labels", True), ("num_examples", 0)):
        if key in d:
            d[key] = value
    return d


def feature_nets(config, dataset) -> list:
    """The FeatureNets `config.eval.features` asks for (building or loading what they need)."""
    from jaxgan import classifier
    from jaxgan import data as data_lib
    from jaxgan.metrics import features as feat

    e = config.eval
    choice = e.features
    if choice not in FEATURES:
        raise RunError(f"eval.features = {choice!r}: choose one of {', '.join(FEATURES)}")
    if choice == "none" or dataset.kind != "images":
        return []
    labelled_config = _labelled_data_config(config.data)
    labelled = None
    if choice in ("auto", "classifier", "both"):
        try:
            candidate = data_lib.build(labelled_config, config.seed)
            labelled = candidate if candidate.num_classes else None
        except Exception:  # noqa: BLE001 - a source without labels
            labelled = None
    if choice == "auto" and labelled is not None and config.train.steps < AUTO_TRAIN_MIN_STEPS:
        cached = Path(e.classifier_dir).expanduser() / classifier.cache_key(labelled_config, labelled.shape)
        if not (cached / "info.json").is_file():
            logging.warning("eval.features=auto: no domain classifier cached in %s and this run is "
                            "short (%d steps), so it gets no image metrics rather than waiting minutes "
                            "to train one; make it with `%s` or set eval.features=classifier",
                            cached, config.train.steps, classifier.command_for(config.data))
            labelled = None
    have_weights = inception.available(e.inception_weights, e.inception_dir)
    wanted = {"classifier": ["classifier"], "inception": ["inception"],
              "both": ["classifier", "inception"],
              "auto": ["classifier"] if labelled is not None else (["inception"] if have_weights else [])}[choice]
    if choice == "auto" and not wanted:
        logging.warning("eval.features=auto: %s has no labels for a domain classifier and the "
                        "Inception weights are not in %s; images get no quality metrics. %s",
                        config.data.get("name"), e.inception_dir, inception.WEIGHTS_URL)
    nets = []
    if "classifier" in wanted:
        if labelled is None:
            raise RunError(f"eval.features = {choice!r} needs a domain classifier, but dataset "
                           f"{config.data.get('name')!r} has no labels; use eval.features=inception or none")
        clf = classifier.load_or_train(labelled_config, labelled.shape, e.classifier_dir, dataset=labelled)
        nets.append(feat.classifier_net(clf, classifier.feature_name(config.data), e.batch_size))
    if "inception" in wanted:
        try:
            nets.append(feat.inception_net(e.inception_weights, e.inception_dir, min(e.batch_size, 50)))
        except inception.WeightsMissing as err:
            raise RunError(str(err)) from None
    return nets


# ---- measuring -------------------------------------------------------------------------------

def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", str(text)).strip("_")


class Evaluator:
    """Feature networks plus the features of a fixed reference set, computed once."""

    def __init__(self, config, dataset):
        e = config.eval
        self.config, self.dataset = config, dataset
        self.nets = feature_nets(config, dataset)
        self.num_reference = e.num_reference or e.num_samples
        self.reference = {}
        if self.nets:
            ref = dataset.reference(self.num_reference, split=e.reference_split)["x"]
            self.num_reference = len(ref)
            self.reference = {net.name: net(ref) for net in self.nets}
        self.stats = {}
        for net in self.nets:
            if e.reference_stats and net.name == inception.NAME:
                self.stats[net.name] = frechet.load_stats(Path(e.reference_stats).expanduser())
            else:
                self.stats[net.name] = frechet.gaussian_stats(self.reference[net.name][0])

    def protocol(self, num_generated: int, generated: str) -> dict:
        e = self.config.eval
        return {
            "generated": {"num": num_generated, "source": generated},
            "reference": {"num": self.num_reference, "split": e.reference_split,
                          "dataset": f"{self.config.data.get('source')}:{self.config.data.get('name')}",
                          "fid_stats": e.reference_stats or "computed from the reference images"},
            "features": {net.name: net.protocol for net in self.nets},
            "fid": "Frechet distance of Gaussian fits (float64, eigenvalue matrix square root)",
            "kid": f"{kid.PROTOCOL}; {e.kid_subsets} subsets of min(1000, n)",
            "precision_recall": precision_recall.PROTOCOL,
            "is": "Inception Score over 10 splits, from the network's logits",
            "classes": classes.PROTOCOL,
        }

    def measure(self, images: np.ndarray, labels: np.ndarray | None = None,
                generated: str = "generator") -> EvalResult:
        e = self.config.eval
        out = {}
        for net in self.nets:
            f, logits = net(images)
            ref = self.reference[net.name][0]
            mu, sigma = frechet.gaussian_stats(f)
            out[f"fid/{net.name}"] = frechet.frechet_distance(mu, sigma, *self.stats[net.name])
            if e.kid_subsets:
                out[f"kid/{net.name}"], out[f"kid_std/{net.name}"] = kid.kernel_inception_distance(
                    ref, f, num_subsets=e.kid_subsets)
            if e.precision_recall:
                pr = precision_recall.precision_recall(ref, f, k=3)
                out[f"precision/{net.name}"], out[f"recall/{net.name}"] = pr["precision"], pr["recall"]
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
        return EvalResult(out, self.protocol(len(images), generated))


_EVALUATORS: collections.OrderedDict = collections.OrderedDict()


def evaluator(config, dataset) -> Evaluator:
    """The Evaluator of a (data, eval) config, built once per process: the reference features
    do not change during a run."""
    e = {k: v for k, v in config.eval.to_dict().items() if k not in ("every_steps", "best_metric")}
    key = json.dumps([config.data.to_dict(), e], sort_keys=True, default=str)
    if key not in _EVALUATORS:
        _EVALUATORS[key] = Evaluator(config, dataset)
        while len(_EVALUATORS) > 2:
            _EVALUATORS.popitem(last=False)
    return _EVALUATORS[key]


def eval_labels(exp: Experiment, n: int) -> np.ndarray | None:
    """Classes for a conditional generator: each class in turn, so every class gets n / K."""
    k = exp.dataset.num_classes
    return np.arange(n, dtype=np.int32) % k if k else None


def evaluate_state(exp: Experiment, state) -> EvalResult:
    """The metrics that apply to the run's data, on `config.eval.num_samples` samples drawn
    from a fixed latent batch (so changes between evaluations come from the model)."""
    n = exp.config.eval.num_samples
    if exp.dataset.kind == "points":
        samples = exp.generate(state, exp.latents(EVAL_STREAM, n))
        return EvalResult(mode_coverage.evaluate_points(samples, exp.dataset),
                          {"generated": {"num": n}, "mode_coverage": mode_coverage.PROTOCOL})
    ev = evaluator(exp.config, exp.dataset)
    if not ev.nets:
        return EvalResult({}, {"features": "none"})
    labels = eval_labels(exp, n)
    images = exp.generate(state, exp.latents(EVAL_STREAM, n), labels)
    return ev.measure(images, labels, generated=f"generator, fixed eval latents (stream {EVAL_STREAM})"
                      + (", classes in turn" if labels is not None else ""))


# ---- writing, best checkpoint ----------------------------------------------------------------

def write_eval(workdir: Path, step: int, metrics: dict) -> Path:
    out_dir = Path(workdir) / "eval"
    out_dir.mkdir(exist_ok=True)
    path = out_dir / f"step_{step:09d}.json"
    record = {"step": step, **metrics}
    protocol = getattr(metrics, "protocol", None)
    if protocol:
        record["protocol"] = protocol
    atomic_write_text(path, json.dumps(record, indent=2, default=_json_default) + "\n")
    return path


def _json_default(x):
    if hasattr(x, "tolist"):
        return x.tolist()
    return str(x)


def best_metric(config, metrics: dict) -> str | None:
    """The metric that picks the best checkpoint (lower is better): `eval.best_metric`, or with
    'auto' the first `fid/...` of the metrics; None when there is none."""
    name = config.eval.best_metric
    if name == "none":
        return None
    if name == "auto":
        return next((k for k in metrics if k.startswith("fid/")), None)
    return name if name in metrics else None


def keep_best(workdir: Path, step: int, metrics: dict, state, meta: dict, config) -> bool:
    """Save `state` to <workdir>/checkpoints_best/ if its `best_metric` is the lowest so far
    (under the same protocol); returns whether it did. best.json there says which step it is."""
    key = best_metric(config, metrics)
    if key is None or not math.isfinite(float(metrics[key])):
        return False
    from jaxgan.checkpoint import Checkpointer

    workdir = Path(workdir)
    best = workdir / BEST_DIR
    protocol = json.loads(json.dumps(getattr(metrics, "protocol", {}), default=_json_default))
    record_path = best / "best.json"
    if record_path.is_file():
        record = json.loads(record_path.read_text())
        if (record.get("metric") == key and record.get("protocol") == protocol
                and record.get("value", math.inf) <= float(metrics[key])):
            return False
    # Write the new best beside the old one, then swap, so a crash never leaves no best at all.
    tmp = workdir / (BEST_DIR + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    with Checkpointer(tmp, max_to_keep=1, async_save=False) as ckpt:
        ckpt.save(step, state, meta)
    atomic_write_text(tmp / "best.json", json.dumps(
        {"step": step, "metric": key, "value": float(metrics[key]), "protocol": protocol}, indent=2) + "\n")
    old = workdir / (BEST_DIR + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if best.exists():
        os.replace(best, old)
    os.replace(tmp, best)
    shutil.rmtree(old, ignore_errors=True)
    logging.info("Best checkpoint so far by %s = %.4f: step %d (%s)", key, float(metrics[key]), step, best)
    return True


def after_eval(workdir: Path, step: int, metrics: dict, state, meta: dict, config) -> None:
    """What the trainer does with a periodic evaluation: eval/step_N.json, the best checkpoint,
    and the curves of every evaluation so far (eval.png)."""
    from jaxgan import report

    write_eval(workdir, step, metrics)
    keep_best(workdir, step, metrics, state, meta, config)
    try:
        report.eval_curves(Path(workdir) / "metrics.jsonl", Path(workdir) / "eval.png")
    except Exception as e:  # noqa: BLE001 - a plot must never stop training
        logging.warning("could not plot evaluation curves: %s", e)


# ---- commands --------------------------------------------------------------------------------

def _restore(workdir: Path, checkpoint: str):
    if checkpoint == "latest":
        return restore_run(workdir)
    if checkpoint != "best":
        raise RunError(f"--checkpoint={checkpoint!r}: use 'latest' or 'best'")
    from jaxgan.checkpoint import Checkpointer

    best = Path(workdir).expanduser() / BEST_DIR
    if not (best / "best.json").is_file():
        raise RunError(f"no best checkpoint in {str(best)!r}: it is kept when eval.every_steps > 0 "
                       "and the run's evaluation has a FID (eval.features != 'none')")
    with Checkpointer(best) as ckpt:
        exp = Experiment.build(saved_config(ckpt.read_meta()["config"]))
        restored = ckpt.restore_latest(exp.abstract_state())
    state, _, step = restored
    return exp, state, step


def evaluate(workdir: str | Path, num_samples: int | None = None, checkpoint: str = "latest",
             overrides: dict | None = None) -> dict:
    """Evaluate the latest intact (or the best) checkpoint of `workdir`; save the metrics as
    eval/step_N.json (eval/best_step_N.json for the best) and return them with their protocol."""
    exp, state, step = _restore(Path(workdir), checkpoint)
    with exp.config.unlocked():
        if num_samples:
            exp.config.eval.num_samples = num_samples
        for k, v in (overrides or {}).items():
            exp.config.eval[k] = v
    metrics = evaluate_state(exp, state)
    path = write_eval(Path(workdir), step, metrics)
    if checkpoint == "best":
        path = path.rename(path.with_name(f"best_{path.name}"))
    logging.info("Evaluation of step %d written to %s", step, path)
    return {"step": step, **metrics, "protocol": metrics.protocol}


def real_data_floor(config, num: int = 10_000) -> dict:
    """Metrics of `num` real images of the other split against `num` of eval.reference_split:
    what a perfect generator would score (the floor of FID with these sample counts)."""
    from jaxgan import data as data_lib

    dataset = data_lib.build(config.data, config.seed)
    with config.unlocked():
        config.eval.num_reference = num
    other = "test" if config.eval.reference_split == "train" else "train"
    images = dataset.reference(num, split=other)["x"]
    ev = evaluator(config, dataset)
    return {**ev.measure(images, generated=f"real images, {other} split"),
            "protocol": ev.protocol(len(images), f"real images, {other} split")}


def write_stats(config, split: str, num: int, out: Path) -> dict:
    """pytorch-fid statistics (`mu`, `sigma`) of `num` real images of `split`, for each network."""
    from jaxgan import data as data_lib

    dataset = data_lib.build(config.data, config.seed)
    images = dataset.reference(num, split=split)["x"]
    written = {}
    for net in feature_nets(config, dataset):
        path = out.with_name(f"{out.stem}_{net.name}{out.suffix}") if config.eval.features == "both" else out
        mu, sigma = frechet.gaussian_stats(net(images)[0])
        frechet.save_stats(path, mu, sigma)
        written[net.name] = str(path)
    return written


def main(argv) -> int:
    from absl import flags
    from ml_collections import config_flags

    config_flags.DEFINE_config_file("config", None, "configs/<file>.py[:arg] of the data to measure",
                                    lock_config=False)
    flags.DEFINE_enum("checkpoint", "latest", ["latest", "best"], "run: which checkpoint")
    flags.DEFINE_integer("num", 10_000, "floor/stats: real images per set")
    flags.DEFINE_integer("num_samples", 0, "run: generated samples (0: the run's eval.num_samples)")
    flags.DEFINE_string("split", "train", "stats: the split to describe")
    flags.DEFINE_string("out", "", "stats: output .npz")
    flags.DEFINE_string("features", "", "run: override eval.features")
    rest = flags.FLAGS(argv)
    from jaxgan import monitor

    monitor.quiet_library_logs()
    FLAGS = flags.FLAGS
    usage = ("usage: python -m jaxgan.evaluate floor --config=CONFIG [--num=10000]\n"
             "       python -m jaxgan.evaluate run WORKDIR [--checkpoint=best] [--num_samples=N]\n"
             "       python -m jaxgan.evaluate stats --config=CONFIG --split=train --out=FILE.npz")
    if len(rest) < 2:
        print(usage, file=sys.stderr)
        return 2
    try:
        if rest[1] == "run" and len(rest) == 3:
            over = {"features": FLAGS.features} if FLAGS.features else None
            result = evaluate(rest[2], FLAGS.num_samples or None, FLAGS.checkpoint, over)
        elif rest[1] in ("floor", "stats") and len(rest) == 2 and FLAGS.config is not None:
            if rest[1] == "floor":
                result = real_data_floor(FLAGS.config, FLAGS.num)
            else:
                if not FLAGS.out:
                    raise RunError("stats needs --out=FILE.npz")
                result = write_stats(FLAGS.config, FLAGS.split, FLAGS.num, Path(FLAGS.out))
        else:
            print(usage, file=sys.stderr)
            return 2
    except RunError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2, default=_json_default))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
