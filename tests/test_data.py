"""Image data sources and the stream contract: determinism, resume, shards, bad data."""
from __future__ import annotations

import gzip
import itertools
from pathlib import Path

import ml_collections
import numpy as np
import pytest

from conftest import require_debian_package
from jaxgan import config as config_lib
from jaxgan import data
from jaxgan.data import DataError, idx

FASHION = Path("/usr/share/datasets/fashion-mnist")


def data_config(**overrides) -> ml_collections.ConfigDict:
    c = config_lib.base_config()
    c.data.update(overrides)
    return c.data


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> Path:
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C}
    header = bytes([0, 0, codes[array.dtype], array.ndim])
    header += np.array(array.shape, ">u4").tobytes()
    body = array.astype(array.dtype.newbyteorder(">")).tobytes()
    raw = header + body
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


def make_idx_dir(directory: Path, n: int = 50, hw=(6, 5), classes: int = 4, compress=True,
                 test: int = 10) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, *hw), dtype=np.uint8)
    y = (np.arange(n) % classes).astype(np.uint8)
    gz = ".gz" if compress else ""
    directory.mkdir(parents=True, exist_ok=True)
    write_idx(directory / f"train-images-idx3-ubyte{gz}", x, compress)
    write_idx(directory / f"train-labels-idx1-ubyte{gz}", y, compress)
    if test:
        write_idx(directory / f"t10k-images-idx3-ubyte{gz}", x[:test], compress)
        write_idx(directory / f"t10k-labels-idx1-ubyte{gz}", y[:test], compress)
    return x, y


def take(stream, n):
    return list(itertools.islice(stream, n))


# ---- synthetic -------------------------------------------------------------------------------

@pytest.mark.parametrize("channels", [1, 3, 4])
def test_synthetic_shapes_range_and_labels(channels):
    ds = data.build(data_config(source="synthetic", image_size=12, channels=channels,
                                num_classes=7, num_examples=200), seed=0)
    assert ds.kind == "images" and ds.shape == (12, 12, channels) and ds.num_classes == 7
    assert ds.num_examples == 200 and len(ds.class_names) == 7
    batch = next(ds.batches(16))
    assert batch["x"].shape == (16, 12, 12, channels) and batch["x"].dtype == np.float32
    assert batch["x"].min() >= -1 and batch["x"].max() <= 1
    assert batch["label"].dtype == np.int32 and batch["label"].max() < 7
    assert len({b.tobytes() for b in batch["x"]}) == 16  # every example differs


def test_synthetic_classes_differ_and_are_deterministic():
    cfg = data_config(source="synthetic", image_size=16, num_classes=3, num_examples=300)
    a, b = data.build(cfg, seed=0).reference(300), data.build(cfg, seed=5).reference(300)
    np.testing.assert_array_equal(a["x"], b["x"])  # content is the dataset's, not the run's seed
    means = [a["x"][a["label"] == k].mean(0) for k in range(3)]
    assert min(np.abs(means[i] - means[j]).mean() for i, j in [(0, 1), (0, 2), (1, 2)]) > 0.02
    other = data.build(data_config(source="synthetic", image_size=16, num_classes=3,
                                   num_examples=300, distribution_seed=1), seed=0).reference(300)
    assert not np.array_equal(a["x"], other["x"])


def test_synthetic_unlabelled_and_use_labels_false():
    ds = data.build(data_config(source="synthetic", num_classes=0, num_examples=20), seed=0)
    assert ds.num_classes == 0 and ds.class_names == [] and "label" not in next(ds.batches(4))
    assert ds.shape == (32, 32, 3)
    ds = data.build(data_config(source="synthetic", num_classes=5, use_labels=False,
                                num_examples=20), seed=0)
    assert ds.num_classes == 0 and "label" not in next(ds.batches(4))
    assert "label" not in ds.reference(3)


def test_synthetic_rectangular_and_test_split():
    ds = data.build(data_config(source="synthetic", image_height=8, image_width=20,
                                num_examples=60, num_classes=2), seed=0)
    assert ds.shape == (8, 20, 3)
    assert ds.reference(1000, split="test")["x"].shape == (10, 8, 20, 3)
    with pytest.raises(DataError, match="no 'validation' split"):
        ds.reference(5, split="validation")


# ---- the stream contract ---------------------------------------------------------------------

