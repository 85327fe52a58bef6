"""Emoji flags rendered from the Noto Color Emoji font (seed 004): about 250 RGBA images.

Every pair of regional-indicator letters is rendered; a pair the font does not know renders as
its "unknown flag" glyph and is dropped, as are pairs that draw the same flag as an earlier one
(UM draws the US flag; the country's code is kept); England, Scotland and Wales (tag sequences) are added. Each glyph is cropped
to its visible pixels and letterboxed, transparent, into a square of `data.image_size` (32, 64
or 128; default 64), then cached as .npz under `data.cache_dir` (default ~/.cache/jaxgan).
"""
from __future__ import annotations

import hashlib
import os
import string
import tempfile
from pathlib import Path

import numpy as np
from absl import logging
from PIL import Image, ImageDraw, ImageFont

from jaxgan.data import DataError, images

FONT_PATHS = ("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf",
              "/usr/share/fonts/noto/NotoColorEmoji.ttf",
              "/usr/share/fonts/google-noto-color-emoji-fonts/NotoColorEmoji.ttf",
              "/System/Library/Fonts/Apple Color Emoji.ttc")
FONT_SIZE = 109  # the one size at which the CBDT bitmaps of Noto Color Emoji load
DEFAULT_SIZE = 64
# Codes that share a flag with another territory's code keep the country's name.
_PREFERRED = {"US", "FR", "NO", "AU", "ES", "IO"}
_SUBDIVISIONS = {"gb-eng": "gbeng", "gb-sct": "gbsct", "gb-wls": "gbwls"}
_FORMAT = 3  # bump when the rendering changes, to invalidate caches


def _regional(code: str) -> str:
    return "".join(chr(0x1F1E6 + ord(c) - ord("A")) for c in code)


def _tag_flag(tag: str) -> str:
    return "\U0001F3F4" + "".join(chr(0xE0000 + ord(c)) for c in tag) + "\U000E007F"


def find_font(path: str = "") -> Path:
    for candidate in ([path] if path else FONT_PATHS):
        if candidate and Path(candidate).expanduser().is_file():
            return Path(candidate).expanduser()
    where = repr(path) if path else ", ".join(FONT_PATHS[:1])
    raise DataError(f"no Noto Color Emoji font at {where}; apt-get install fonts-noto-color-emoji, "
                    "or pass --config.data.path=FILE.ttf (the font file)")


def render_all(font_path: Path) -> tuple[list[str], list[np.ndarray]]:
    """(codes, uint8 RGBA glyph crops) of every flag the font draws."""
    try:
        font = ImageFont.truetype(str(font_path), FONT_SIZE)
    except OSError as e:
        raise DataError(f"cannot load the emoji font {str(font_path)!r} ({e}); it must be the "
                        "CBDT colour font NotoColorEmoji.ttf") from None

    def render(text):
        canvas = Image.new("RGBA", (2 * FONT_SIZE + 64, FONT_SIZE + 64), (0, 0, 0, 0))
        ImageDraw.Draw(canvas).text((8, 8), text, font=font, embedded_color=True)
        return np.asarray(canvas)

    unknown = render(_regional("XX")).tobytes()
    codes, glyphs, seen = [], [], set()
    pairs = sorted((a + b for a in string.ascii_uppercase for b in string.ascii_uppercase),
                   key=lambda code: (code not in _PREFERRED, code))  # US before UM, FR before CP
    candidates = [(code, _regional(code)) for code in pairs]
    candidates += [(code, _tag_flag(tag)) for code, tag in _SUBDIVISIONS.items()]
    for code, text in candidates:
        glyph = render(text)
        alpha = glyph[..., 3]
        if not alpha.any() or glyph.tobytes() == unknown:
            continue
        cols, rows = np.flatnonzero(alpha.any(0)), np.flatnonzero(alpha.any(1))
        if cols[-1] - cols[0] > 1.3 * FONT_SIZE:  # two letters side by side, not one flag
            continue
        digest = hashlib.sha1(glyph.tobytes()).digest()
        if digest in seen:
            continue
        seen.add(digest)
        codes.append(code)
        glyphs.append(glyph[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1])
    order = sorted(range(len(codes)), key=lambda k: (codes[k].startswith("gb-"), codes[k]))
    codes, glyphs = [codes[k] for k in order], [glyphs[k] for k in order]
    if len(codes) < 10:
        raise DataError(f"the font {str(font_path)!r} drew only {len(codes)} flags; Pillow needs "
                        "libraqm for emoji ligatures (pip install pillow from wheels includes it) "
                        "and the font must be Noto Color Emoji")
    return codes, glyphs


def _square(glyph: np.ndarray, size: int, resample: str) -> np.ndarray:
    image = Image.fromarray(glyph, "RGBA").convert("RGBa")  # premultiplied: no dark fringes
    image = images.fit(image, (size, size), "pad", resample)
    return np.asarray(image.convert("RGBA"))


def load(size: int, font_path: Path, cache_dir: str = "", resample: str = "bicubic"):
    """(codes, uint8 (N, size, size, 4)), from the cache or rendered and cached."""
    stat = font_path.stat()
    key = hashlib.sha1(f"{font_path}:{stat.st_size}:{stat.st_mtime_ns}:{_FORMAT}:{resample}"
                       .encode()).hexdigest()[:12]
    cache = Path(cache_dir or os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser()
    if not cache_dir:
        cache = cache / "jaxgan"
    file = cache / f"emoji_flags_{size}_{key}.npz"
    if file.is_file():
        try:
            with np.load(file) as saved:
                return list(saved["codes"]), saved["images"]
        except Exception as e:  # a damaged cache is rendered again
            logging.warning("Ignoring the damaged flag cache %s (%s)", file, e)
    codes, glyphs = render_all(font_path)
    flags = np.stack([_square(g, size, resample) for g in glyphs])
    try:
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=cache, suffix=".npz", delete=False) as tmp:
            np.savez(tmp, codes=np.array(codes), images=flags)
        os.replace(tmp.name, file)
    except OSError as e:
        logging.warning("Cannot cache the rendered flags in %s (%s); they are rendered each run",
                        cache, e)
    return codes, flags


def build(data_config, seed: int) -> images.ImageDataset:
    size = images.target_size(data_config, (DEFAULT_SIZE, DEFAULT_SIZE))
    if size[0] != size[1]:
        raise DataError(f"emoji flags are square; set data.image_size, not {size[0]}x{size[1]}")
    if (data_config.get("split", "train") or "train") != "train":
        raise DataError(f"emoji flags have one split, 'train', not {data_config.split!r}")
    font = find_font(data_config.get("path", ""))
    codes, flags = load(size[0], font, data_config.get("cache_dir", ""),
                        data_config.get("resize_filter", "bicubic"))
    channels = data_config.get("channels", 0) or 4
    if channels != 4:
        flags = images.convert_array(flags, channels, None,
                                     images.parse_colour(data_config.get("background", "white")))
    dataset = images.ImageDataset(
        data_config.get("name", "") or "emoji_flags", {"train": images.ArraySplit(flags)},
        seed=seed, flip=data_config.get("flip", False),
        num_examples=data_config.get("num_examples", 0), source="flags")
    dataset.codes = codes
    return dataset
