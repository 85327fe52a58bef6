"""The extensions built through the core's seams: DiffAugment, the generator's EMA, replay."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import tiny_config
from jaxgan import augment, config as config_lib, diffaugment, ema, replay
from jaxgan.experiment import Experiment
from jaxgan.replicas import SINGLE
from test_steps import run_steps

IMAGES = jax.random.uniform(jax.random.key(0), (6, 16, 12, 3), minval=-1.0, maxval=1.0)


def image_config():
    """The 2D recipe's MLP networks on 8x8 synthetic images: image extensions, seconds to run."""
    c = tiny_config()
    c.data.update(source="synthetic", name="shapes", image_size=8, channels=1, num_examples=64)
    return c


# ---- DiffAugment ---------------------------------------------------------------------------

def test_diffaugment_off_is_no_transform_and_identity():
    assert diffaugment.from_config(tiny_config(), (8, 8, 1), 0) is None
    assert augment.apply_chain((), jax.random.key(0), 0, IMAGES, SINGLE) is IMAGES
    assert diffaugment.augment(jax.random.key(0), IMAGES, (), SINGLE) is IMAGES


@pytest.mark.parametrize("policy", [("color",), ("translation",), ("cutout",), diffaugment.POLICIES])
def test_diffaugment_shapes_and_determinism(policy):
    out = diffaugment.augment(jax.random.key(1), IMAGES, policy, SINGLE)
    assert out.shape == IMAGES.shape and out.dtype == IMAGES.dtype
    np.testing.assert_array_equal(out, diffaugment.augment(jax.random.key(1), IMAGES, policy, SINGLE))
    assert not np.array_equal(out, diffaugment.augment(jax.random.key(2), IMAGES, policy, SINGLE))


def test_translation_moves_pixels_by_integers_and_pads_with_zero():
    out = np.asarray(diffaugment.translation(jax.random.key(3), IMAGES, SINGLE))
    for img, moved in zip(np.asarray(IMAGES), out):
        # Every output pixel is an input pixel of the same image, or padding.
        values = set(np.round(img.ravel(), 6)) | {0.0}
        assert set(np.round(moved.ravel(), 6)) <= values
        # One shift for the whole image, at most 1/8 of each side (2 rows, 2 columns here).
        found = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                 if np.array_equal(moved, _shifted(img, dy, dx))]
        assert found


def _shifted(img, dy, dx):
    h, w, _ = img.shape
    out = np.zeros_like(img)
    src = img[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)]
    out[max(-dy, 0):max(-dy, 0) + src.shape[0], max(-dx, 0):max(-dx, 0) + src.shape[1]] = src
    return out


def test_cutout_zeroes_one_clipped_half_size_square():
    out = np.asarray(diffaugment.cutout(jax.random.key(4), IMAGES, SINGLE))
    for img, cut in zip(np.asarray(IMAGES), out):
        zeroed = np.all(cut == 0, axis=-1) & np.any(img != 0, axis=-1)
        rows, cols = np.nonzero(zeroed)
        assert 0 < len(rows) <= 8 * 6  # half of 16 x half of 12, less where it leaves the image
        assert zeroed[rows.min():rows.max() + 1, cols.min():cols.max() + 1].all()  # one rectangle
        np.testing.assert_array_equal(cut[~zeroed], img[~zeroed])


def test_color_changes_are_per_image_and_bounded():
    out = np.asarray(diffaugment.color(jax.random.key(5), IMAGES, SINGLE))
    assert np.all(np.isfinite(out))
    # brightness +-0.5, saturation x [0, 2], contrast x [0.5, 1.5] around means in [-1.5, 1.5]
    assert np.abs(out).max() <= 1.5 + 1.5 * (1 + 2 * 2.5)
    assert not np.allclose(out[0] - IMAGES[0], out[1] - IMAGES[1])


def test_diffaugment_is_differentiable():
    loss = lambda x: jnp.sum(diffaugment.augment(jax.random.key(6), x, diffaugment.POLICIES, SINGLE) ** 2)
    grad = jax.grad(loss)(IMAGES)
    assert np.all(np.isfinite(grad)) and np.abs(grad).sum() > 0


def test_diffaugment_policy_is_validated():
    c = image_config()
    c.augment.diffaugment = "translation,colour"
    with pytest.raises(config_lib.ConfigError, match="augment.diffaugment = 'translation,colour'.*colour"):
        config_lib.validate(c)


def test_diffaugment_in_the_step_real_and_fake_draw_independently_and_grads_reach_g(monkeypatch):
    calls = []
    original = diffaugment.augment

    def recording(key, images, policy, replicas):
        calls.append(key)
        return original(key, images, policy, replicas)

    monkeypatch.setattr(diffaugment, "augment", recording)
    c = image_config()
    c.augment.diffaugment = "color,translation,cutout"
    exp = Experiment.build(c)
    state, batch = exp.init_state(), _batch(exp)
    new, metrics = exp.make_step()(state, batch)  # eagerly, so the recorded keys are concrete
    assert len(calls) == 3  # real, fake, the generator's update: one critic input each
    assert len({tuple(np.asarray(jax.random.key_data(k)).ravel()) for k in calls}) == 3
    # Gradients reach the generator through the augmentation.
    moved = jax.tree.map(lambda a, b: float(jnp.abs(a - b).max()), new.g.params, state.g.params)
    assert max(jax.tree.leaves(moved)) > 0
    assert np.isfinite(float(metrics["g_loss"]))


