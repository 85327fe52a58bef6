"""The letters source (jaxgan/data/letters.py): rendering, labels, the split by font family, fonts
that lack glyphs, the cache; the letters recipes end to end, measured by a letters classifier.

Most tests draw on fonts made here with fontTools (a dependency of matplotlib), whose every
glyph is known; the rendering test uses fonts-dejavu-core, which a fresh Debian has."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from fontTools.fontBuilder import FontBuilder
from fontTools.pens.ttGlyphPen import TTGlyphPen
from PIL import ImageFont

from conftest import ROOT, require_debian_package
from jaxgan import classifier, config as config_lib, data, train
from jaxgan.config import load_config_file
from jaxgan.data import DataError, letters

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
DEJAVU_CORE = ("DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf")
# Families made below, and the split their names' hashes give (pinned: a change of the hash
# would move fonts between the splits of every existing dataset).
FAMILIES = {"Bars 0": False, "Bars 1": False, "Bars 2": True, "Bars 3": False, "Bars 4": False}


def data_config(**overrides):
    c = config_lib.base_config()
    c.data.update({"source": "letters", "name": "letters", "image_size": 16, **overrides})
    return c.data


def _bars(k: int, style: int = 0) -> list:
    """A glyph unique to (k, style): vertical bars at the set bits of k + 1, over a base bar."""
    rects = [(0, 0, 500, 100 + 40 * style)]
    rects += [(100 * b, 100, 100 * b + 80, 700) for b in range(5) if (k + 1) >> b & 1]
    return rects


def make_font(path: Path, family: str, glyphs: dict, style: int = 0) -> Path:
    """A TrueType font mapping each character of `glyphs` to its rectangles (an empty list draws
    nothing), with a hollow box as .notdef."""
    notdef = [(0, 0, 500, 60), (0, 640, 500, 700), (0, 60, 60, 640), (440, 60, 500, 640)]
    names = {ch: f"uni{ord(ch):04X}" for ch in glyphs}
    fb = FontBuilder(1000, isTTF=True)
    fb.setupGlyphOrder([".notdef", *names.values()])
    fb.setupCharacterMap({ord(ch): name for ch, name in names.items()})
    outlines = {}
    for name, rects in [(".notdef", notdef)] + [(names[ch], r) for ch, r in glyphs.items()]:
        pen = TTGlyphPen(None)
        for x0, y0, x1, y1 in rects:
            pen.moveTo((x0, y0)), pen.lineTo((x0, y1)), pen.lineTo((x1, y1)), pen.lineTo((x1, y0))
            pen.closePath()
        outlines[name] = pen.glyph()
    fb.setupGlyf(outlines)
    fb.setupHorizontalMetrics({name: (600, 0) for name in outlines})
    fb.setupHorizontalHeader(ascent=800, descent=-200)
    fb.setupNameTable({"familyName": family, "styleName": ["Regular", "Bold"][style]})
    fb.setupOS2(sTypoAscender=800, sTypoDescender=-200, usWinAscent=800, usWinDescent=200)
    fb.setupPost()
    path.parent.mkdir(parents=True, exist_ok=True)
    fb.save(str(path))
    return path


def full_font(path: Path, family: str, chars: str = letters.CHARACTER_SETS["upper"], style=0):
    return make_font(path, family, {ch: _bars(k, style) for k, ch in enumerate(chars)}, style)


def test_a_font_that_lacks_glyphs_gives_only_the_ones_it_draws(tmp_path):
    # A, B, C drawn; D draws nothing; E repeats A; the rest fall to .notdef.
    glyphs = {"A": _bars(0), "B": _bars(1), "C": _bars(2), "D": [], "E": _bars(0)}
    font = make_font(tmp_path / "fonts" / "partial.ttf", "Bars 0", glyphs)
    face = letters.render_face(ImageFont.truetype(str(font), 64), letters.characters("upper"))
    assert sorted(face.glyphs) == ["A", "B", "C"] and face.duplicate == ["E"]
    assert face.missing == ["D"] + list("FGHIJKLMNOPQRSTUVWXYZ")
    (tmp_path / "fonts" / "broken.ttf").write_text("not a font")
    ds = data.build(data_config(path=str(tmp_path / "fonts"), cache_dir=str(tmp_path)), seed=0)
    assert ds.num_examples == 3 and ds.num_classes == 26 and ds.class_names[:3] == ["A", "B", "C"]
    assert sorted(ds.reference(10)["label"].tolist()) == [0, 1, 2]
    assert "3 glyphs of 26 characters from 1 faces" in ds.summary
    assert "skipped 22 missing and 1 repeated glyphs" in ds.summary and "1 unreadable" in ds.summary


def test_dejavu_letters_are_labelled_centred_and_scaled_per_font(tmp_path):
    require_debian_package(DEJAVU / DEJAVU_CORE[0], "fonts-dejavu-core")
    for name in DEJAVU_CORE:
        (tmp_path / "fonts").mkdir(exist_ok=True)
        shutil.copy(DEJAVU / name, tmp_path / "fonts" / name)
    ds = data.build(data_config(path=str(tmp_path / "fonts"), cache_dir=str(tmp_path),
                                image_size=24, characters="upper+digits"), seed=0)
    assert ds.shape == (24, 24, 1) and ds.num_classes == 36 and "".join(ds.class_names[-10:]) == "0123456789"
    assert {f["family"] for f in ds.faces} == {"DejaVu Sans", "DejaVu Serif", "DejaVu Sans Mono"}
    assert all(f["glyphs"] == 36 and not f["missing"] for f in ds.faces)
    every = {s: ds.reference(10_000, split=s) for s in ("train", "test")}
    assert sum(len(b["x"]) for b in every.values()) == 3 * 36
    for batch in every.values():  # each face gives each character once
        assert np.all(np.bincount(batch["label"], minlength=36) == len(batch["x"]) // 36)
    x = np.concatenate([b["x"] for b in every.values()])[..., 0]
    labels = np.concatenate([b["label"] for b in every.values()])
    ink = (1 - x) / 2  # black on white
    assert x[:, 0, :].min() > 0.99 and x[:, :, -1].min() > 0.99  # the margin stays blank
    for im in ink:  # each ink box centred horizontally
        cols = np.flatnonzero(im.max(0) > 0.25)
        assert abs((cols[0] + cols[-1]) / 2 - 11.5) <= 1
    rows = np.flatnonzero((ink > 0.5).any(2).any(0))
    assert rows[0] <= 3 and rows[-1] >= 20  # the face's letters fill the square's height
    # One scale per face: capitals of a face share their cap height, whatever their shape.
    heights = {ds.class_names[k]: np.ptp(np.flatnonzero((ink[i] > 0.5).any(1)))
               for i, k in enumerate(labels[:36]) if k < 26}
    assert abs(heights["H"] - heights["I"]) <= 1 and abs(heights["E"] - heights["L"]) <= 1
    assert len({im.tobytes() for im in x}) == len(x)
    dark = data.build(data_config(path=str(tmp_path / "fonts"), cache_dir=str(tmp_path),
                                  image_size=24, background="black", channels=3), seed=0)
    corner = dark.reference(5)["x"][:, 0, 0]
    assert dark.shape == (24, 24, 3) and np.all(corner == -1)  # white ink on black


def test_the_split_is_by_family_and_adding_a_font_moves_no_other(tmp_path):
    assert {name: letters.is_test_family(name) for name in FAMILIES} == FAMILIES
    fonts = tmp_path / "fonts"
    for k, family in enumerate(FAMILIES):
        full_font(fonts / f"bars{k}.ttf", family)
    full_font(fonts / "bars0-bold.ttf", "Bars 0", style=1)  # a second style of a train family
    cfg = data_config(path=str(fonts), cache_dir=str(tmp_path / "cache"))
    ds = data.build(cfg, seed=0)
    families = [f["family"] for f in ds.faces]
    assert [f["test"] for f in ds.faces] == [FAMILIES[f] for f in families]
    assert ds.num_examples == 26 * 5 and len(ds.reference(10_000, split="test")["x"]) == 26
    before = {(f["family"], f["style"]): f["test"] for f in ds.faces}
    full_font(fonts / "extra.ttf", "Bars 6")
    after = {(f["family"], f["style"]): f["test"] for f in data.build(cfg, seed=0).faces}
    assert {k: after[k] for k in before} == before and len(after) == len(before) + 1


def test_rendered_once_then_cached_until_the_fonts_change(tmp_path, monkeypatch):
    fonts = tmp_path / "fonts"
    full_font(fonts / "a.ttf", "Bars 0")
    cfg = data_config(path=str(fonts), cache_dir=str(tmp_path / "cache"))
    first = data.build(cfg, seed=0).reference(100)
    key = classifier.cache_key(cfg, (16, 16, 1))
    render_all = letters.render_all
    monkeypatch.setattr(letters, "render_all", lambda *a: pytest.fail("not cached"))
    again = data.build(cfg, seed=0)
    np.testing.assert_array_equal(first["x"], again.reference(100)["x"])
    assert "26 glyphs" in again.summary
    full_font(fonts / "b.ttf", "Bars 1")  # new fonts: rendered again, and a new classifier
    monkeypatch.setattr(letters, "render_all", render_all)
    assert data.build(cfg, seed=0).num_examples == 52
    assert classifier.cache_key(cfg, (16, 16, 1)) != key
    assert len(list((tmp_path / "cache").glob("letters_16_*.npz"))) == 2


def test_missing_fonts_say_what_to_install(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no font files .* apt-get install fonts-dejavu-core.*data.path"):
        data.build(data_config(path=str(tmp_path / "empty")), seed=0)
    with pytest.raises(DataError, match="does not exist"):
        data.build(data_config(path=str(tmp_path / "nowhere")), seed=0)
    make_font(tmp_path / "symbols" / "s.ttf", "Bars 0", {"+": _bars(0)})
    with pytest.raises(DataError, match="draws any of 'ABC"):
        data.build(data_config(path=str(tmp_path / "symbols"), cache_dir=str(tmp_path)), seed=0)
    with pytest.raises(DataError, match="data.characters = 'greek'"):
        letters.characters("greek")


def _tiny(spec):
    """The recipe's `tiny` variant at 16x16 for 2 steps (compiling dominates; tests/test_recipes.py
    runs the same networks at full tiny length on the other datasets)."""
    c = load_config_file(str(ROOT / "configs" / spec))
    c.train.parallel = "single"
    c.data.image_size = 16
    c.train.steps = 2
    return c


def test_wgan_gp_letters_v2_tiny_trains_end_to_end(tmp_path):
    c = _tiny("wgan_gp.py:letters_v2,tiny")
    assert c.augment.instance_noise == 0.1 and c.model.generator.dropout == 0.2  # seed 000's fixes
    train.train(c, tmp_path)
    assert (tmp_path / "checkpoints" / "2").is_dir() and (tmp_path / "samples" / "step_000000002.png").exists()


def test_acgan_letters_tiny_on_letters_is_measured_by_the_letters_classifier(tmp_path, monkeypatch):
    """AC-GAN's tiny recipe on real letters (made fonts, 16x16): its evaluation measures FID
    under the letters classifier, class accuracy of the conditional samples and class coverage."""
    fonts = tmp_path / "fonts"
    for k, family in enumerate(FAMILIES):
        full_font(fonts / f"bars{k}.ttf", family)
    c = _tiny("acgan.py:letters,tiny")
    c.data.update(source="letters", name="letters", path=str(fonts), num_classes=0,
                  num_examples=0, cache_dir=str(tmp_path / "cache"))
    c.eval.update(features="classifier", classifier_dir=str(tmp_path / "classifiers"), num_samples=52)
    clf = load_config_file(str(ROOT / "configs" / "classifier.py") + ":letters,tiny")
    clf.data.update(c.data.to_dict())
    ds = data.build(clf.data, 0)
    params, info = classifier.train(clf, ds)
    assert info["accuracy_split"] == "test" and info["class_names"][0] == "A"
    classifier.save(tmp_path / "classifiers" / classifier.cache_key(c.data, ds.shape), params, info)
    monkeypatch.setattr(classifier, "train", lambda *a: pytest.fail("the cached classifier was missed"))
    train.train(c, tmp_path / "run")
    metrics = json.loads((tmp_path / "run" / "eval" / "step_000000002.json").read_text())
    assert {"fid/classifier_letters", "class_accuracy", "classes_covered"} <= set(metrics)
    assert 0 <= metrics["class_accuracy"] <= 1 and 0 <= metrics["classes_covered"] <= 26
