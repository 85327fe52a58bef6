"""Progressive growing (jaxgan/models/progan.py, jaxgan/progressive.py): the networks at every
stage (shapes; alpha = 0 is the previous stage's network, alpha = 1 the new block alone), the
equalized learning rate, minibatch standard deviation and pixel norm, the stage schedule and its
data stream, an exact resume in the middle of a fade-in (after SIGTERM and after SIGKILL), and
every recipe's `,tiny` end to end."""
import json
import math
import os
import signal
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, stop_with_sigterm_after
from jaxgan import models, progressive, recipes
from jaxgan.checkpoint import Checkpointer
from jaxgan.config import ConfigError, load_config_file, validate
from jaxgan.data import synthetic
from jaxgan.experiment import Experiment
from jaxgan.models import progan
from jaxgan.train import Interrupted, train

RECIPES = ("fashion_mnist", "flags64", "pokemon", "initials", "rps")


def _load(arg):
    c = load_config_file(str(ROOT / "configs" / f"progan.py:{arg}"))
    c.train.parallel = "single"
    return c


def test_sizes_double_then_take_the_last_step():
    assert progan.sizes(28) == [4, 8, 16, 28]
    assert progan.sizes(32) == [4, 8, 16, 32]
    assert progan.sizes(300) == [4, 8, 16, 32, 64, 128, 256, 300]
    assert progan.sizes(64, start_size=8) == [8, 16, 32, 64]


def test_resampling():
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype(np.float32)
    pooled = progan.downsample(x, 4, xp=np)
    np.testing.assert_allclose(pooled, x.reshape(2, 4, 2, 4, 2, 3).mean(axis=(2, 4)), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(progan.downsample(jnp.asarray(x), 4)), pooled, rtol=1e-6, atol=1e-7)
    # The non-integer step averages by area: a constant image stays constant, the mean is kept.
    big = np.random.default_rng(1).normal(size=(1, 28, 28, 1)).astype(np.float32)
    small = progan.downsample(big, 16, xp=np)
    assert small.shape == (1, 16, 16, 1)
    np.testing.assert_allclose(small.mean(), big.mean(), atol=1e-5)
    np.testing.assert_allclose(progan.downsample(np.ones((1, 300, 300, 1), np.float32), 256, xp=np), 1.0, rtol=1e-6)
    up = np.asarray(progan.upsample(jnp.asarray(pooled), 8))
    np.testing.assert_array_equal(up[:, ::2, ::2], pooled)
    np.testing.assert_array_equal(up[:, 1::2, 1::2], pooled)
    assert progan.upsample(jnp.asarray(small), 28).shape == (1, 28, 28, 1)


def _nets(size, channels=1):
    g = progan.ProGenerator(out_shape=(size, size, channels), n_feature=2, max_features=4)
    d = progan.ProCritic(n_feature=2, max_features=4, mbstd_group=2)
    z = jax.random.normal(jax.random.key(1), (2, 8))
    x = jax.random.normal(jax.random.key(2), (2, size, size, channels))
    gv, dv = g.init(jax.random.key(3), z), d.init(jax.random.key(4), x)
    return g, d, gv, dv, z, x


def _perturbed(variables, name):
    params = jax.tree.map(lambda a: a, variables["params"])
    params[name] = jax.tree.map(lambda a: a + 1.0, params[name])
    return {"params": params}


