"""The Flax FID Inception against a PyTorch reference of pytorch-fid's network, same random weights.

The real `pt_inception-2015-12-05` weights cannot be fetched here, so the port is proven with
random weights: converted from the reference's state dict (the same keys as the weights file),
same images at sizes below and above 299, pool features and logits equal within 1e-4 relative.
Needs torch; without it the parity tests skip with the reason shown by `pytest -ra`, and fail
instead where JAXGAN_REQUIRE_TORCH=1 (CI sets it, so they never skip there).
"""
import importlib.util
import os

import jax
import numpy as np
import pytest

from jaxgan.metrics import inception

_HAVE_TORCH = importlib.util.find_spec("torch") is not None
if not _HAVE_TORCH and os.environ.get("JAXGAN_REQUIRE_TORCH") == "1":
    raise RuntimeError("JAXGAN_REQUIRE_TORCH=1 but torch is not installed: pip install torch==2.13.0 "
                       "(a CPU wheel; elsewhere use --index-url https://download.pytorch.org/whl/cpu)")
needs_torch = pytest.mark.skipif(not _HAVE_TORCH, reason="torch is not installed (pip install "
                                 "torch==2.13.0); set JAXGAN_REQUIRE_TORCH=1 to make this an error")


@pytest.fixture(scope="module")
def reference():
    import torch

    from jaxgan.metrics import inception_torch

    torch.manual_seed(0)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    model = inception_torch.randomize(inception_torch.FIDInceptionV3(), seed=0)
    return model, inception.convert_state_dict(model.state_dict())


def _relative(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@needs_torch
def test_converted_weights_fill_every_variable_of_the_flax_network(reference):
    _, variables = reference
    expected = jax.eval_shape(inception.FIDInceptionV3().init, jax.random.key(0),
                              np.zeros((1, 299, 299, 3), np.float32))
    shapes = lambda t: jax.tree.map(lambda x: tuple(x.shape), t)
    assert shapes(expected) == shapes(variables)


@needs_torch
def test_resize_is_pytorch_bilinear():
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(0)
    for h, w in ((28, 28), (37, 301), (320, 400)):
        x = rng.random((2, h, w, 3), dtype=np.float32)
        ours = np.asarray(inception.resize_bilinear(x))
        theirs = F.interpolate(torch.from_numpy(x).permute(0, 3, 1, 2), size=(299, 299),
                               mode="bilinear", align_corners=False).permute(0, 2, 3, 1).numpy()
        np.testing.assert_allclose(ours, theirs, atol=2e-6)


@needs_torch
def test_pool_features_and_logits_match_the_pytorch_reference(reference):
    import torch

    model, variables = reference
    extract = inception.make_extractor(variables)
    rng = np.random.default_rng(1)
    worst = {}
    for shape in ((2, 37, 53, 3), (2, 320, 400, 3)):  # below and above 299, not square
        x = rng.random(shape, dtype=np.float32)
        pool, logits = (np.asarray(a) for a in extract(x))
        with torch.no_grad():
            ref_pool, ref_logits = (t.numpy() for t in model(torch.from_numpy(x).permute(0, 3, 1, 2)))
        assert pool.shape == (2, 2048) and logits.shape == (2, 1008)
        assert np.std(ref_pool) > 0.1  # the random network passes a real signal through
        worst[shape] = (_relative(pool, ref_pool), _relative(logits, ref_logits))
        np.testing.assert_allclose(pool, ref_pool, rtol=1e-4, atol=1e-4 * np.abs(ref_pool).max())
        np.testing.assert_allclose(logits, ref_logits, rtol=1e-4, atol=1e-4 * np.abs(ref_logits).max())
    print("max relative error (pool, logits):", worst)
    assert max(max(v) for v in worst.values()) < 1e-4


def test_missing_weights_say_where_to_put_them(tmp_path):
    with pytest.raises(inception.WeightsMissing) as err:
        inception.load_params(directory=str(tmp_path), download=False)
    text = str(err.value)
    assert inception.WEIGHTS_URL in text and str(tmp_path / inception.WEIGHTS_FILE) in text
    assert inception.WEIGHTS_SHA256_PREFIX in text


@needs_torch
def test_weights_file_checksum_and_conversion_cache(tmp_path, reference):
    import torch

    model, variables = reference
    pth = tmp_path / inception.WEIGHTS_FILE
    torch.save(model.state_dict(), pth)  # random weights: not the real file's checksum
    with pytest.raises(inception.WeightsMissing, match="sha256"):
        inception.load_params(directory=str(tmp_path), download=False)
    # A converted cache file is what later runs read, without torch.
    inception.save_variables(variables, tmp_path / inception.CONVERTED_FILE)
    loaded = inception.load_params(directory=str(tmp_path), download=False)
    for a, b in zip(jax.tree.leaves(loaded), jax.tree.leaves(variables)):
        np.testing.assert_array_equal(a, b)
