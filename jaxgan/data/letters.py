"""Letters rendered from fonts: A-Z (optionally lower case and digits) from every font file on the
system, labelled by character. Seed 000 trained on scans of decorated initials, which are not on
this machine and carry no labels; letters from many fonts are the nearest labelled stand-in, so
its wish for a conditional GAN can be tried.

- Fonts: every .ttf/.otf/.ttc/.otc/.pfb/.pfa/.t1/.woff/.woff2 under the system font directories
  (`FONT_DIRS`), or under `data.path` (a folder or one font file). A face that repeats the
  (family, style) of an earlier one (the same font installed as .otf and .t1) is used once.
- Glyphs: a character the font lacks renders as its .notdef glyph (a box, "tofu") or as nothing;
  both are detected per glyph (against the rendering of unassigned code points, and an empty ink
  box) and skipped, as is a glyph identical to an earlier character's in the same font (fonts of
  capitals that map lower case to upper case), which would be the same image with two labels.
- Scale: one factor per font, so the union of its glyphs' ink boxes (aligned on the baseline)
  fits the square less a margin; glyphs are centred horizontally and keep the font's baseline, so
  a font's letters keep their relative sizes (lower case stays distinguishable from capitals).
- Split: by a hash of the font's family name, a fixed `TEST_FRACTION` of families in `test`
  (every style of a family on the same side, and adding a font never moves another).
- Pixels: the glyphs' coverage as ink on `data.background` (white, with black ink; a dark
  background gets white ink), 1 channel by default. The rendering is cached as .npz under
  `data.cache_dir` (default ~/.cache/jaxgan), keyed by the font files.
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import string
import tempfile
from pathlib import Path

import numpy as np
from absl import logging
from PIL import Image, ImageDraw, ImageFont

from jaxgan.data import DataError, images

FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts",
             "/Library/Fonts", "/System/Library/Fonts", "~/Library/Fonts")
EXTENSIONS = (".ttf", ".otf", ".ttc", ".otc", ".pfb", ".pfa", ".t1", ".woff", ".woff2")
CHARACTER_SETS = {"upper": string.ascii_uppercase, "lower": string.ascii_lowercase,
                  "digits": string.digits}
# `data.characters`: one set or several joined by '+', in this order.
CHARACTERS = tuple("+".join(c) for r in range(1, 4) for c in itertools.combinations(CHARACTER_SETS, r))
TEST_FRACTION = 0.2  # share of font families in the test split
DEFAULT_SIZE = 32
MARGIN = 1 / 16  # of the side, on each side of a font's union box
MAX_FACES = 64  # faces read from one collection file (.ttc)
# Unassigned code points: a font that does not map them draws its .notdef glyph.
_PROBES = ("\u0378", "\U0010fffd", "\ufdd0")
_FORMAT = 1  # bump when the rendering changes, to invalidate caches
INSTALL_HINT = ("apt-get install fonts-dejavu-core (docs/datasets.md lists a varied set), or pass "
                "--config.data.path=DIR with .ttf/.otf files")


def characters(spec: str) -> str:
    """'upper+digits' -> 'ABC...Z0123456789' (the class order)."""
    if spec not in CHARACTERS:
        raise DataError(f"data.characters = {spec!r}: choose one of {', '.join(CHARACTERS)}")
    return "".join(CHARACTER_SETS[s] for s in spec.split("+"))


def find_fonts(path: str = "") -> tuple[list[Path], list[str]]:
    """(font files, sorted, deduplicated by real path; the folders searched)."""
    roots = [path] if path else list(FONT_DIRS)
    found, searched = {}, []
    for root in roots:
        root = Path(root).expanduser()
        if root.is_file():
            found.setdefault(root.resolve(), root)
        elif root.is_dir():
            searched.append(str(root))
            for file in sorted(root.rglob("*")):
                if file.suffix.lower() in EXTENSIONS and file.is_file():
                    found.setdefault(file.resolve(), file)
        elif path:
            raise DataError(f"data.path = {path!r} does not exist; give a folder of font files or "
                            f"one font file, or leave it empty to use the system fonts ({INSTALL_HINT})")
    return sorted(found.values()), searched


def is_test_family(family: str) -> bool:
    """The fixed split: a family is in `test` when its name's hash falls below TEST_FRACTION."""
    digest = hashlib.sha256(family.strip().lower().encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < TEST_FRACTION


@dataclasses.dataclass
class Glyph:
    ink: np.ndarray  # uint8 coverage, cropped to the ink
    left: int  # ink box relative to the pen origin on the baseline
    top: int


def _render(font, ch: str) -> Glyph | None:
    """The glyph of `ch` cropped to its ink, or None when it draws nothing."""
    left, top, right, bottom = font.getbbox(ch, anchor="ls")
    if right <= left or bottom <= top:
        return None
    canvas = Image.new("L", (right - left + 2, bottom - top + 2), 0)
    ImageDraw.Draw(canvas).text((1 - left, 1 - top), ch, font=font, fill=255, anchor="ls")
    ink = np.asarray(canvas)
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    if not len(rows):
        return None
    return Glyph(ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].copy(),
                 left - 1 + int(cols[0]), top - 1 + int(rows[0]))


