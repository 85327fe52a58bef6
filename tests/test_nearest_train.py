"""Pixel distances to the nearest training image (nearest_train_*): known point sets, and the
evaluator measuring them for a flags recipe."""
import numpy as np
import pytest

from conftest import ROOT
from jaxgan import data, evaluate
from jaxgan.config import load_config_file
from jaxgan.metrics.nearest_train import TrainingSet

# Four 1x1x4 "images": three far apart, and a twin of the first (radius 0 for both).
TRAIN = np.array([[0, 0, 0, 0], [1, 1, 1, 1], [-1, -1, -1, -1], [0, 0, 0, 0]], float).reshape(4, 1, 1, 4)


def test_copies_distinct_and_distance_on_known_points():
    t = TrainingSet(TRAIN)
    np.testing.assert_array_equal(t.radius_sq, [0, 4, 4, 0])  # 1 away per value, 4 values
    # An exact copy of [1], and two points half-way from [0] to [1] and to [2] (RMS 0.5 from each).
    samples = np.array([[1, 1, 1, 1], [0.5, 0.5, 0.5, 0.5], [-0.5, -0.5, -0.5, -0.5]]).reshape(3, 1, 1, 4)
    m = t.measure(samples)
    assert m["nearest_train_rms"] == pytest.approx((0 + 0.5 + 0.5) / 3)
    # Nearest: [1], then a tie between [0] and [1] at RMS 0.5 (first wins: [0]), then [0] again.
    assert m["nearest_train_distinct"] == 2 and m["nearest_train_distinct_frac"] == 0.5
    # Only the exact copy counts: the others are nearest to [0], whose twin makes its radius 0.
    assert m["nearest_train_copies"] == pytest.approx(1 / 3)
    assert t.measure(TRAIN) == {"nearest_train_rms": 0.0, "nearest_train_distinct": 3,
                                "nearest_train_distinct_frac": 0.75, "nearest_train_copies": 1.0}
    assert t.protocol["train_nn_rms_mean"] == pytest.approx(0.5)  # (0 + 1 + 1 + 0) / 4


def test_a_far_sample_is_no_copy():
    t = TrainingSet(TRAIN[:3])  # no twin: radii RMS 1, 1, 1
    m = t.measure(np.full((2, 1, 1, 4), 0.6))  # nearest [1] at RMS 0.4 < 1: inside its ball
    assert m["nearest_train_copies"] == 1.0 and m["nearest_train_distinct"] == 1
    m = t.measure(np.full((1, 1, 1, 4), 3.0))  # nearest [1] at RMS 2 > 1
    assert m["nearest_train_copies"] == 0.0 and m["nearest_train_rms"] == pytest.approx(2.0)


def test_the_evaluator_measures_them_for_a_flags_recipe():
    # (A trainer run reporting them at its evaluation: tests/test_schedule.py.)
    c = load_config_file(str(ROOT / "configs" / "dcgan.py:flags32,tiny"))  # 64 synthetic 32x32 RGBA
    dataset = data.build(c.data, c.seed)
    ev = evaluate.Evaluator(c, dataset)
    train = dataset.reference(64)["x"]
    m = ev.measure(train)  # the training images themselves: all copies
    assert m["nearest_train_rms"] == 0.0 and m["nearest_train_copies"] == 1.0
    assert m.protocol["nearest_train"]["num_train"] == 64
    noise = np.random.default_rng(0).uniform(-1, 1, (16,) + dataset.shape).astype(np.float32)
    m = ev.measure(noise)
    assert m["nearest_train_copies"] == 0.0 and m["nearest_train_rms"] > 0.3
    c.eval.nearest_train = "off"
    assert evaluate.Evaluator(c, dataset).nearest is None
