"""The FID Inception network (pytorch-fid's `pt_inception-2015-12-05`) in Flax.

The architecture is TensorFlow's 2015 Inception v3 as pytorch-fid ports it: torchvision's
Inception3 with 1008 classes, average pools that do not count padding (Mixed_5*, 6b-e, 7b) and
a max pool in the last block (Mixed_7c). Module names follow torchvision's, so the weights
file's state-dict keys map one to one (`convert_state_dict`).

Input protocol, as pytorch-fid: images in [0, 1], resized to 299 x 299 with PyTorch's bilinear
interpolation (`F.interpolate(..., mode='bilinear', align_corners=False)`: no antialiasing when
downsampling), then scaled to [-1, 1]. `resize_bilinear` reproduces that interpolation exactly;
`jax.image.resize` would antialias when downsampling and give different numbers.

Weights: `load_params()` looks for the converted arrays (`.npz`) in the cache directory, else
converts `pt_inception-2015-12-05-6726825d.pth` (with torch) from there or from a given path,
else downloads it when a network is reachable (sha256 checked), else fails saying where to put it.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import npz_tree

WEIGHTS_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
               "pt_inception-2015-12-05-6726825d.pth")
WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
# torch.hub's convention: the file name carries the first hex digits of the file's sha256.
WEIGHTS_SHA256_PREFIX = "6726825d"
CONVERTED_FILE = "pt_inception-2015-12-05.npz"
DEFAULT_DIR = "~/.cache/jaxgan/inception"
SIZE = 299
NAME = "inception_v3"  # metric suffix: fid/inception_v3, ...
DESCRIPTION = f"pytorch-fid InceptionV3 ({WEIGHTS_FILE}), pool3 2048-d, bilinear resize to 299x299"


class WeightsMissing(FileNotFoundError):
    """The Inception weights are not available; the message says where to put them."""


# ---- network ---------------------------------------------------------------------------------

def _pad(p):
    ph, pw = (p, p) if isinstance(p, int) else p
    return ((ph, ph), (pw, pw))


class BasicConv2d(nn.Module):
    """Conv (no bias) -> batch norm (inference, eps 1e-3) -> ReLU, as torchvision's."""
    features: int
    kernel: tuple[int, int] | int
    stride: int = 1
    padding: tuple[int, int] | int = 0

    @nn.compact
    def __call__(self, x):
        k = (self.kernel, self.kernel) if isinstance(self.kernel, int) else self.kernel
        x = nn.Conv(self.features, k, strides=self.stride, padding=_pad(self.padding),
                    use_bias=False, name="conv")(x)
        x = nn.BatchNorm(use_running_average=True, epsilon=1e-3, name="bn")(x)
        return nn.relu(x)


def _avg_pool(x):  # TensorFlow's: padded zeros are not counted
    return nn.avg_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)), count_include_pad=False)


def _max_pool(x, stride=2, padding=0):
    return nn.max_pool(x, (3, 3), strides=(stride, stride), padding=_pad(padding))


class InceptionA(nn.Module):
    pool_features: int

    @nn.compact
    def __call__(self, x):
        b1 = BasicConv2d(64, 1, name="branch1x1")(x)
        b5 = BasicConv2d(48, 1, name="branch5x5_1")(x)
        b5 = BasicConv2d(64, 5, padding=2, name="branch5x5_2")(b5)
        b3 = BasicConv2d(64, 1, name="branch3x3dbl_1")(x)
        b3 = BasicConv2d(96, 3, padding=1, name="branch3x3dbl_2")(b3)
        b3 = BasicConv2d(96, 3, padding=1, name="branch3x3dbl_3")(b3)
        bp = BasicConv2d(self.pool_features, 1, name="branch_pool")(_avg_pool(x))
        return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):  # Mixed_6a
    @nn.compact
    def __call__(self, x):
        b3 = BasicConv2d(384, 3, stride=2, name="branch3x3")(x)
        bd = BasicConv2d(64, 1, name="branch3x3dbl_1")(x)
        bd = BasicConv2d(96, 3, padding=1, name="branch3x3dbl_2")(bd)
        bd = BasicConv2d(96, 3, stride=2, name="branch3x3dbl_3")(bd)
        return jnp.concatenate([b3, bd, _max_pool(x)], axis=-1)


