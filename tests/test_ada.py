"""ADA (jaxgan/ada.py) and LeCam (jaxgan/lecam.py, losses.lecam_penalty): the pipeline, p's update
rule, the penalty's value, the EMAs and their exact resume through a checkpoint. (A trainer run
with both on: tests/test_sngan.py.)"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import ROOT
from jaxgan import ada, lecam, losses
from jaxgan.checkpoint import Checkpointer
from jaxgan.config import ConfigError, load_config_file, validate
from jaxgan.data import pipeline
from jaxgan.experiment import Experiment
from jaxgan.replicas import SINGLE
from jaxgan.state import Player


def _player(entry_name, entry):
    return Player(params={}, stats={}, opt=(), extras={entry_name: entry})


def test_p_moves_by_its_step_every_interval_towards_the_target_and_stays_in_0_1():
    adapt = ada.AdaptP(target=0.6, interval=2, kimg=0.064, p_init=0.0, batch_size=16)  # step 0.5
    player = _player("ada", adapt.init(None))
    seen = []
    for sign in [0.9, 0.7, 0.9, 0.9, 0.8, 0.9, 0.2, 0.4, -1.0, -1.0, -1.0, -1.0]:
        player = adapt(player, 0, {"real_sign": jnp.float32(sign)})
        seen.append((float(player.extras["ada"]["p"]), float(player.extras["ada"]["rt"])))
    p = [s[0] for s in seen]
    # Unchanged between adjustments; +0.5 for r_t = 0.8, 0.9, 0.85 (clipped at 1); -0.5 for 0.3, -1, -1.
    assert p == [0.0, 0.5, 0.5, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.0, 0.0, 0.0]
    np.testing.assert_allclose([s[1] for s in seen][1::2], [0.8, 0.9, 0.85, 0.3, -1.0, -1.0], rtol=1e-6)
    assert int(player.extras["ada"]["updates"]) == 0 and float(player.extras["ada"]["sign_sum"]) == 0.0


@jax.jit
def _augment_all(key, images, p):
    return ada.augment(key, images, p, ada.OPS, SINGLE)


def test_pipeline_is_identity_at_p0_per_example_at_p_and_differentiable():
    images = jax.random.uniform(jax.random.key(0), (64, 8, 8, 4), minval=-1, maxval=1)
    key = jax.random.key(1)
    np.testing.assert_array_equal(_augment_all(key, images, 0.0), images)
    out = _augment_all(key, images, 1.0)
    assert out.shape == images.shape
    assert all(not np.allclose(o, x) for o, x in zip(out, images))  # every op on every example
    np.testing.assert_array_equal(_augment_all(key, images, 1.0), out)  # same key, same images
    half = _augment_all(key, images, 0.3)
    changed = np.array([not np.array_equal(o, x) for o, x in zip(half, images)])
    # P(an example is untouched) = 0.7^7, about 0.08: some are, most are not.
    assert 0 < (~changed).sum() < 20
    grads = jax.grad(lambda x: jnp.sum(_augment_all(key, x, 1.0) ** 2))(images)
    assert float(jnp.abs(grads).sum()) > 0


def test_flip_and_rotation_are_exact_and_grey_images_keep_their_channel():
    x = jnp.arange(2 * 3 * 3 * 1.0).reshape(2, 3, 3, 1)
    np.testing.assert_array_equal(ada.xflip(None, x, SINGLE), x[:, :, ::-1])
    rotated = ada.rotate90(jax.random.key(0), x, SINGLE)
    for r, image in zip(rotated, x):
        assert any(np.array_equal(r, jnp.rot90(image, k)) for k in (1, 2, 3))
    assert ada.saturation(jax.random.key(0), x, SINGLE) is x


def test_ops_are_validated():
    c = load_config_file(str(ROOT / "configs" / "dcgan.py:fashion_mnist,tiny"))
    c.ada.ops = "xflip,blur"
    with pytest.raises(ConfigError, match="ada.ops = 'xflip,blur': unknown ADA op"):
        validate(c)
    c.ada.ops = "cutout,xflip"
    with pytest.raises(ConfigError, match="in the order xflip,rotate90"):
        validate(c)
    c.ada.ops = "all"
    with pytest.raises(ValueError, match="rotate90 needs square images"):
        ada.from_config(validate(c), (8, 6, 1), 0)


def test_lecam_penalty_on_known_scores():
    real, fake = jnp.array([1.0, -1.0, 3.0]), jnp.array([0.0, -2.0])
    # relu(real - 0.5)^2 = [0.25, 0, 6.25]; relu(0.2 - fake)^2 = [0.04, 4.84]
    expected = (0.25 + 6.25) / 3 + (0.04 + 4.84) / 2
    np.testing.assert_allclose(losses.lecam_penalty(real, fake, ema_real=0.2, ema_fake=0.5), expected, rtol=1e-6)


def test_lecam_emas_copy_before_the_start_step_then_average():
    ema = lecam.LeCamEMA(decay=0.9, start_step=2)
    player = _player("lecam", ema.init(None))
    player = ema(player, 0, {"real_mean": jnp.float32(2.0), "fake_mean": jnp.float32(-1.0)})
    assert {k: float(v) for k, v in player.extras["lecam"].items()} == {"real": 2.0, "fake": -1.0}
    player = ema(player, 2, {"real_mean": jnp.float32(4.0), "fake_mean": jnp.float32(1.0)})
    np.testing.assert_allclose([player.extras["lecam"]["real"], player.extras["lecam"]["fake"]],
                               [0.9 * 2 + 0.1 * 4, 0.9 * -1 + 0.1 * 1], rtol=1e-6)


def test_p_and_the_lecam_emas_resume_exactly_from_a_checkpoint(tmp_path):
    c = load_config_file(str(ROOT / "configs" / "dcgan.py:fashion_mnist,tiny"))
    c.train.parallel = "single"
    c.ada.update(ops="xflip,translation", interval=1, kimg=0.016)  # p moves 0.5 per critic update
    c.loss.update(lecam=0.3, lecam_start_step=1)
    exp = Experiment.build(c)
    step = jax.jit(exp.make_step())
    batches = pipeline.stack(exp.dataset.batches(c.train.batch_size), c.train.n_critic)
    data = [next(batches) for _ in range(4)]
    straight = state = exp.init_state()  # the step does not donate: both start from it
    for b in data:
        straight, metrics = step(straight, b)
    for b in data[:2]:
        state, _ = step(state, b)
    with Checkpointer(tmp_path / "ckpt", async_save=False) as ckpt:
        ckpt.save(2, state, {"config": c.to_dict()})
    with Checkpointer(tmp_path / "ckpt") as ckpt:
        state, _, _ = ckpt.restore_latest(exp.abstract_state())
    for b in data[2:]:
        state, _ = step(state, b)
    assert set(straight.d.extras) == {"ada", "lecam"}
    jax.tree.map(np.testing.assert_array_equal, jax.device_get(state), jax.device_get(straight))
    assert {"ada_p", "ada_rt", "lecam_ema_real", "lecam_ema_fake", "lecam_penalty"} <= set(metrics)
    assert 0.0 <= float(state.d.extras["ada"]["p"]) <= 1.0