def _batch(exp):
    from jaxgan.data import pipeline

    c = exp.config
    return next(pipeline.stack(exp.dataset.batches(c.train.batch_size), c.train.n_critic))


# ---- EMA of the generator ------------------------------------------------------------------

def test_ema_off_keeps_no_extras():
    state = Experiment.build(tiny_config()).init_state()
    assert state.g.extras == {} and state.d.extras == {}


def test_ema_averages_after_each_generator_update():
    c = tiny_config()
    c.ema.decay = 0.9
    exp = Experiment.build(c)
    state = exp.init_state()
    new, _ = jax.jit(exp.make_step())(state, _batch(exp))
    expected = jax.tree.map(lambda e, p: 0.9 * e + 0.1 * p, state.g.params, new.g.params)
    for a, b in zip(jax.tree.leaves(new.g.extras["ema"]), jax.tree.leaves(expected)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_ema_copies_the_weights_before_its_start_step():
    c = tiny_config()
    c.ema.decay, c.ema.start_step = 0.999, 10
    state, _ = run_steps(c, n=3)
    for a, b in zip(jax.tree.leaves(state.g.extras["ema"]), jax.tree.leaves(state.g.params)):
        np.testing.assert_array_equal(a, b)


def test_samples_come_from_the_ema_weights():
    c = tiny_config()
    c.ema.decay = 0.5
    state, _ = run_steps(c, n=3)
    exp = Experiment.build(c)
    z = exp.latents(0, 16)
    with_ema = exp.generate(state, z)
    online = exp.generate(state.replace(g=state.g.replace(extras={})), z)
    direct = exp.generator.apply({"params": state.g.extras["ema"], "batch_stats": state.g.stats}, z, train=False)
    np.testing.assert_allclose(with_ema, direct, rtol=1e-6)
    assert not np.allclose(with_ema, online)
    assert ema.sampling_params(state.g) is state.g.extras["ema"]


def test_samples_do_not_depend_on_how_they_are_chunked():
    """generate draws large sample sets in chunks (fewer images per chunk for larger images)."""
    c = tiny_config()
    state, _ = run_steps(c, n=2)
    exp = Experiment.build(c)
    z = exp.latents(0, 16)
    np.testing.assert_allclose(exp.generate(state, z, chunk=5), exp.generate(state, z), rtol=1e-5, atol=1e-6)


# ---- experience replay ---------------------------------------------------------------------

def test_replay_fills_in_order_then_replaces_and_mixes_its_share():
    buf = replay.ReplayBuffer(size=10, fraction=0.5, data_shape=(2,), num_classes=3)
    entry = buf.init(None)
    fakes = [jnp.full((4, 2), float(i + 1)) for i in range(4)]
    labels = jnp.arange(4) % 3
    mixed, mixed_labels, entry = buf(entry, jax.random.key(0), fakes[0], labels, SINGLE)
    np.testing.assert_array_equal(mixed, fakes[0])  # nothing stored yet: all fresh
    assert int(entry["count"]) == 4
    np.testing.assert_array_equal(entry["images"][:4], fakes[0])
    np.testing.assert_array_equal(entry["labels"][:4], labels)
    mixed, mixed_labels, entry = buf(entry, jax.random.key(1), fakes[1], labels, SINGLE)
    np.testing.assert_array_equal(mixed[:2], fakes[0][:2])  # round(0.5 * 4) replayed, from batch 1
    np.testing.assert_array_equal(mixed[2:], fakes[1][2:])
    _, _, entry = buf(entry, jax.random.key(2), fakes[2], labels, SINGLE)  # 12 stored: wraps
    assert int(entry["count"]) == 12
    np.testing.assert_array_equal(entry["images"][8:10], fakes[2][:2])
    np.testing.assert_array_equal(entry["images"][:2], fakes[2][2:])
    full = entry
    _, _, entry = buf(full, jax.random.key(3), fakes[3], labels, SINGLE)  # full: distinct random slots
    changed = np.nonzero(np.any(np.asarray(entry["images"] != full["images"]), axis=1))[0]
    assert len(changed) == 4 and np.all(np.asarray(entry["images"])[changed] == 4.0)


def test_replay_is_validated():
    c = tiny_config()
    c.replay.size = c.train.batch_size - 1
    with pytest.raises(config_lib.ConfigError, match="replay.size"):
        config_lib.validate(c)


def test_replay_buffer_lives_in_the_critic_state_and_trains():
    c = tiny_config()
    c.replay.size, c.replay.fraction = 3 * c.train.batch_size, 0.25
    state, history = run_steps(c, n=3)
    entry = state.d.extras["replay"]
    assert int(entry["count"]) == 3 * c.train.batch_size
    assert np.all(np.isfinite(history[-1]["d_loss"]))
    assert np.abs(np.asarray(entry["images"])).sum() > 0


def test_ema_does_not_change_training():
    """The EMA is only read for sampling: a run's online weights equal the same run's without
    EMA (benchmarks/ema_diffaugment.py measures both weight sets from one run)."""
    c = tiny_config()
    without, _ = run_steps(c, n=3)
    c.ema.decay = 0.9
    with_ema, _ = run_steps(c, n=3)
    for a, b in zip(jax.tree.leaves((without.g.params, without.d)), jax.tree.leaves((with_ema.g.params, with_ema.d))):
        np.testing.assert_array_equal(a, b)