def _synthetic(n=50, flip=False, seed=0):
    return data.build(data_config(source="synthetic", image_size=4, num_classes=3, num_examples=n,
                                  flip=flip), seed=seed)


def test_each_epoch_is_a_new_permutation_without_repeats():
    ds = _synthetic(n=50)
    positions = np.arange(150)
    ids = ds.indices(positions).reshape(3, 50)
    for epoch in ids:
        assert sorted(epoch) == list(range(50))
    assert not np.array_equal(ids[0], ids[1]) and not np.array_equal(ids[1], ids[2])
    assert not np.array_equal(ids[0], _synthetic(n=50, seed=1).indices(positions[:50]))


def test_resume_continues_the_stream_exactly():
    ds = _synthetic(n=50, flip=True)
    full = take(ds.batches(7), 20)  # crosses two epoch boundaries
    resumed = take(_synthetic(n=50, flip=True).batches(7, start=12), 8)
    for a, b in zip(full[12:], resumed):
        np.testing.assert_array_equal(a["x"], b["x"])
        np.testing.assert_array_equal(a["label"], b["label"])
    # Stopping after batch 11 and resuming at 12 neither repeats nor skips an example of epoch 1.
    ids = ds.indices(np.arange(20 * 7)).reshape(20, 7)
    epoch1 = np.concatenate([ids[:12].ravel()[50:], ids[12:].ravel()[:100 - 12 * 7]])
    assert sorted(epoch1) == list(range(50))


def test_two_shards_split_each_global_batch():
    ds = _synthetic(n=50, flip=True)
    whole = take(ds.batches(8), 5)
    shards = [take(ds.batches(4, shard_index=s, num_shards=2), 5) for s in range(2)]
    for g, a, b in zip(whole, *shards):
        np.testing.assert_array_equal(g["x"], np.concatenate([a["x"], b["x"]]))
        np.testing.assert_array_equal(g["label"], np.concatenate([a["label"], b["label"]]))
    with pytest.raises(ValueError):
        next(ds.batches(4, shard_index=2, num_shards=2))


def test_flip_mirrors_some_examples_only():
    plain, flipped = _synthetic(n=50), _synthetic(n=50, flip=True)
    a, b = next(plain.batches(32))["x"], next(flipped.batches(32))["x"]
    same = [np.array_equal(x, y) for x, y in zip(a, b)]
    mirrored = [np.array_equal(x[:, ::-1], y) for x, y in zip(a, b)]
    assert all(s or m for s, m in zip(same, mirrored)) and 4 < sum(mirrored) < 28


# ---- IDX -------------------------------------------------------------------------------------

@pytest.mark.parametrize("compress", [True, False])
def test_idx_reads_gzipped_and_plain(tmp_path, compress):
    x, y = make_idx_dir(tmp_path, compress=compress)
    ds = data.build(data_config(source="idx", name="digits", path=str(tmp_path)), seed=0)
    assert ds.shape == (6, 5, 1) and ds.num_classes == 4 and ds.num_examples == 50
    ref = ds.reference(100)
    np.testing.assert_array_equal(ref["label"], y)
    np.testing.assert_allclose(ref["x"][..., 0], x / 127.5 - 1, atol=1e-6)
    assert ds.reference(100, split="test")["x"].shape == (10, 6, 5, 1)


def test_idx_resize_channels_and_no_test_split(tmp_path):
    make_idx_dir(tmp_path, test=0)
    ds = data.build(data_config(source="idx", name="digits", path=str(tmp_path), image_size=8,
                                channels=3, use_labels=False), seed=0)
    assert ds.shape == (8, 8, 3) and ds.num_classes == 0
    batch = next(ds.batches(5))
    assert "label" not in batch
    np.testing.assert_array_equal(batch["x"][..., 0], batch["x"][..., 2])  # gray copied to RGB
    with pytest.raises(DataError, match="no 'test' split"):
        ds.reference(5, split="test")


def test_idx_bad_files(tmp_path):
    make_idx_dir(tmp_path)
    images = tmp_path / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(images.read_bytes())
    images.write_bytes(gzip.compress(raw[:-7]))
    with pytest.raises(DataError, match="truncated"):
        data.build(data_config(source="idx", name="x", path=str(tmp_path)), seed=0)
    images.write_bytes(gzip.compress(raw)[:40])  # a cut gzip stream
    with pytest.raises(DataError, match="damaged or truncated"):
        data.build(data_config(source="idx", name="x", path=str(tmp_path)), seed=0)
    images.write_bytes(b"<html>not found</html>")
    with pytest.raises(DataError, match="not an IDX file"):
        data.build(data_config(source="idx", name="x", path=str(tmp_path)), seed=0)


