"""Evaluation end to end: tiny image runs measured with a domain classifier during and after
training, the best checkpoint, `--mode=eval`, the real-data floor, clear failures, and the
comparison report over two runs that differ in one setting."""
import json
import math

import ml_collections
import numpy as np
import pytest

from conftest import run_launch, tiny_config
from jaxgan import classifier, evaluate, evaluate_cli, report
from jaxgan import data as data_lib
from jaxgan.experiment import RunError
from jaxgan.metrics import feature_policy, inception
from jaxgan.train import train

DATA = dict(source="synthetic", name="shapes", image_size=16, channels=3, num_classes=4)
NET = "classifier_shapes"


def tiny_classifier(directory):
    """A seconds-long classifier on the synthetic shapes, cached where the runs look."""
    c = classifier.default_config()
    c.data.update(DATA)
    c.model.update(widths=(4, 8), features=16)
    c.train.update(steps=120, batch_size=32, lr=3e-3, log_every_steps=120)  # 93.5% test accuracy
    c.num_test = 200
    dataset = data_lib.build(c.data, c.seed)
    params, info = classifier.train(c, dataset)
    classifier.save(directory / classifier.cache_key(c.data, dataset.shape), params, info)
    return info


def image_config(classifier_dir, critic_lr=1e-3):
    c = tiny_config()  # the 2D recipe's MLPs, on 16x16 images
    c.name = "tiny_images"
    c.data.update(DATA, num_examples=64)
    c.model.generator.output = "tanh"
    c.optimizer.critic.lr = critic_lr
    c.eval.update(features="classifier", num_samples=64, num_reference=64, kid_subsets=5,
                  classifier_dir=str(classifier_dir))
    c.viz.update(every_steps=3, num_samples=8)
    return c


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    info = tiny_classifier(root / "classifiers")
    out = {"root": root, "classifier": info}
    for name, lr in (("lr_1e-3", 1e-3), ("lr_1e-4", 1e-4)):
        config = image_config(root / "classifiers", lr)
        out[name] = (config, train(config, root / name))
    return out


def test_training_logs_classifier_metrics_with_their_protocol(runs):
    config, final = runs["lr_1e-3"]
    workdir = runs["root"] / "lr_1e-3"
    for key in (f"fid/{NET}", f"kid/{NET}", f"precision/{NET}", f"recall/{NET}", f"is/{NET}",
                "classes_covered", "class_kl_uniform", "class_accuracy", "class_fraction/0_class_0"):
        assert key in final and math.isfinite(final[key]), key
    assert 0 <= final["classes_covered"] <= 4
    assert abs(sum(v for k, v in final.items() if k.startswith("class_fraction/")) - 1) < 1e-9
    record = json.loads((workdir / "eval" / "step_000000006.json").read_text())
    assert record[f"fid/{NET}"] == final[f"fid/{NET}"]
    protocol = record["protocol"]
    assert protocol["generated"]["num"] == 64 and protocol["reference"] == {
        "num": 64, "split": "train", "dataset": "synthetic:shapes",
        "fid_stats": "computed from the reference images"}
    net = protocol["features"][NET]
    assert net["params_sha256"] == runs["classifier"]["params_sha256"] and net["accuracy"] > 0
    # Periodic evaluations are logged (TensorBoard + metrics.jsonl) and plotted.
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if f"fid/{NET}" in r] == [3, 6]
    assert (workdir / "eval.png").is_file() and (workdir / "eval" / "step_000000003.json").is_file()


def test_best_checkpoint_is_kept_beside_the_latest(runs):
    workdir = runs["root"] / "lr_1e-3"
    best = json.loads((workdir / "checkpoints_best" / "best.json").read_text())
    fids = {s: json.loads((workdir / "eval" / f"step_{s:09d}.json").read_text())[f"fid/{NET}"] for s in (3, 6)}
    assert best["metric"] == f"fid/{NET}" and best["step"] == min(fids, key=fids.get)
    assert best["value"] == fids[best["step"]]
    result = evaluate.evaluate(workdir, checkpoint="best")
    assert result["step"] == best["step"]
    assert result[f"fid/{NET}"] == pytest.approx(best["value"], rel=1e-6)  # same samples, same number
    assert (workdir / "eval" / f"best_step_{best['step']:09d}.json").is_file()


def test_mode_eval_prints_and_saves_json(runs):
    workdir = runs["root"] / "lr_1e-4"
    before = json.loads((workdir / "eval" / "step_000000006.json").read_text())
    proc = run_launch("--mode=eval", f"--workdir={workdir}", "--num_samples=64")
    assert proc.returncode == 0, proc.stderr[-2000:]
    printed = json.loads(proc.stdout)
    assert printed["step"] == 6 and printed["protocol"]["generated"]["num"] == 64
    saved = json.loads((workdir / "eval" / "step_000000006.json").read_text())
    assert saved[f"fid/{NET}"] == printed[f"fid/{NET}"]
    # The fixed evaluation latents make it reproduce the training run's final evaluation.
    assert printed[f"fid/{NET}"] == pytest.approx(before[f"fid/{NET}"], rel=1e-6)