class InceptionC(nn.Module):
    channels_7x7: int

    @nn.compact
    def __call__(self, x):
        c7 = self.channels_7x7
        b1 = BasicConv2d(192, 1, name="branch1x1")(x)
        b7 = BasicConv2d(c7, 1, name="branch7x7_1")(x)
        b7 = BasicConv2d(c7, (1, 7), padding=(0, 3), name="branch7x7_2")(b7)
        b7 = BasicConv2d(192, (7, 1), padding=(3, 0), name="branch7x7_3")(b7)
        bd = BasicConv2d(c7, 1, name="branch7x7dbl_1")(x)
        bd = BasicConv2d(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_2")(bd)
        bd = BasicConv2d(c7, (1, 7), padding=(0, 3), name="branch7x7dbl_3")(bd)
        bd = BasicConv2d(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_4")(bd)
        bd = BasicConv2d(192, (1, 7), padding=(0, 3), name="branch7x7dbl_5")(bd)
        bp = BasicConv2d(192, 1, name="branch_pool")(_avg_pool(x))
        return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):  # Mixed_7a
    @nn.compact
    def __call__(self, x):
        b3 = BasicConv2d(192, 1, name="branch3x3_1")(x)
        b3 = BasicConv2d(320, 3, stride=2, name="branch3x3_2")(b3)
        b7 = BasicConv2d(192, 1, name="branch7x7x3_1")(x)
        b7 = BasicConv2d(192, (1, 7), padding=(0, 3), name="branch7x7x3_2")(b7)
        b7 = BasicConv2d(192, (7, 1), padding=(3, 0), name="branch7x7x3_3")(b7)
        b7 = BasicConv2d(192, 3, stride=2, name="branch7x7x3_4")(b7)
        return jnp.concatenate([b3, b7, _max_pool(x)], axis=-1)


class InceptionE(nn.Module):
    max_pool: bool = False  # pytorch-fid's Mixed_7c pools with max where the paper averages

    @nn.compact
    def __call__(self, x):
        b1 = BasicConv2d(320, 1, name="branch1x1")(x)
        b3 = BasicConv2d(384, 1, name="branch3x3_1")(x)
        b3 = jnp.concatenate([BasicConv2d(384, (1, 3), padding=(0, 1), name="branch3x3_2a")(b3),
                              BasicConv2d(384, (3, 1), padding=(1, 0), name="branch3x3_2b")(b3)], -1)
        bd = BasicConv2d(448, 1, name="branch3x3dbl_1")(x)
        bd = BasicConv2d(384, 3, padding=1, name="branch3x3dbl_2")(bd)
        bd = jnp.concatenate([BasicConv2d(384, (1, 3), padding=(0, 1), name="branch3x3dbl_3a")(bd),
                              BasicConv2d(384, (3, 1), padding=(1, 0), name="branch3x3dbl_3b")(bd)], -1)
        pooled = _max_pool(x, stride=1, padding=1) if self.max_pool else _avg_pool(x)
        bp = BasicConv2d(192, 1, name="branch_pool")(pooled)
        return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class FIDInceptionV3(nn.Module):
    """(B, 299, 299, 3) in [-1, 1] -> (pool3 features (B, 2048), logits (B, 1008))."""
    num_classes: int = 1008

    @nn.compact
    def __call__(self, x):
        x = BasicConv2d(32, 3, stride=2, name="Conv2d_1a_3x3")(x)
        x = BasicConv2d(32, 3, name="Conv2d_2a_3x3")(x)
        x = BasicConv2d(64, 3, padding=1, name="Conv2d_2b_3x3")(x)
        x = _max_pool(x)
        x = BasicConv2d(80, 1, name="Conv2d_3b_1x1")(x)
        x = BasicConv2d(192, 3, name="Conv2d_4a_3x3")(x)
        x = _max_pool(x)
        x = InceptionA(32, name="Mixed_5b")(x)
        x = InceptionA(64, name="Mixed_5c")(x)
        x = InceptionA(64, name="Mixed_5d")(x)
        x = InceptionB(name="Mixed_6a")(x)
        for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
            x = InceptionC(c7, name=name)(x)
        x = InceptionD(name="Mixed_7a")(x)
        x = InceptionE(name="Mixed_7b")(x)
        x = InceptionE(max_pool=True, name="Mixed_7c")(x)
        pool = jnp.mean(x, axis=(1, 2))
        return pool, nn.Dense(self.num_classes, name="fc")(pool)


# ---- input protocol --------------------------------------------------------------------------

def _bilinear_matrix(in_size: int, out_size: int) -> np.ndarray:
    """(out, in) weights of PyTorch's bilinear interpolation with align_corners=False."""
    # The scale and source positions in float32 as PyTorch computes them, with one rounding of
    # scale * (i + 0.5) - 0.5 (a fused multiply-add): two roundings move some positions by an ulp.
    scale = np.float64(np.float32(in_size / out_size))
    src = ((np.arange(out_size) + 0.5) * scale - 0.5).astype(np.float32)
    src = np.maximum(src, np.float32(0.0))
    i0 = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    i1 = np.minimum(i0 + 1, in_size - 1)
    lam = (src - i0).astype(np.float32)
    m = np.zeros((out_size, in_size), np.float32)
    np.add.at(m, (np.arange(out_size), i0), np.float32(1.0) - lam)
    np.add.at(m, (np.arange(out_size), i1), lam)
    return m


def resize_bilinear(images: jax.Array, size: int = SIZE) -> jax.Array:
    """(B, H, W, C) -> (B, size, size, C), as `F.interpolate(mode='bilinear', align_corners=False)`."""
    h, w = images.shape[1:3]
    if (h, w) == (size, size):
        return images
    mh, mw = jnp.asarray(_bilinear_matrix(h, size)), jnp.asarray(_bilinear_matrix(w, size))
    hp = jax.lax.Precision.HIGHEST
    x = jnp.einsum("oh,bhwc->bowc", mh, images, precision=hp)
    return jnp.einsum("pw,bowc->bopc", mw, x, precision=hp)


def preprocess(images: jax.Array) -> jax.Array:
    """Images in [0, 1] (B, H, W, 1 or 3) -> the network's input: 3 channels, 299 x 299, [-1, 1]."""
    if images.shape[-1] == 1:
        images = jnp.repeat(images, 3, axis=-1)  # gray as RGB, as pytorch-fid's PIL convert('RGB')
    if images.shape[-1] != 3:
        raise ValueError(f"Inception features need 1 or 3 channels, got shape {images.shape}")
    return resize_bilinear(images.astype(jnp.float32)) * 2.0 - 1.0


# ---- weights ---------------------------------------------------------------------------------

def convert_state_dict(state_dict) -> dict:
    """pytorch-fid's state dict (name -> tensor or array) -> Flax variables {'params', 'batch_stats'}."""
    params: dict = {}
    stats: dict = {}

    def put(tree, path, value):
        for p in path[:-1]:
            tree = tree.setdefault(p, {})
        tree[path[-1]] = value

    for key, value in state_dict.items():
        a = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value, np.float32)
        *path, leaf = key.split(".")
        if leaf == "num_batches_tracked":
            continue
        if path[-1] == "conv" and leaf == "weight":  # (out, in, kh, kw) -> (kh, kw, in, out)
            put(params, path + ["kernel"], a.transpose(2, 3, 1, 0))
        elif path[-1] == "bn":
            if leaf in ("running_mean", "running_var"):
                put(stats, path + ["mean" if leaf == "running_mean" else "var"], a)
            else:
                put(params, path + ["scale" if leaf == "weight" else "bias"], a)
        elif path == ["fc"]:
            put(params, ["fc", "kernel" if leaf == "weight" else "bias"], a.T if leaf == "weight" else a)
        else:
            raise ValueError(f"unexpected key {key!r} in the Inception state dict")
    return {"params": params, "batch_stats": stats}


