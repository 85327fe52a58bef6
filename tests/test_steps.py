"""The train step: determinism, critic:generator ratio, clipping, penalties."""
import jax
import numpy as np
import pytest

from conftest import ROOT, tiny_config
from jaxgan import latent, steps
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
    assert int(state.d.opt[0].count) == 6  # Adam's update counter
    assert int(state.g.opt[0].count) == 2


def test_weight_clipping():
    c = tiny_config()
    c.loss.name, c.loss.clip = "wasserstein", 0.01
    state, _ = run_steps(c, n=2)
    assert max(float(abs(x).max()) for x in jax.tree.leaves(state.d.params)) <= 0.01


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


def fixed_latents(monkeypatch):
    """Every latent draw returns the same batch, so the critic's and the generator's fakes agree."""
    monkeypatch.setattr(latent, "make_sampler", lambda model_config: lambda key, shape: jax.random.normal(
        jax.random.key(7), shape))


@pytest.mark.parametrize("n_critic", [1, 2])
def test_reuse_fake_differentiates_the_critics_fake(monkeypatch, n_critic):
    """With one latent batch for every draw, reusing the critic's fake must give exactly the
    update of a fresh generator forward (batch norm in training mode uses the batch's statistics)."""
    fixed_latents(monkeypatch)
    states = {}
    for reuse in (False, True):
        c = tiny_config()
        c.model.generator.batch_norm, c.train.n_critic, c.train.reuse_fake = True, n_critic, reuse
        states[reuse], history = run_steps(c, n=3)
        assert np.isfinite(history[-1]["g_loss"])
    for player in ("g", "d"):
        fresh, reused = getattr(states[False], player), getattr(states[True], player)
        for a, b in zip(jax.tree.leaves((fresh.params, fresh.opt)), jax.tree.leaves((reused.params, reused.opt))):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_reuse_fake_runs_one_generator_forward_fewer():
    def flops(lowered):
        cost = lowered.cost_analysis()
        return float((cost[0] if isinstance(cost, (list, tuple)) else cost)["flops"])

    def step_flops(c):
        exp = Experiment.build(c)
        return flops(jax.jit(exp.make_step()).lower(exp.abstract_state(), exp.abstract_batch()))

    c = load_config_file(str(ROOT / "configs" / "dcgan.py:fashion_mnist,tiny"))
    c.train.parallel = "single"
    exp = Experiment.build(c)
    state = exp.abstract_state()
    z = jax.ShapeDtypeStruct((c.train.batch_size, c.model.z_dim), np.float32)
    forward = jax.jit(lambda p, s, z: steps.make_apply(exp.generator)(p, s, z, None, jax.random.key(0)))
    g_forward = flops(forward.lower(state.g.params, state.g.stats, z))
    fresh = step_flops(c)
    c.train.reuse_fake = True
    saved = fresh - step_flops(c)
    assert 0.9 * g_forward < saved < 1.1 * g_forward, (saved, g_forward, fresh)


def test_reuse_fake_conditional_model_trains():
    """AC-GAN: the reused fake carries the real batch's labels into the generator's class loss."""
    c = load_config_file(str(ROOT / "configs" / "acgan.py:fashion_mnist,tiny"))
    c.train.parallel, c.train.reuse_fake = "single", True
    _, history = run_steps(c, n=2)
    assert {"g_loss", "g_class_loss"} <= set(history[-1])
    assert all(np.isfinite(v) for v in history[-1].values())


def test_acgan_critic_class_loss_on_real_images_only():
    """loss.class_on_fakes=False drops the fakes' term from the critic's class loss and nothing else."""
    c = load_config_file(str(ROOT / "configs" / "acgan.py:fashion_mnist,tiny"))
    c.train.parallel = "single"
    _, (both,) = run_steps(c, n=1)
    c.loss.class_on_fakes = False
    _, (real_only,) = run_steps(c, n=1)
    assert real_only["d_loss"] == both["d_loss"]
    assert real_only["d_class_accuracy"] == both["d_class_accuracy"]
    assert 0 < real_only["d_class_loss"] < both["d_class_loss"]