def _same(a: Glyph, b: Glyph) -> bool:
    return (a.left, a.top, a.ink.shape) == (b.left, b.top, b.ink.shape) and np.array_equal(a.ink, b.ink)


@dataclasses.dataclass
class FaceGlyphs:
    glyphs: dict[str, Glyph]
    missing: list[str]  # .notdef or nothing drawn
    duplicate: list[str]  # the same image as an earlier character's


def render_face(font, chars: str) -> FaceGlyphs:
    """Every character of `chars` the face draws, with the ones it lacks or repeats."""
    notdef = [g for g in (_render(font, p) for p in _PROBES) if g is not None]
    out = FaceGlyphs({}, [], [])
    for ch in chars:
        g = _render(font, ch)
        if g is None or any(_same(g, n) for n in notdef):
            out.missing.append(ch)
        elif any(_same(g, earlier) for earlier in out.glyphs.values()):
            out.duplicate.append(ch)
        else:
            out.glyphs[ch] = g
    return out


def place(glyphs: dict[str, Glyph], size: int, resample: str = "bicubic") -> dict[str, np.ndarray]:
    """The glyphs of one face at `size` x `size`: one scale for the face (its union ink box fits
    the square less the margin), centred horizontally, on the face's baseline."""
    top = min(g.top for g in glyphs.values())
    bottom = max(g.top + g.ink.shape[0] for g in glyphs.values())
    width = max(g.ink.shape[1] for g in glyphs.values())
    side = int(np.ceil(max(bottom - top, width) / (1 - 2 * MARGIN)))
    y0 = (side - (bottom - top)) // 2 - top
    out = {}
    for ch, g in glyphs.items():
        canvas = np.zeros((side, side), np.uint8)
        h, w = g.ink.shape
        x, y = (side - w) // 2, y0 + g.top
        canvas[y:y + h, x:x + w] = g.ink
        out[ch] = np.asarray(Image.fromarray(canvas).resize((size, size), images.FILTERS[resample]))
    return out


def _faces(file: Path, font_size: int):
    """(index, font) of each face in the file; one for a plain font, several for a collection."""
    for index in range(MAX_FACES if file.suffix.lower() in (".ttc", ".otc") else 1):
        try:
            yield index, ImageFont.truetype(str(file), font_size, index=index,
                                            layout_engine=ImageFont.Layout.BASIC)
        except OSError:
            if index == 0:
                raise
            return