def test_real_data_floor_is_below_the_untrained_generators(runs):
    config = image_config(runs["root"] / "classifiers")
    floor = evaluate_cli.real_data_floor(config, num=64)
    assert floor["protocol"]["generated"]["source"] == "real images, test split"
    assert floor[f"fid/{NET}"] < 0.5 * runs["lr_1e-3"][1][f"fid/{NET}"]
    assert floor["classes_covered"] == 4


def test_report_compares_two_tiny_runs(runs, tmp_path):
    root = runs["root"]
    path = report.build_report([root / "lr_1e-3", root / "lr_1e-4"], tmp_path / "report", title="lr")
    text = path.read_text()
    assert "| `optimizer.critic.lr` | `0.001` | `0.0001` |" in text  # the one thing that changed
    assert f"Feature network: `{NET}`" in text and "| `fid` | `kid` |" in text and "classes_covered" in text
    for picture in ("eval_curves.png", "classes.png", "losses.png", "samples_0_lr_1e-3.png",
                    "samples_1_lr_1e-4.png"):
        assert (tmp_path / "report" / picture).is_file(), picture
        assert f"]({picture})" in text
    fid = runs["lr_1e-3"][1][f"fid/{NET}"]
    assert f"{fid:.4g}" in text
    assert "different protocols" not in text


def test_classifier_cache_key_ignores_run_only_settings():
    a = ml_collections.ConfigDict({**DATA, "num_examples": 64, "use_labels": False})
    b = ml_collections.ConfigDict({**tiny_config().data.to_dict(), **DATA})
    assert classifier.cache_key(a, (16, 16, 3)) == classifier.cache_key(b, (16, 16, 3))
    assert classifier.cache_key(a, (16, 16, 3)) != classifier.cache_key(
        ml_collections.ConfigDict({**DATA, "num_classes": 5}), (16, 16, 3))


def test_missing_classifier_gives_the_command(tmp_path):
    with pytest.raises(classifier.ClassifierMissing, match="python -m jaxgan.classifier --config=configs/classifier.py"):
        classifier.load_or_train(ml_collections.ConfigDict(DATA), (16, 16, 3), str(tmp_path),
                                 train_if_missing=False)


def test_inception_without_weights_fails_clearly(tmp_path):
    c = image_config(tmp_path)
    c.eval.update(features="inception", inception_dir=str(tmp_path))
    dataset = data_lib.build(c.data, c.seed)
    with pytest.raises(RunError, match="pt_inception-2015-12-05-6726825d.pth") as err:
        feature_policy.feature_nets(c, dataset)
    assert inception.WEIGHTS_URL in str(err.value)


def test_auto_does_not_make_a_smoke_run_train_a_classifier(tmp_path):
    c = image_config(tmp_path / "empty_cache")
    c.eval.update(features="auto", inception_dir=str(tmp_path))
    assert c.train.steps < feature_policy.AUTO_TRAIN_MIN_STEPS
    assert feature_policy.feature_nets(c, data_lib.build(c.data, c.seed)) == []
    assert not (tmp_path / "empty_cache").exists()


def test_unlabelled_images_without_weights_get_no_metrics(tmp_path):
    c = image_config(tmp_path)
    c.data.num_classes = 0
    c.eval.update(features="auto", inception_dir=str(tmp_path))
    assert feature_policy.feature_nets(c, data_lib.build(c.data, c.seed)) == []
    c.eval.features = "classifier"
    with pytest.raises(RunError, match="has no labels"):
        feature_policy.feature_nets(c, data_lib.build(c.data, c.seed))


def test_identical_image_sets_give_fid_about_zero(runs):
    config = image_config(runs["root"] / "classifiers")
    dataset = data_lib.build(config.data, config.seed)
    ev = evaluate.Evaluator(config, dataset)
    same = dataset.reference(64, split="train")["x"]
    result = ev.measure(same)
    assert abs(result[f"fid/{NET}"]) < 1e-6
    assert result[f"precision/{NET}"] == 1.0 and result[f"recall/{NET}"] == 1.0
    assert np.isfinite(result[f"kid/{NET}"])


def test_critic_overfitting_scores_three_image_sets(runs):
    """benchmarks/critic_overfitting.py: held-out images that are the training images score
    exactly as they do, so memorisation is 0; the scores cover every whole batch."""
    from benchmarks import critic_overfitting

    workdir = str(runs["root"] / "lr_1e-3")
    same = critic_overfitting.measure(workdir, held_out_split="train", num=64)
    scores = same["scores"]
    assert scores["held_out"] == scores["training"] and same["memorisation"] == 0.0
    other = critic_overfitting.measure(workdir, held_out_split="test", num=64)
    s = other["scores"]
    assert other["step"] == 6 and other["images"] == 10  # the synthetic test split's size
    assert all(math.isfinite(s[k]["mean"]) and 0 <= s[k]["judged_real"] <= 1 for k in s)
    expected = (s["training"]["mean"] - s["held_out"]["mean"]) / (s["training"]["mean"] - s["generated"]["mean"])
    assert other["memorisation"] == pytest.approx(expected)