@pytest.mark.parametrize("size,checked", [(28, (1, 2, 3)), (300, (7,))])
def test_growing_and_fading_at_every_stage(size, checked):
    # Shapes at every stage; the fade-in's ends at the stages `checked` (300: 256 -> 300).
    g, d, gv, dv, z, x = _nets(size, channels=3 if size == 300 else 1)
    sizes, one, zero, half = progan.sizes(size), jnp.float32(1), jnp.float32(0), jnp.float32(0.5)
    reals = [progan.downsample_to_stage(x, sizes, k) for k in range(len(sizes))]
    for k, r in enumerate(sizes):
        assert jax.eval_shape(lambda v, z: g.apply(v, z, stage=k, alpha=half), gv, z).shape == (2, r, r, x.shape[-1])
        assert jax.eval_shape(lambda v, x: d.apply(v, x, stage=k, alpha=half), dv, reals[k]).shape == (2,)
    G = jax.jit(lambda v, z, k, a: g.apply(v, z, stage=k, alpha=a), static_argnums=2)
    D = jax.jit(lambda v, x, k, a: d.apply(v, x, stage=k, alpha=a), static_argnums=2)
    for k in checked:
        r, image = sizes[k], G(gv, z, k, one)
        # alpha = 0: the previous stage's network (its images upsampled, its input downsampled)
        np.testing.assert_allclose(G(gv, z, k, zero), progan.upsample(G(gv, z, k - 1, one), r), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(D(dv, reals[k], k, zero),
                                   D(dv, progan.downsample(reals[k], sizes[k - 1]), k - 1, one), rtol=1e-5, atol=1e-5)
        # alpha = 1: the new block alone (the previous stage's output layers do not matter)
        g_other, d_other = _perturbed(gv, f"to_rgb_{k - 1}"), _perturbed(dv, f"from_rgb_{k - 1}")
        np.testing.assert_array_equal(G(g_other, z, k, one), image)
        np.testing.assert_array_equal(D(d_other, reals[k], k, one), D(dv, reals[k], k, one))
        assert not np.allclose(G(g_other, z, k, half), G(gv, z, k, half))
    # The default call is the last stage without a fade: the full network.
    last = len(sizes) - 1
    np.testing.assert_array_equal(jax.jit(g.apply)(gv, z),
                                  jax.jit(lambda v, z: g.apply(v, z, stage=last, alpha=1.0))(gv, z))


def test_every_block_exists_from_init():
    g, d, gv, dv, *_ = _nets(28)
    assert sorted(k for k in gv["params"] if k.startswith("to_rgb")) == [f"to_rgb_{k}" for k in range(4)]
    assert sorted(k for k in dv["params"] if k.startswith("from_rgb")) == [f"from_rgb_{k}" for k in range(4)]
    assert {f"blocks_{k}" for k in range(3)} <= set(gv["params"])
    assert {f"block_{k}" for k in range(1, 4)} <= set(dv["params"])


def test_equalized_learning_rate_scales_weights_at_run_time():
    x = jax.random.normal(jax.random.key(0), (2, 5, 5, 64))
    layer = progan.EqualizedConv(32, 3)
    v = layer.init(jax.random.key(1), x)
    w = v["params"]["kernel"]
    assert w.shape == (3, 3, 64, 32) and abs(float(jnp.std(w)) - 1.0) < 0.02  # stored N(0, 1)
    scale = math.sqrt(2.0) / math.sqrt(3 * 3 * 64)  # He's constant
    expected = jax.lax.conv_general_dilated(x, w * scale, (1, 1), "SAME",
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"))
    np.testing.assert_allclose(layer.apply(v, x), expected, rtol=1e-5, atol=1e-5)
    # The gradient of the stored weight is the scaled gradient of the weight used: an Adam step
    # moves every layer's used weights by lr * its own constant, whatever its fan-in.
    loss = lambda p: jnp.sum(layer.apply({"params": p}, x) ** 2)
    used = lambda w_used: jnp.sum((jax.lax.conv_general_dilated(
        x, w_used, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")) + v["params"]["bias"]) ** 2)
    np.testing.assert_allclose(jax.grad(loss)(v["params"])["kernel"], scale * jax.grad(used)(w * scale),
                               rtol=1e-4, atol=1e-4)
    dense = progan.EqualizedDense(3, gain=1.0)
    h = jax.random.normal(jax.random.key(2), (4, 50))
    dv = dense.init(jax.random.key(3), h)
    np.testing.assert_allclose(dense.apply(dv, h), h @ dv["params"]["kernel"] / math.sqrt(50), rtol=1e-5, atol=1e-6)


def test_minibatch_stddev_and_pixel_norm():
    x = np.random.default_rng(0).normal(size=(8, 3, 3, 5)).astype(np.float32)
    out = np.asarray(progan.minibatch_stddev(jnp.asarray(x), 4))
    assert out.shape == (8, 3, 3, 6)
    np.testing.assert_array_equal(out[..., :5], x)
    for group in range(2):  # consecutive examples 0-3 and 4-7
        members = x[4 * group:4 * group + 4]
        expected = np.sqrt(members.var(axis=0) + 1e-8).mean()
        np.testing.assert_allclose(out[4 * group:4 * group + 4, ..., 5], expected, rtol=1e-5)
    # A batch of 6 with groups of up to 4 is grouped by 3; identical examples have no spread.
    same = np.repeat(x[:2], 3, axis=0)
    np.testing.assert_allclose(np.asarray(progan.minibatch_stddev(jnp.asarray(same), 4))[..., 5], 1e-4, rtol=1e-3)
    y = np.asarray(progan.pixel_norm(jnp.asarray(x)))
    np.testing.assert_allclose(np.mean(y ** 2, axis=-1), 1.0, rtol=1e-5)


def _config(image_size=8, steps=7):
    c = _load("fashion_mnist,tiny")
    c.data.update(image_size=image_size, channels=1, num_examples=32)
    c.train.batch_size, c.train.steps = 4, steps
    c.progressive.update(stage_images=12, fade_images=8, batch_sizes=(4, 2))
    c.checkpoint.every_steps = c.eval.every_steps = 100
    c.viz.every_steps, c.train.log_every_steps = 100, 1
    return c


def test_schedule_is_a_function_of_the_step():
    c = _config(image_size=16)
    schedule = progressive.Schedule.of(c, (16, 16, 1))
    # 12 images a stage: 3 steps of 4, then 6 steps of 2; fade-in 8 images: 4 steps of 2.
    assert [(s.size, s.batch_size, s.start, s.steps, s.fade_steps) for s in schedule.stages] == [
        (4, 4, 0, 3, 0), (8, 2, 3, 6, 4), (16, 2, 9, None, 4)]
    assert [schedule.stage_at(t).index for t in (0, 2, 3, 8, 9, 500)] == [0, 0, 1, 1, 2, 2]
    st = schedule.stages[1]
    assert [st.alpha(t) for t in range(3, 9)] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    np.testing.assert_allclose(st.alpha(jnp.int32(5)), 0.5)
    # Each stage reads the stream after the examples the earlier ones read (rounded up to its
    # batch), and a stream started at any step is the tail of the stream started at 0.
    assert [s.data_start for s in schedule.stages] == [0, 12, 24]
    # What a checkpoint records as the resume position: batches of the step's stage's size.
    assert [schedule.data_position(t) for t in (0, 2, 3, 4, 9, 10)] == [0, 2, 6, 7, 12, 13]
    dataset = synthetic.build(c.data, c.seed)
    whole = list(zip(range(14), schedule.batches(dataset, 0)))
    assert [b["x"].shape for _, b in whole[2:4]] == [(1, 4, 4, 4, 1), (1, 2, 8, 8, 1)]
    for start in (2, 3, 6, 9):
        for (_, a), b in zip(whole[start:], schedule.batches(dataset, start)):
            np.testing.assert_array_equal(a["x"], b["x"])
    # The stage's reals are the full images averaged down to its size.
    full = next(dataset.batches(2, start=12 // 2))["x"]
    np.testing.assert_allclose(whole[3][1]["x"][0], progan.downsample(full, 8, xp=np), rtol=1e-6)


def test_config_rules():
    c = _load("fashion_mnist,tiny")
    c.progressive.fade_images = c.progressive.stage_images + 1
    with pytest.raises(ConfigError, match="fade_images .* a stage's fade-in is part of the stage"):
        validate(c)
    c = _load("fashion_mnist,tiny")
    c.model.critic = recipes.network("dcgan", "critic")
    with pytest.raises(ConfigError, match="needs both to be 'progan'"):
        validate(c)
    c = _load("fashion_mnist,tiny")
    c.optimizer.critic.schedule = "cosine"
    with pytest.raises(ConfigError, match="reset_optimizer = True: each reset would restart the decay"):
        validate(c)


@pytest.mark.parametrize("reset_ema", [True, False])
def test_ema_restarts_from_the_online_weights_when_a_size_is_added_and_when_its_fade_in_ends(reset_ema):
    # 8x8: stage 1 starts at step 3 and its fade-in ends at step 7. An EMA that barely moves
    # (decay ~1) stays at what it last restarted from: the initialisation, or the online weights
    # at the start of step 3 and then of step 7.
    c = _config(steps=8)
    c.loss.gradient_penalty = 0.0
    c.ema.decay, c.ema.start_step, c.progressive.reset_ema = 1.0 - 1e-7, 0, reset_ema
    exp = Experiment.build(c)
    step, state = jax.jit(exp.make_step()), exp.init_state()
    init, started = jax.device_get(state.g.params), {}
    for t, batch in zip(range(8), exp.batches(c.train.batch_size, 0)):
        started[t] = jax.device_get(state.g.params)
        state, _ = step(state, batch)
        expected = started[7] if reset_ema and t >= 7 else started[3] if reset_ema and t >= 3 else init
        for e, x in zip(jax.tree.leaves(state.g.extras["ema"]), jax.tree.leaves(expected)):
            np.testing.assert_allclose(e, x, atol=1e-5)
    assert not all(np.allclose(a, b) for a, b in zip(jax.tree.leaves(started[7]), jax.tree.leaves(init)))


def _final_state(workdir, c):
    with Checkpointer(workdir / "checkpoints") as ckpt:
        state, _, step = ckpt.restore_latest(Experiment.build(c).abstract_state())
    return jax.device_get(state), step


# 8x8: stage 0 (4x4) for steps 0-3, stage 1 fades in over steps 4-7 (alpha 0, .25, .5, .75);
# both optimizers reset at steps 4 and 8. No gradient penalty (its double backward is most of a
# step's compile) and no samplers to compile: what resumes is the schedule and the state.
FADE_RUN = {"data.image_size": 8, "data.channels": 1, "data.num_examples": 32, "train.batch_size": 4,
            "train.steps": 10, "progressive.stage_images": 16, "progressive.fade_images": 16,
            "checkpoint.every_steps": 2, "eval.every_steps": 100, "viz.every_steps": 0,
            "train.log_every_steps": 1, "loss.gradient_penalty": 0.0, "eval.nearest_train": "off",
            "train.parallel": "single"}


def _fade_run_config():
    c = _load("fashion_mnist,tiny")
    for key, value in FADE_RUN.items():
        section, name = key.split(".")
        c[section][name] = value
    return c


def test_resume_in_the_middle_of_a_fade_in_is_exact(tmp_path, monkeypatch):
    """SIGTERM after step 5, then SIGKILL of a subprocess while step 7 computes (both mid-fade);
    each rerun resumes and the run ends with the uninterrupted run's parameters and log."""
    c, workdir = _fade_run_config(), tmp_path / "resumed"
    train(c, tmp_path / "straight")
    with monkeypatch.context() as patch:
        stop_with_sigterm_after(5, patch)
        with pytest.raises(Interrupted, match="at step 5"):
            train(c, workdir)
    assert _final_state(workdir, c)[1] == 5
    flags = [f"--config={ROOT / 'configs' / 'progan.py'}:fashion_mnist,tiny", f"--workdir={workdir}",
             *(f"--config.{k}={v}" for k, v in FADE_RUN.items())]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "fault_worker.py"), "step@7", *flags],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert "started at step 5" in proc.stderr
    with Checkpointer(workdir / "checkpoints") as ckpt:
        assert ckpt.latest_step() in (5, 6)  # inside the fade-in (6 if its save committed)
    train(c, workdir)
    (a, step_a), (b, step_b) = _final_state(tmp_path / "straight", c), _final_state(workdir, c)
    assert step_a == step_b == 10
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(x, y)
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "d_loss" in r]
    assert [r["step"] for r in rows] == list(range(1, 11))
    assert [r["progressive_size"] for r in rows] == [4] * 4 + [8] * 6
    assert [r["progressive_alpha"] for r in rows] == [1] * 4 + [0, 0.25, 0.5, 0.75, 1, 1]


@pytest.mark.parametrize("dataset", RECIPES)
def test_recipe_is_valid_and_grows_to_its_image_size(dataset):
    c = validate(_load(dataset))
    size, channels = c.data.image_size, recipes.SHAPES[dataset][1]
    schedule = progressive.Schedule.of(c, (size, size, channels))
    assert schedule.sizes == progan.sizes(size) and schedule.sizes[-1] == size
    assert c.train.steps > schedule.stages[-1].start  # the run reaches the image size
    g, d = models.build(c.model, (size, size, channels))
    z = jax.ShapeDtypeStruct((2, c.model.z_dim), np.float32)
    images = jax.eval_shape(lambda z: g.init_with_output(jax.random.key(0), z)[0], z)
    assert images.shape == (2, size, size, channels)
    jax.eval_shape(lambda x: d.init_with_output(jax.random.key(0), x)[0], images)


@pytest.mark.parametrize("dataset", RECIPES)
def test_tiny_recipe_trains_end_to_end(dataset, tmp_path):
    c = _load(f"{dataset},tiny")
    train(c, tmp_path)
    size = c.data.image_size
    frames = sorted((tmp_path / "samples").glob("step_*.png"))
    assert [f.name for f in frames] == ["step_000000002.png", "step_000000004.png"]
    cell = size + 2  # every stage's samples are upsampled to the image size
    assert Image.open(frames[0]).size == Image.open(tmp_path / "samples" / "real.png").size
    assert Image.open(frames[0]).width % (4 * cell + 2) == 0  # 4 columns, enlarged by a whole factor
    assert (tmp_path / "checkpoints" / "4").is_dir()
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    logged = [(r["progressive_size"], r["progressive_alpha"]) for r in rows if "d_loss" in r]
    assert logged == [(4, 1), (8, 0.5)]  # steps 2 and 4
    exp = Experiment.build(c)
    state, _ = _final_state(tmp_path, c)
    assert exp.growth.progress(int(state.step)) == (exp.growth.schedule.stages[1], 0.5)
    assert exp.sampling_weights(state) == ("EMA weights, progressive: the stage and fade-in of the last step "
                                           f"trained, upsampled (nearest) to {size}x{size}, clipped to [-1, 1]")
