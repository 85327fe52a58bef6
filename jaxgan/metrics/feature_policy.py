"""Which feature networks measure a run's images (`eval.features`), and the reference set's
features in them, kept once per process.

`classifier` is a domain CNN that jaxgan trains on the dataset (`jaxgan/classifier.py`),
`inception` pytorch-fid's InceptionV3 (`jaxgan/metrics/inception.py`), `both`, `none`, or `auto`:
the classifier for labelled datasets, else Inception when its weights are at hand. Choosing is a
policy with fallbacks and a cost (training a classifier takes minutes), so it lives here, apart
from the measuring in `jaxgan/evaluate.py`.
"""
from __future__ import annotations

import collections
import json
from pathlib import Path

import ml_collections
from absl import logging

from jaxgan.metrics import frechet, inception
from jaxgan.workdir import RunError

FEATURES = ("auto", "classifier", "inception", "both", "none")
# eval.features=auto trains a missing domain classifier (minutes) only for runs at least this
# long: a smoke run of a few steps must not wait for one. `classifier` always trains it.
AUTO_TRAIN_MIN_STEPS = 1000


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


class Reference:
    """The feature networks of a (data, eval) config and, in each, the features and the Gaussian
    fit of the fixed reference set (`eval.num_reference` images of `eval.reference_split`)."""

    def __init__(self, config, dataset):
        e = config.eval
        self.nets = feature_nets(config, dataset)
        self.num = e.num_reference or e.num_samples
        self.features = {}  # net name -> (features, logits)
        if self.nets:
            images = dataset.reference(self.num, split=e.reference_split)["x"]
            self.num = len(images)
            self.features = {net.name: net(images) for net in self.nets}
        self.stats = {}  # net name -> (mu, sigma): pytorch-fid's .npz when given, else the set's
        for net in self.nets:
            if e.reference_stats and net.name == inception.NAME:
                self.stats[net.name] = frechet.load_stats(Path(e.reference_stats).expanduser())
            else:
                self.stats[net.name] = frechet.gaussian_stats(self.features[net.name][0])


_REFERENCES: collections.OrderedDict = collections.OrderedDict()


def reference(config, dataset) -> Reference:
    """The Reference of a (data, eval) config, built once per process: every evaluation of a
    run, and every seed of a multi-seed run, measures against the same reference features."""
    e = {k: v for k, v in config.eval.to_dict().items() if k not in ("every_steps", "best_metric")}
    key = json.dumps([config.data.to_dict(), e], sort_keys=True, default=str)
    if key not in _REFERENCES:
        _REFERENCES[key] = Reference(config, dataset)
        while len(_REFERENCES) > 2:  # networks and features can be large; keep the latest two
            _REFERENCES.popitem(last=False)
    _REFERENCES.move_to_end(key)
    return _REFERENCES[key]
