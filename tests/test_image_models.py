"""Conv and fully connected image models at several sizes and channel counts, conditional or not."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.models import dcgan, mlp


def _init_apply(module, *args):
    @jax.jit
    def run(*args):
        rngs = {"params": jax.random.key(0), "dropout": jax.random.key(1)}
        variables = module.init(rngs, *args)
        out, _ = module.apply(variables, *args, rngs={"dropout": jax.random.key(2)}, mutable=["batch_stats"])
        return variables, out

    return run(*args)


@pytest.mark.parametrize("shape,norm", [((28, 28, 1), "batch"), ((32, 32, 4), "instance"),
                                        ((64, 64, 3), "layer"), ((9, 13, 1), "none")])
def test_conv_generator_and_critic_shapes(shape, norm):
    z, labels = jnp.ones((2, 10)), jnp.array([0, 1])
    g = dcgan.ConvGenerator(out_shape=shape, n_feature=4, normalization=norm, dropout=0.1)
    _, images = _init_apply(g, z, labels)
    assert images.shape == (2,) + shape
    assert float(jnp.abs(images).max()) <= 1.0  # tanh output, the data range
    d = dcgan.ConvCritic(n_feature=4, normalization=norm, dropout=0.1)
    _, scores = _init_apply(d, images, labels)
    assert scores.shape == (2,)


def test_300x300_rock_paper_scissors_shapes():
    # The pyramid reaches 300 through odd sizes (4-9-18-37-75-150-300) without cropping.
    assert dcgan.size_pyramid(300, 300, 4) == [(4, 4), (9, 9), (18, 18), (37, 37), (75, 75), (150, 150), (300, 300)]
    g = dcgan.ConvGenerator(out_shape=(300, 300, 3), n_feature=2, max_features=8)
    d = dcgan.ConvCritic(n_feature=2, max_features=8, downsample="maxpool", normalization="none")
    images = jax.eval_shape(lambda z: g.init_with_output(jax.random.key(0), z)[0], jnp.ones((1, 8)))
    assert images.shape == (1, 300, 300, 3)
    scores = jax.eval_shape(lambda x: d.init_with_output(jax.random.key(0), x)[0], images)
    assert scores.shape == (1,)


def test_dcgan64_matches_the_pytorch_examples_architecture():
    g = dcgan.ConvGenerator(out_shape=(64, 64, 3), n_feature=64)
    variables = jax.eval_shape(lambda: g.init(jax.random.key(0), jnp.ones((1, 100))))
    kernels = [v.shape for k, v in jax.tree_util.tree_leaves_with_path(variables["params"])
               if "kernel" in jax.tree_util.keystr(k)]
    # 100 -> 4x4x512 -> 8x8x256 -> 16x16x128 -> 32x32x64 -> 64x64x3 (kernel 4, stride 2, padding 1)
    assert sorted(kernels) == sorted([(100, 4 * 4 * 512), (4, 4, 256, 512), (4, 4, 128, 256), (4, 4, 64, 128),
                                      (4, 4, 3, 64)])
    n_params = sum(np.prod(v.shape) for v in jax.tree.leaves(variables["params"]))
    # pytorch/examples netG has 3,576,704 (ngf=64, nz=100, nc=3); ours adds the output layer's
    # 3 biases (PyTorch's last ConvTranspose2d has bias=False).
    assert n_params == 3_576_704 + 3


@pytest.mark.parametrize("conditioning", ["concat", "projection", "auxiliary"])
def test_conditional_critics(conditioning):
    images, labels = jnp.ones((3, 16, 16, 3)), jnp.array([0, 1, 2])
    d = dcgan.ConvCritic(n_feature=4, num_classes=3, conditioning=conditioning)
    variables, out = _init_apply(d, images, labels)
    if conditioning == "auxiliary":
        scores, logits = out
        assert scores.shape == (3,) and logits.shape == (3, 3)
    else:
        assert out.shape == (3,)
        # The label changes the score.
        _, other = _init_apply(d, images, jnp.array([2, 0, 1]))
        assert not np.allclose(out, other)


@pytest.mark.parametrize("embedding", [0, 8])
def test_conditional_generator_uses_the_label(embedding):
    g = dcgan.ConvGenerator(out_shape=(16, 16, 1), n_feature=4, num_classes=10, label_embedding=embedding,
                            normalization="none")
    z = jnp.ones((2, 10))
    variables = g.init(jax.random.key(0), z, jnp.array([0, 0]))
    a = g.apply(variables, z, jnp.array([0, 0]), train=False)
    b = g.apply(variables, z, jnp.array([3, 7]), train=False)
    assert not np.allclose(a, b)


@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 4)])
def test_fully_connected_image_models(shape):
    g = mlp.MLPGenerator(out_shape=shape, width=16, depth=2, output="tanh")
    _, images = _init_apply(g, jnp.ones((4, 10)))
    assert images.shape == (4,) + shape and float(jnp.abs(images).max()) <= 1.0
    _, scores = _init_apply(mlp.MLPCritic(width=16, depth=2, activation="leaky_relu"), images)
    assert scores.shape == (4,)


def test_weight_init_normal_has_the_dcgan_std():
    g = dcgan.ConvGenerator(out_shape=(32, 32, 3), n_feature=32, weight_init="normal", weight_init_std=0.02)
    params = g.init(jax.random.key(0), jnp.ones((1, 100)))["params"]
    kernel = params["ConvTranspose_0"]["kernel"]
    assert abs(float(jnp.std(kernel)) - 0.02) < 0.002
