"""The train step: determinism, critic:generator ratio, clipping, penalties."""
import jax
import numpy as np
import pytest

from conftest import ROOT, tiny_config
from jaxgan.config import load_config_file
from jaxgan.data import pipeline
from jaxgan.experiment import Experiment


def run_steps(config, n: int = 3):
    exp = Experiment.build(config)
    step = jax.jit(exp.make_step())
    state = exp.init_state()
    batches = pipeline.stack(exp.dataset.batches(config.train.batch_size), config.train.n_critic)
    history = []
    for _ in range(n):
        state, metrics = step(state, next(batches))
        history.append(jax.device_get(metrics))
    return state, history


def leaves_equal(a, b):
    return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_same_seed_same_numbers():
    s1, m1 = run_steps(tiny_config())
    s2, m2 = run_steps(tiny_config())
    assert m1 == m2
    assert leaves_equal(s1, s2)


def test_other_seed_other_numbers():
    c = tiny_config()
    c.seed = 1
    _, m1 = run_steps(tiny_config())
    _, m2 = run_steps(c)
    assert m1 != m2


def test_n_critic_updates_per_generator_update():
    c = tiny_config()
    c.train.n_critic = 3
    state, _ = run_steps(c, n=2)
    assert int(state.step) == 2
    assert int(state.d_opt[0].count) == 6  # Adam's update counter
    assert int(state.g_opt[0].count) == 2


def test_weight_clipping():
    c = tiny_config()
    c.loss.name, c.loss.clip = "wasserstein", 0.01
    state, _ = run_steps(c, n=2)
    assert max(float(abs(x).max()) for x in jax.tree.leaves(state.d_params)) <= 0.01


@pytest.mark.parametrize("penalty, metric", [("gradient_penalty", "gradient_penalty"), ("r1_penalty", "r1_penalty")])
def test_penalties_reported(penalty, metric):
    c = tiny_config()
    c.loss.name = "wasserstein"
    c.loss[penalty] = 10.0
    _, history = run_steps(c, n=2)
    assert metric in history[-1] and np.isfinite(history[-1][metric])


@pytest.mark.parametrize("loss", ["minimax", "non_saturating", "wasserstein", "hinge", "least_squares"])
def test_every_loss_trains_finite(loss):
    c = tiny_config()
    c.loss.name = loss
    _, history = run_steps(c, n=2)
    assert all(np.isfinite(v) for v in history[-1].values())


def test_packed_critic_and_dropout():
    c = tiny_config()
    c.model.critic.pack, c.model.critic.dropout, c.model.generator.dropout = 4, 0.2, 0.1
    c.train.batch_size = 16
    _, history = run_steps(c, n=2)
    assert np.isfinite(history[-1]["d_loss"])


@pytest.mark.parametrize("spec", ["gan2d.py:grid,tiny", "acgan.py:fashion_mnist,tiny"])
def test_abstract_batch_describes_the_batches_the_trainer_feeds(spec):
    """Benchmarks compile and cost steps from `abstract_batch` without data."""
    config = load_config_file(str(ROOT / "configs" / spec))
    config.train.n_critic = 2
    exp = Experiment.build(config)
    real = next(pipeline.stack(exp.dataset.batches(config.train.batch_size), config.train.n_critic))
    expected = jax.tree.map(lambda x: jax.ShapeDtypeStruct(np.shape(x), np.asarray(x).dtype), real)
    assert exp.abstract_batch() == expected
