"""The SNGAN ResNet family: shapes at several sizes and channel counts, its blocks, spectral
norm's power iteration, conditional batch norm, the projection critic, and the recipes."""
import json

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import ROOT
from jaxgan import models, recipes, train
from jaxgan.config import load_config_file, validate
from jaxgan.models import conv, sngan


@pytest.mark.parametrize("shape,num_classes", [((28, 28, 1), 3), ((32, 32, 4), 0), ((64, 64, 3), 0),
                                               ((300, 300, 3), 3), ((9, 13, 1), 0), ((3, 3, 1), 0)])
def test_generator_and_critic_shapes(shape, num_classes):
    g = sngan.ResNetGenerator(out_shape=shape, n_feature=2, max_features=8, num_classes=num_classes)
    d = sngan.ResNetCritic(n_feature=2, max_features=8, num_classes=num_classes)
    labels = jnp.zeros((2,), jnp.int32)
    images = jax.eval_shape(lambda z: g.init_with_output(jax.random.key(0), z, labels)[0], jnp.ones((2, 8)))
    assert images.shape == (2,) + shape
    scores = jax.eval_shape(lambda x: d.init_with_output(jax.random.key(0), x, labels)[0], images)
    assert scores.shape == (2,)


def _filled(module, *args):
    """Variables of `module` filled with a fixed pattern (compiling the random initialisers
    would cost more than the test)."""
    shapes = jax.eval_shape(module.init, jax.random.key(0), *args)
    def fill(offset):
        return lambda path, s: offset + 0.3 * jnp.sin(jnp.arange(np.prod(s.shape)) + len(path)).reshape(s.shape)

    # Batch statistics positive (they hold variances), parameters around 0.
    return {"params": jax.tree_util.tree_map_with_path(fill(0.0), shapes["params"]),
            "batch_stats": jax.tree_util.tree_map_with_path(fill(1.0), shapes["batch_stats"])}


def test_generator_output_range_and_projection_critic():
    g = sngan.ResNetGenerator(out_shape=(8, 8, 3), n_feature=2, max_features=4, num_classes=3)
    d = sngan.ResNetCritic(n_feature=2, max_features=4, num_classes=3)
    z, labels, other = jax.random.normal(jax.random.key(1), (2, 8)), jnp.array([0, 1]), jnp.array([2, 2])
    g_vars = _filled(g, z, labels)
    images = jax.eval_shape(lambda v: g.apply(v, z, labels, train=False), g_vars)
    d_vars = _filled(d, images, labels)

    @jax.jit  # one program: eager Flax would compile every op on its own
    def run(g_vars, d_vars):
        images = g.apply(g_vars, z, labels, train=False)
        return images, d.apply(d_vars, images, labels, train=False), d.apply(d_vars, images, other, train=False)

    images, scores, other_scores = run(g_vars, d_vars)
    assert images.shape == (2, 8, 8, 3) and float(jnp.abs(images).max()) <= 1.0
    assert scores.shape == (2,) and not np.allclose(scores, other_scores)  # the projection term


def test_64x64_critic_is_mimicrys_sngan64_layout():
    d = sngan.ResNetCritic(n_feature=64, max_features=1024)
    params = jax.eval_shape(d.init, jax.random.key(0), jnp.ones((1, 64, 64, 3)))["params"]
    widths = [params[f"DownBlock_{i}"]["Conv_1"]["kernel"].shape[-1] for i in range(5)]
    assert widths == [64, 128, 256, 512, 1024]
    # The first block's shortcut is optional: without it there is no 1x1 conv there.
    plain = jax.eval_shape(sngan.ResNetCritic(n_feature=4, first_shortcut=False).init, jax.random.key(0),
                           jnp.ones((1, 16, 16, 1)))["params"]
    assert "Conv_2" not in plain["DownBlock_0"] and "Conv_2" in plain["DownBlock_1"]


def test_upsampling_and_pooling_are_nearest_and_average():
    x = jax.random.normal(jax.random.key(0), (2, 5, 7, 3))
    for size in [(10, 14), (11, 15), (9, 8)]:
        np.testing.assert_array_equal(sngan.upsample_nearest(x, size),
                                      jax.image.resize(x, (2, *size, 3), "nearest"))
    np.testing.assert_allclose(sngan.avg_pool2(x), nn.avg_pool(x, (2, 2), (2, 2), "VALID"), rtol=1e-6)