def test_idx_missing_directory_or_name(tmp_path, monkeypatch):
    with pytest.raises(DataError, match="pass --config.data.path=DIR"):
        data.build(data_config(source="idx", name="kmnist"), seed=0)
    with pytest.raises(DataError, match="no IDX files for 'mnist'.*data.path=DIR"):
        data.build(data_config(source="idx", name="mnist", path=str(tmp_path)), seed=0)
    monkeypatch.setitem(idx.DEFAULT_DIRS, "fashion_mnist", (str(tmp_path / "absent"),))
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        data.build(data_config(source="idx", name="fashion_mnist"), seed=0)


@pytest.mark.parametrize("source", ["idx", "tfds"])
def test_fashion_mnist_by_name_from_the_debian_files(source):
    require_debian_package(FASHION / "train-images-idx3-ubyte.gz", "dataset-fashion-mnist")
    ds = data.build(data_config(source=source, name="fashion_mnist", num_examples=500), seed=0)
    assert ds.source == "idx" and ds.shape == (28, 28, 1) and ds.num_examples == 500
    assert ds.num_classes == 10 and ds.class_names[9] == "Ankle boot"
    test = ds.reference(64, split="test")
    assert test["x"].shape == (64, 28, 28, 1) and test["label"].shape == (64,)


# ---- tfds ------------------------------------------------------------------------------------

@pytest.fixture
def mock_tfds():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=12):
        yield tfds


def test_tfds_by_name_through_data_source(mock_tfds):
    ds = data.build(data_config(source="tfds", name="cifar10"), seed=0)
    assert ds.source == "tfds" and ds.shape == (32, 32, 3) and ds.num_classes == 10
    assert ds.num_examples == 12
    batch = next(ds.batches(5))
    assert batch["x"].shape == (5, 32, 32, 3) and batch["label"].shape == (5,)
    assert ds.reference(4, split="test")["x"].shape == (4, 32, 32, 3)


def test_tfds_streamed_resized_gray(mock_tfds):
    ds = data.build(data_config(source="tfds", name="rock_paper_scissors", image_size=16,
                                channels=1, load_full=False), seed=0)
    assert ds.shape == (16, 16, 1) and ds.num_classes == 3
    a = take(ds.batches(5), 4)
    b = take(data.build(data_config(source="tfds", name="rock_paper_scissors", image_size=16,
                                    channels=1), seed=0).batches(5, start=2), 2)
    np.testing.assert_array_equal(a[3]["x"], b[1]["x"])  # streamed == loaded, resumable


def test_tfds_mnist_falls_back_to_tfds_without_idx_files(mock_tfds, monkeypatch, tmp_path):
    monkeypatch.setitem(idx.DEFAULT_DIRS, "mnist", (str(tmp_path),))
    ds = data.build(data_config(source="tfds", name="mnist"), seed=0)
    assert ds.source == "tfds" and ds.shape == (28, 28, 1)


def test_tfds_not_prepared_and_no_download(tmp_path, monkeypatch):
    tfds = pytest.importorskip("tensorflow_datasets")

    def offline(self, **kw):
        raise ConnectionError("Failed to resolve 'storage.googleapis.com'")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", offline)
    monkeypatch.setattr(data.tfds, "_online", lambda: True)  # the host answers, the download fails
    with pytest.raises(DataError, match="not prepared.*ConnectionError.*tfds build rock_paper_sc"):
        data.build(data_config(source="tfds", name="rock_paper_scissors", path=str(tmp_path)), 0)


def test_tfds_unknown_name_and_keys(mock_tfds):
    with pytest.raises(DataError, match="no dataset 'fashoin_mnist'.*'fashion_mnist'"):
        data.build(data_config(source="tfds", name="fashoin_mnist"), seed=0)
    with pytest.raises(DataError, match="no feature 'img'"):
        data.build(data_config(source="tfds", name="cifar10", image_key="img"), seed=0)


# ---- config ----------------------------------------------------------------------------------