def render_all(files: list[Path], chars: str, size: int, resample: str = "bicubic") -> dict:
    """Render `chars` from every face of `files`: masks (N, size, size) uint8 coverage, labels,
    the face of each mask, the faces' names and splits, and counts of what was skipped."""
    font_size = max(64, 4 * size)  # the ink is then rendered several times larger than `size`
    masks, labels, face_of = [], [], []
    faces, seen = [], set()
    counts = dict(files=len(files), unreadable_files=0, duplicate_faces=0, faces_without_glyphs=0,
                  glyphs_missing=0, glyphs_duplicate=0)
    unreadable = []
    for file in files:
        try:
            for index, font in _faces(file, font_size):
                family, style = (s or "" for s in font.getname())
                family = family or file.stem
                if (family, style) in seen:
                    counts["duplicate_faces"] += 1
                    continue
                seen.add((family, style))
                face = render_face(font, chars)
                counts["glyphs_missing"] += len(face.missing)
                counts["glyphs_duplicate"] += len(face.duplicate)
                if not face.glyphs:
                    counts["faces_without_glyphs"] += 1
                    continue
                heights = [g.ink.shape[0] for g in face.glyphs.values()]
                if max(heights) < 2 * size:  # a face drawn small in its em: render it larger
                    scale = int(np.ceil(2 * size / max(max(heights), 1)))
                    bigger = ImageFont.truetype(str(file), font_size * scale, index=index,
                                                layout_engine=ImageFont.Layout.BASIC)
                    again = render_face(bigger, "".join(face.glyphs))
                    face.glyphs = again.glyphs or face.glyphs
                placed = place(face.glyphs, size, resample)
                k = len(faces)
                faces.append(dict(family=family, style=style, file=str(file), index=index,
                                  test=is_test_family(family), glyphs=len(placed),
                                  missing="".join(face.missing)))
                for ch, mask in placed.items():
                    masks.append(mask)
                    labels.append(chars.index(ch))
                    face_of.append(k)
        except (OSError, ValueError) as e:  # not a font FreeType can read at this size
            counts["unreadable_files"] += 1
            unreadable.append(f"{file.name} ({e})")
    if unreadable:
        logging.warning("Letters: %d font files could not be read, e.g. %s", len(unreadable),
                        "; ".join(unreadable[:3]))
    counts.update(faces=len(faces), glyphs=len(masks))
    return dict(masks=np.stack(masks) if masks else np.zeros((0, size, size), np.uint8),
                labels=np.array(labels, np.int32), face_of=np.array(face_of, np.int32),
                faces=faces, counts=counts)


