"""Every image recipe: its config is valid on every dataset, and its `tiny` variant trains end to
end (sample grids, GIF, loss curves, checkpoints, sampling to .npz and PNG)."""
import itertools

import jax
import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, run_launch
from jaxgan import models, recipes, train
from jaxgan.config import load_config_file, validate

DATASETS = sorted(recipes.DATASETS)
RECIPES = {
    "dcgan.py": [""],
    "wgan_gp.py": [""],
    "wgan.py": ["", ",fc"],
    "fc_gan.py": ["", ",smoothing"],
    "acgan.py": [""],
}
ALL_ARGS = [(f, d + o) for f, opts in RECIPES.items() for d, o in itertools.product(DATASETS, opts)
            if not (f == "acgan.py" and recipes.CLASSES[d] == 0)]
ALL_ARGS += [("wgan_gp.py", "initials_v2")]


def _load(spec):
    c = load_config_file(str(ROOT / "configs" / spec))
    c.train.parallel = "single"
    return c


@pytest.mark.parametrize("recipe,arg", ALL_ARGS)
def test_recipe_is_valid_and_its_networks_build(recipe, arg):
    c = validate(_load(f"{recipe}:{arg}"))
    dataset = arg.split(",")[0].replace("initials_v2", "initials")
    size, channels = recipes.SHAPES[dataset]
    shape = (size, size, channels)
    num_classes = recipes.CLASSES[dataset] if c.data.use_labels else 0
    g, d = models.build(c.model, shape, num_classes)
    z = jax.ShapeDtypeStruct((2, c.model.z_dim), np.float32)
    labels = jax.ShapeDtypeStruct((2,), np.int32)
    images = jax.eval_shape(lambda z, y: g.init_with_output(jax.random.key(0), z, y)[0], z, labels)
    assert images.shape == (2,) + shape
    jax.eval_shape(lambda x, y: d.init_with_output(jax.random.key(0), x, y)[0], images, labels)


def test_unknown_dataset_in_a_recipe_argument_is_named():
    with pytest.raises(ValueError, match="unknown dataset 'cifar' .*fashion_mnist"):
        _load("dcgan.py:cifar")


TINY = ["dcgan.py:fashion_mnist,tiny", "dcgan.py:rps,tiny", "dcgan.py:flags32,tiny",
        "wgan_gp.py:initials_v2,tiny", "wgan.py:mnist,fc,tiny", "fc_gan.py:flags64,smoothing,tiny",
        "acgan.py:fashion_mnist,tiny"]


@pytest.mark.parametrize("spec", TINY)
def test_tiny_recipe_trains_end_to_end(spec, tmp_path):
    c = _load(spec)
    train.train(c, tmp_path)
    frames = sorted((tmp_path / "samples").glob("step_*.png"))
    assert [f.name for f in frames] == ["step_000000002.png", "step_000000004.png"]
    assert (tmp_path / "samples" / "real.png").exists()
    assert (tmp_path / "training.gif").exists() and (tmp_path / "losses.png").exists()
    assert (tmp_path / "checkpoints" / "4").is_dir()
    if c.data.use_labels:  # one row per class in the grid
        rows = c.data.num_classes
        height = Image.open(frames[-1]).height
        cell = recipes.SHAPES[spec.split(":")[1].split(",")[0]][0] + 2
        assert height % (rows * cell + 2) == 0


def test_sampling_an_image_run_to_npz_and_to_png(tmp_path):
    workdir = tmp_path / "run"
    args = ["--config=configs/acgan.py:fashion_mnist,tiny", f"--workdir={workdir}", "--config.train.steps=2"]
    assert run_launch(*args).returncode == 0
    out = run_launch("--mode=sample", f"--workdir={workdir}", "--num_samples=7", f"--output={tmp_path / 's.npz'}")
    assert out.returncode == 0, out.stderr
    with np.load(tmp_path / "s.npz") as f:
        assert f["images"].shape == (7, 28, 28, 1) and f["images"].dtype == np.uint8
        np.testing.assert_array_equal(f["labels"], np.arange(7) % 10)
    out = run_launch("--mode=sample", f"--workdir={workdir}", "--num_samples=3", f"--output={tmp_path / 'pngs'}")
    assert out.returncode == 0, out.stderr
    names = sorted(p.name for p in (tmp_path / "pngs").iterdir())
    assert len(names) == 3 and all(n.endswith(".png") for n in names)
    assert Image.open(tmp_path / "pngs" / names[0]).size == (28, 28)
    # An existing non-empty folder is never written into.
    again = run_launch("--mode=sample", f"--workdir={workdir}", "--num_samples=3", f"--output={tmp_path / 'pngs'}")
    assert again.returncode != 0 and "already exists" in again.stderr
    assert sorted(p.name for p in (tmp_path / "pngs").iterdir()) == names


def test_acgan_on_unlabelled_data_says_what_to_do(tmp_path):
    out = run_launch("--config=configs/acgan.py:fashion_mnist,tiny", f"--workdir={tmp_path}",
                     "--config.data.num_classes=0")
    assert out.returncode != 0
    assert "labelled dataset" in out.stderr and "Traceback" not in out.stderr