def test_config_validates_data_keys():
    c = config_lib.base_config()
    c.data.channels = 2
    c.data.fit = "squash"
    with pytest.raises(config_lib.ConfigError) as e:
        config_lib.validate(c)
    assert "data.channels = 2" in str(e.value) and "data.fit = 'squash'" in str(e.value)
    c = config_lib.base_config()
    c.data.source = "tfds"
    c.data.name = "anything_at_all"  # names are checked when the data is built
    config_lib.validate(c)


def test_unknown_source_is_a_data_error():
    with pytest.raises(DataError, match="unknown data source"):
        data.build(data_config(source="s3"), seed=0)
    assert issubclass(DataError, ValueError)


# ---- image folders ---------------------------------------------------------------------------

def _png(path: Path, array: np.ndarray, mode: str | None = None, fmt: str | None = None, **kw):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path, fmt, **kw)
    return path


def make_folder(root: Path, bad: bool = True) -> dict:
    """Two classes in every format and mode, plus broken and non-image files."""
    from PIL import Image

    rng = np.random.default_rng(0)
    rgb = lambda h=10, w=10: rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    _png(root / "cats" / "a.png", rgb())
    _png(root / "cats" / "b.jpg", rgb(), quality=95)
    _png(root / "cats" / "c.bmp", rgb())
    _png(root / "cats" / "deep" / "d.webp", rgb(), lossless=True)
    _png(root / "cats" / "gray.png", rng.integers(0, 256, (10, 10), dtype=np.uint8))  # L in RGB
    rgba = np.concatenate([rgb(), np.zeros((10, 10, 1), np.uint8)], -1)
    _png(root / "dogs" / "transparent.png", rgba)
    frames = [Image.new("RGB", (10, 10), c) for c in ((255, 0, 0), (0, 0, 255))]
    (root / "dogs").mkdir(parents=True, exist_ok=True)
    frames[0].save(root / "dogs" / "anim.gif", save_all=True, append_images=frames[1:])
    Image.new("P", (10, 10), 3).save(root / "dogs" / "palette.png")
    _png(root / "dogs" / "big.png", rgb(20, 30))  # another size
    (root / "dogs" / "notes.txt").write_text("not an image")
    (root / ".DS_Store").write_bytes(b"\0\1")
    if bad:
        (root / "dogs" / "fake.png").write_text("<html>404</html>")
        good = (root / "cats" / "a.png").read_bytes()
        (root / "dogs" / "truncated.png").write_bytes(good[: len(good) // 2])
    return {"good": 9, "bad": 2 if bad else 0}


def folder_config(root, **kw):
    kw.setdefault("max_bad_fraction", 0.5)
    return data_config(source="folder", name="mine", path=str(root), **kw)


def test_folder_reads_every_format_skips_bad_files_with_labels(tmp_path, caplog):
    counts = make_folder(tmp_path)
    with caplog.at_level("WARNING"):
        ds = data.build(folder_config(tmp_path, image_size=16, channels=3), seed=0)
    assert ds.num_examples == counts["good"] and ds.shape == (16, 16, 3)
    assert ds.num_classes == 2 and ds.class_names == ["cats", "dogs"]
    assert "Skipping 2 of 11 image files" in caplog.text and "fake.png" in caplog.text
    ref = ds.reference(100)
    assert sorted(np.bincount(ref["label"])) == [4, 5]
    batch = next(ds.batches(4))
    assert batch["x"].shape == (4, 16, 16, 3) and batch["label"].shape == (4,)


def test_folder_conversions(tmp_path):
    make_folder(tmp_path, bad=False)
    ds = data.build(folder_config(tmp_path, image_size=10, folder_labels="none", channels=3,
                                  background="white"), seed=0)
    assert ds.num_classes == 0
    x = ds.reference(100)["x"]
    files = sorted(p.name for p in tmp_path.rglob("*") if p.suffix != ".txt" and p.is_file()
                   and not p.name.startswith("."))
    order = {name: k for k, name in enumerate(["a.png", "b.jpg", "c.bmp", "gray.png", "d.webp",
                                              "anim.gif", "big.png", "palette.png", "transparent.png"])}
    assert set(order) == set(files)
    np.testing.assert_array_equal(x[order["anim.gif"]][0, 0], [1, -1, -1])  # first frame, red
    np.testing.assert_array_equal(x[order["transparent.png"]], 1.0)  # composited on white
    gray = x[order["gray.png"]]
    np.testing.assert_array_equal(gray[..., 0], gray[..., 1])
    rgba = data.build(folder_config(tmp_path, image_size=10, channels=4), seed=0).reference(100)["x"]
    assert rgba.shape[-1] == 4 and (rgba[order["transparent.png"], ..., 3] == -1).all()
    assert (rgba[order["a.png"], ..., 3] == 1).all()
    black = data.build(folder_config(tmp_path, image_size=10, channels=1, background="black"),
                       seed=0).reference(100)["x"]
    assert black.shape[-1] == 1 and (black[order["transparent.png"]] == -1).all()


def test_folder_native_size_is_the_most_common_and_mixed_sizes_warn(tmp_path, caplog):
    make_folder(tmp_path, bad=False)
    with caplog.at_level("WARNING"):
        ds = data.build(folder_config(tmp_path), seed=0)
    assert ds.shape == (10, 10, 3)
    assert "2 different sizes" in caplog.text and "data.image_size" in caplog.text


@pytest.mark.parametrize("fit", ["stretch", "crop", "pad"])
def test_folder_fit_policies(tmp_path, fit):
    wide = np.zeros((10, 20, 3), np.uint8)
    wide[:, :5] = 255  # a white band on the left quarter
    _png(tmp_path / "wide.png", wide)
    x = data.build(folder_config(tmp_path, image_size=10, fit=fit, resize_filter="nearest",
                                 background="black"), seed=0).reference(1)["x"][0, ..., 0]
    if fit == "stretch":
        assert (x[:, :2] == 1).all() and (x[:, 3:] == -1).all()
    elif fit == "crop":  # the centre 10x10 has no white
        assert (x == -1).all()
    else:  # letterboxed: black bars above and below, the band in the middle rows
        assert (x[0] == -1).all() and (x[5, :2] == 1).all()


def test_folder_streamed_equals_loaded_and_replaces_files_that_break_late(tmp_path, caplog):
    make_folder(tmp_path, bad=False)
    cfg = dict(image_size=8, channels=3)
    loaded = take(data.build(folder_config(tmp_path, **cfg), seed=3).batches(4, start=1), 3)
    streamed = take(data.build(folder_config(tmp_path, load_full=False, **cfg), seed=3)
                    .batches(4, start=1), 3)
    for a, b in zip(loaded, streamed):
        np.testing.assert_array_equal(a["x"], b["x"])
        np.testing.assert_array_equal(a["label"], b["label"])
    ds = data.build(folder_config(tmp_path, load_full=False, **cfg), seed=3)
    good = (tmp_path / "cats" / "a.png").read_bytes()
    (tmp_path / "cats" / "a.png").write_bytes(good[: len(good) - 30])  # header intact, body cut
    with caplog.at_level("WARNING"):
        batches = take(ds.batches(9), 2)  # one whole epoch and more
    assert "Skipping unreadable image" in caplog.text and "a.png" in caplog.text
    assert all(np.isfinite(b["x"]).all() for b in batches)


def test_folder_bad_data_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="is empty"):
        data.build(folder_config(empty), seed=0)
    (empty / "readme.txt").write_text("hi")
    (empty / "data.csv").write_text("1,2")
    with pytest.raises(DataError, match=r"holds no image files, only 1 .csv, 1 .txt files"):
        data.build(folder_config(empty), seed=0)
    (empty / "x.png").write_text("not a png")
    (empty / "y.jpg").write_bytes(b"\xff\xd8\xff")
    with pytest.raises(DataError, match="none of the 2 image files.*x.png"):
        data.build(folder_config(empty), seed=0)
    many_bad = tmp_path / "many_bad"
    make_folder(many_bad)  # 2 bad of 11
    with pytest.raises(DataError, match="2 of 11 image files.*max_bad_fraction = 0.1"):
        data.build(folder_config(many_bad, max_bad_fraction=0.1, image_size=8), seed=0)
    # Streamed, only headers are read up front: the truncated file is found when it is read.
    streamed = data.build(folder_config(many_bad, max_bad_fraction=0.1, image_size=8,
                                        load_full=False), seed=0)
    with pytest.raises(DataError, match="2 of 11 image files.*truncated.png"):
        take(streamed.batches(10), 2)
    with pytest.raises(DataError, match="is missing"):
        data.build(folder_config(tmp_path / "nowhere"), seed=0)
    with pytest.raises(DataError, match="kvpratama/pokemon-images-dataset"):
        data.build(data_config(source="folder", name="pokemon"), seed=0)
    with pytest.raises(DataError, match="--config.data.path=DIR"):
        data.build(data_config(source="folder", name="initials"), seed=0)


def test_folder_splits_and_label_modes(tmp_path):
    for split, n in (("train", 4), ("test", 2)):
        for cls in ("x", "y"):
            for k in range(n):
                _png(tmp_path / split / cls / f"{k}.png", np.full((6, 6), 40 * k, np.uint8))
    ds = data.build(folder_config(tmp_path), seed=0)
    assert ds.num_examples == 8 and ds.num_classes == 2 and ds.shape == (6, 6, 1)
    test = ds.reference(100, split="test")
    assert test["x"].shape == (4, 6, 6, 1) and list(test["label"]) == [0, 0, 1, 1]
    with pytest.raises(DataError, match="no 'validation' split"):
        ds.reference(1, split="validation")
    loose = tmp_path / "loose"
    _png(loose / "a.png", np.zeros((4, 4), np.uint8))
    _png(loose / "sub" / "b.png", np.zeros((4, 4), np.uint8))
    assert data.build(folder_config(loose), seed=0).num_classes == 0  # auto: not all in subfolders
    with pytest.raises(DataError, match="lie directly in"):
        data.build(folder_config(loose, folder_labels="subfolders"), seed=0)


# ---- emoji flags -----------------------------------------------------------------------------

def test_flags_rendered_once_then_cached(tmp_path, monkeypatch):
    require_debian_package(data.flags.FONT_PATHS[0], "fonts-noto-color-emoji")
    cfg = data_config(source="flags", name="emoji_flags", image_size=32, cache_dir=str(tmp_path))
    ds = data.build(cfg, seed=0)
    assert ds.shape == (32, 32, 4) and 240 <= ds.num_examples <= 270 and ds.num_classes == 0
    assert {"US", "FR", "JP", "gb-sct"} <= set(ds.codes) and "UM" not in ds.codes  # UM == US
    x = ds.reference(1000)["x"]
    assert (x[..., 3] == -1).any() and (x[..., 3] == 1).any()  # transparent around each flag
    assert len({im.tobytes() for im in x}) == ds.num_examples
    monkeypatch.setattr(data.flags, "render_all", lambda *a: pytest.fail("not cached"))
    again = data.build(cfg, seed=0).reference(1000)["x"]
    np.testing.assert_array_equal(x, again)
    rgb = data.build(data_config(source="flags", image_size=32, channels=3,
                                 cache_dir=str(tmp_path)), seed=0)
    assert rgb.shape == (32, 32, 3) and rgb.reference(1)["x"][0, 0, 0].tolist() == [1, 1, 1]


def test_flags_without_the_font(tmp_path):
    with pytest.raises(DataError, match="apt-get install fonts-noto-color-emoji"):
        data.build(data_config(source="flags", path=str(tmp_path / "none.ttf")), seed=0)
    (tmp_path / "bad.ttf").write_text("not a font")
    with pytest.raises(DataError, match="cannot load the emoji font"):
        data.build(data_config(source="flags", path=str(tmp_path / "bad.ttf"),
                               cache_dir=str(tmp_path)), seed=0)


def test_each_of_two_processes_decodes_only_its_shard(tmp_path, monkeypatch):
    """Two simulated processes (separate datasets, as on two hosts) of a streamed folder: their
    shards make up the single-process global batch and each decodes only its own images."""
    for k in range(12):
        _png(tmp_path / f"{k:02d}.png", np.full((4, 4), 20 * k, np.uint8))
    cfg = folder_config(tmp_path, load_full=False, flip=True)
    decoded = []
    original = data.folder._Decoder.__call__
    monkeypatch.setattr(data.folder._Decoder, "__call__",
                        lambda self, path: decoded.append(path.name) or original(self, path))
    whole = take(data.build(cfg, seed=7).batches(6, start=3), 2)
    decoded.clear()
    processes = [data.build(cfg, seed=7) for _ in range(2)]
    decoded.clear()
    shards = [take(p.batches(3, start=3, shard_index=s, num_shards=2), 2)
              for s, p in enumerate(processes)]
    assert len(decoded) == 2 * 2 * 3  # 2 processes x 2 batches x 3 images, nothing more
    for g, a, b in zip(whole, *shards):
        np.testing.assert_array_equal(g["x"], np.concatenate([a["x"], b["x"]]))