def save_variables(variables: dict, path: Path) -> None:
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, **npz_tree.flatten(variables))
    os.replace(tmp, path)


def load_variables(path: Path) -> dict:
    with np.load(path) as f:
        return npz_tree.unflatten({k: f[k] for k in f.files})


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _missing_message(directory: Path, reason: str) -> str:
    return (f"the FID Inception weights are not available ({reason}). Download {WEIGHTS_URL} "
            f"(sha256 starts with {WEIGHTS_SHA256_PREFIX}) and put it at {directory / WEIGHTS_FILE}, "
            "or pass its path as --config.eval.inception_weights=PATH; converting it needs torch "
            "(`pip install torch`) once. Or use the domain classifier: --config.eval.features=classifier")


def _convert_pth(pth: Path, out: Path) -> dict:
    try:
        import torch
    except ImportError:
        raise WeightsMissing(f"{pth} is a PyTorch file; converting it needs torch once "
                             "(`pip install torch`); the converted arrays are then cached at "
                             f"{out}") from None
    digest = _sha256(pth)
    if not digest.startswith(WEIGHTS_SHA256_PREFIX):
        raise WeightsMissing(f"{pth} has sha256 {digest}, expected it to start with "
                             f"{WEIGHTS_SHA256_PREFIX} ({WEIGHTS_FILE} from {WEIGHTS_URL})")
    variables = convert_state_dict(torch.load(pth, map_location="cpu", weights_only=True))
    out.parent.mkdir(parents=True, exist_ok=True)
    save_variables(variables, out)
    return variables