def test_spectral_norm_power_iteration_converges_to_the_top_singular_value():
    w = jax.random.normal(jax.random.key(3), (24, 10))
    dense = conv.Dense(10, use_bias=False, spectral_norm=True)
    variables = {"params": {"kernel": w},
                 "batch_stats": dense.init(jax.random.key(0), jnp.ones((1, 24)))["batch_stats"]}
    eye = jnp.eye(24)

    def iterate(variables):
        w_sn, stats = dense.apply(variables, eye, train=True, mutable=["batch_stats"])
        return {**variables, **stats}, w_sn

    top = np.linalg.norm(np.asarray(w), 2)
    variables, w_sn = iterate(variables)
    assert np.linalg.norm(np.asarray(w_sn), 2) > 1.01  # one step underestimates sigma
    for _ in range(50):
        variables, w_sn = iterate(variables)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(w_sn), 2), 1.0, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(w) / np.asarray(w_sn), top, rtol=1e-4)
    # Evaluation calls use the stored vector and leave it alone.
    _, stats = dense.apply(variables, eye, train=False, mutable=["batch_stats"])
    np.testing.assert_array_equal(stats["batch_stats"]["spectral_u"], variables["batch_stats"]["spectral_u"])


def test_conditional_batch_norm_scales_and_shifts_per_class():
    x = jax.random.normal(jax.random.key(0), (4, 3, 3, 2)) * 3.0 + 1.0
    labels = jnp.array([0, 1, 2, 1])
    cbn = sngan.ConditionalBatchNorm(num_classes=3)
    variables = cbn.init(jax.random.key(0), x, labels)
    gamma, beta = jnp.arange(6.0).reshape(3, 2) / 10, -jnp.arange(6.0).reshape(3, 2)
    variables = {**variables, "params": {"gamma": {"embedding": gamma}, "beta": {"embedding": beta}}}
    out, _ = cbn.apply(variables, x, labels, mutable=["batch_stats"])
    mean, var = x.mean((0, 1, 2)), x.var((0, 1, 2))
    normed = (x - mean) / jnp.sqrt(var + 1e-5)
    expected = normed * (1 + gamma[labels])[:, None, None] + beta[labels][:, None, None]
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


ARGS = [d + o for d in ("fashion_mnist", "mnist", "pokemon", "rps", "flags32", "flags64")
        for o in ("", ",cond") if not (o and d.startswith("flags"))] + ["letters,cond"]


@pytest.mark.parametrize("arg", ARGS)
def test_recipe_is_valid_and_its_networks_build(arg):
    c = validate(load_config_file(str(ROOT / "configs" / f"sngan.py:{arg}")))
    assert (c.loss.name, c.train.n_critic, c.optimizer.critic.b1, c.optimizer.critic.lr) == ("hinge", 5, 0.0, 2e-4)
    dataset = arg.split(",")[0]
    size, channels = recipes.SHAPES[dataset]
    num_classes = (recipes.CLASSES[dataset] or 3) if c.data.use_labels else 0
    g, d = models.build(c.model, (size, size, channels), num_classes)
    labels = jnp.zeros((2,), jnp.int32)
    images = jax.eval_shape(lambda z: g.init_with_output(jax.random.key(0), z, labels)[0],
                            jnp.ones((2, c.model.z_dim)))
    assert images.shape == (2, size, size, channels)
    jax.eval_shape(lambda x: d.init_with_output(jax.random.key(0), x, labels)[0], images)


def test_recipe_arguments_are_checked():
    with pytest.raises(ValueError, match="the flags have no classes"):
        load_config_file(str(ROOT / "configs" / "sngan.py:flags32,cond"))
    with pytest.raises(ValueError, match="options cond, tiny"):
        load_config_file(str(ROOT / "configs" / "sngan.py:mnist,conditional"))


def test_tiny_recipe_trains_end_to_end_with_ada_and_lecam(tmp_path):
    # One trainer run for the SNGAN recipes, ADA and LeCam (each costs a compile): conditional
    # SNGAN with both on; p and the EMAs are logged with the other metrics.
    c = load_config_file(str(ROOT / "configs" / "sngan.py:fashion_mnist,cond,tiny"))
    c.train.parallel = "single"
    c.viz.every_steps = 0
    c.ada.update(ops="all", interval=1)
    c.loss.update(lecam=0.3, lecam_start_step=1)
    train.train(c, tmp_path)
    assert (tmp_path / "checkpoints" / "4").is_dir()
    logged = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert any("ada_p" in row and "lecam_ema_real" in row and "lecam_penalty" in row for row in logged)