def _files_digest(files: list[Path]) -> str:
    h = hashlib.sha1()
    for f in files:
        stat = f.stat()
        h.update(f"{f}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return h.hexdigest()


def fingerprint(data_config) -> str:
    """A digest of the font files a config reads: the letters differ when the fonts installed
    do, which the data config alone does not say (the domain classifier's cache key uses it)."""
    return _files_digest(find_fonts(data_config.get("path", ""))[0])[:12]


def _cache_file(files: list[Path], chars: str, size: int, resample: str, cache_dir: str) -> Path:
    key = hashlib.sha1(f"{_FORMAT}:{chars}:{size}:{resample}:{_files_digest(files)}".encode())
    cache = Path(cache_dir or os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser()
    if not cache_dir:
        cache = cache / "jaxgan"
    return cache / f"letters_{size}_{key.hexdigest()[:12]}.npz"


def load(files: list[Path], chars: str, size: int, cache_dir: str = "", resample: str = "bicubic") -> dict:
    """`render_all`'s result, from the cache or rendered and cached."""
    file = _cache_file(files, chars, size, resample, cache_dir)
    if file.is_file():
        try:
            with np.load(file) as saved:
                meta = json.loads(str(saved["meta"]))
                return dict(masks=saved["masks"], labels=saved["labels"], face_of=saved["face_of"], **meta)
        except Exception as e:  # a damaged cache is rendered again
            logging.warning("Ignoring the damaged letters cache %s (%s)", file, e)
    rendered = render_all(files, chars, size, resample)
    meta = json.dumps({"faces": rendered["faces"], "counts": rendered["counts"]})
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=file.parent, suffix=".npz", delete=False) as tmp:
            np.savez_compressed(tmp, masks=rendered["masks"], labels=rendered["labels"],
                                face_of=rendered["face_of"], meta=np.array(meta))
        os.replace(tmp.name, file)
    except OSError as e:
        logging.warning("Cannot cache the rendered letters in %s (%s); they are rendered each run",
                        file.parent, e)
    return rendered


def summary(rendered: dict, chars: str) -> str:
    """One line: what was used and what was skipped, per split."""
    c, faces = rendered["counts"], rendered["faces"]
    test_faces = sum(f["test"] for f in faces)
    test_glyphs = int(sum(faces[k]["test"] for k in rendered["face_of"])) if faces else 0
    families = {f["family"] for f in faces}
    return (f"{c['glyphs']} glyphs of {len(chars)} characters from {c['faces']} faces "
            f"({len(families)} families) in {c['files']} font files; train {c['glyphs'] - test_glyphs} "
            f"glyphs / {c['faces'] - test_faces} faces, test {test_glyphs} / {test_faces}; skipped "
            f"{c['glyphs_missing']} missing and {c['glyphs_duplicate']} repeated glyphs, "
            f"{c['faces_without_glyphs']} faces without any, {c['duplicate_faces']} repeated faces, "
            f"{c['unreadable_files']} unreadable files")


def build(data_config, seed: int) -> images.ImageDataset:
    size = images.target_size(data_config, (DEFAULT_SIZE, DEFAULT_SIZE))
    if size[0] != size[1]:
        raise DataError(f"letters are rendered square; set data.image_size, not {size[0]}x{size[1]}")
    chars = characters(data_config.get("characters", "upper") or "upper")
    path = data_config.get("path", "")
    files, searched = find_fonts(path)
    if not files:
        where = path or ", ".join(searched or FONT_DIRS[:2])
        raise DataError(f"no font files ({', '.join(EXTENSIONS[:3])}, ...) under {where}; {INSTALL_HINT}")
    resample = data_config.get("resize_filter", "bicubic")
    rendered = load(files, chars, size[0], data_config.get("cache_dir", ""), resample)
    if not rendered["counts"]["glyphs"]:
        raise DataError(f"none of the {len(files)} font files under {path or searched} draws any "
                        f"of {chars!r}; {INSTALL_HINT}")
    channels = data_config.get("channels", 0) or 1
    background = images.parse_colour(data_config.get("background", "white"))
    masks = rendered["masks"]
    # Black ink on a light background, white on a dark one (a black background: MNIST's look).
    shade = 0 if np.dot(background, (0.299, 0.587, 0.114)) >= 128 else 255
    ink = np.concatenate([np.full(masks.shape + (3,), shade, np.uint8), masks[..., None]], axis=-1)
    pixels = images.convert_array(ink, channels, None, background)
    images.check_num_classes(data_config, len(chars), "letters")
    test = np.array([rendered["faces"][k]["test"] for k in rendered["face_of"]], bool)
    splits = {"train": images.ArraySplit(pixels[~test], rendered["labels"][~test])}
    if test.any():
        splits["test"] = images.ArraySplit(pixels[test], rendered["labels"][test])
    if not (~test).any():
        raise DataError(f"every font family found lies in the test split ({summary(rendered, chars)}); "
                        f"add fonts: {INSTALL_HINT}")
    dataset = images.ImageDataset(
        data_config.get("name", "") or "letters", splits, seed=seed,
        flip=data_config.get("flip", False), num_classes=len(chars), class_names=list(chars),
        train_split=data_config.get("split", "train") or "train",
        num_examples=data_config.get("num_examples", 0), source="letters",
        use_labels=images.labels_wanted(data_config))
    dataset.summary = summary(rendered, chars)
    dataset.faces = rendered["faces"]
    logging.info("Letters: %s", dataset.summary)
    return dataset