def _download(pth: Path) -> None:
    """Fetch the weights file to `pth` (its checksum is checked on conversion)."""
    tmp = None
    try:
        pth.parent.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(WEIGHTS_URL, timeout=30) as r, \
                tempfile.NamedTemporaryFile(dir=pth.parent, delete=False) as f:
            tmp = f.name
            shutil.copyfileobj(r, f)
        os.replace(tmp, pth)
    except OSError as e:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        raise WeightsMissing(_missing_message(pth.parent, f"download failed: {e}")) from None


def load_params(weights: str = "", directory: str = DEFAULT_DIR, download: bool = True) -> dict:
    """The FID Inception variables: a converted `.npz` or a `.pth` at `weights`, else the cache
    in `directory` (converted `.npz`, or the `.pth` converted once), else a download."""
    directory = Path(directory).expanduser()
    converted = directory / CONVERTED_FILE
    if weights:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise WeightsMissing(_missing_message(directory, f"{path} does not exist"))
        return load_variables(path) if path.suffix == ".npz" else _convert_pth(path, converted)
    if converted.is_file():
        return load_variables(converted)
    pth = directory / WEIGHTS_FILE
    if not pth.is_file() and download:
        _download(pth)
    if not pth.is_file():
        raise WeightsMissing(_missing_message(directory, f"{pth} does not exist"))
    return _convert_pth(pth, converted)


def available(weights: str = "", directory: str = DEFAULT_DIR) -> bool:
    """Whether the weights are at hand without a download."""
    if weights:
        return Path(weights).expanduser().is_file()
    d = Path(directory).expanduser()
    return (d / CONVERTED_FILE).is_file() or (d / WEIGHTS_FILE).is_file()


def make_extractor(variables: dict):
    """A jitted `images in [0, 1] (B, H, W, 1|3) -> (pool features (B, 2048), logits (B, 1008))`.

    The resize is jitted separately so the network compiles once for any input size."""
    net = FIDInceptionV3()
    variables = jax.tree.map(jnp.asarray, variables)
    prep = jax.jit(preprocess)
    apply = jax.jit(lambda v, x: net.apply(v, x))

    def extract(images):
        return apply(variables, prep(images))

    return extract
