"""Pictures of a run: image grids, scatter plots of 2D samples, GIFs of training, loss curves."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from jaxgan.workdir import new_output  # noqa: E402  (temporaries of our own names, never a user's)


def _atomic_save(fig, path: Path) -> None:
    # Write next to the target and rename, so an interrupted run never leaves half a picture.
    try:
        with new_output(path, replace=True) as tmp:
            fig.savefig(tmp, dpi=80)
    finally:
        plt.close(fig)


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Images in [-1, 1] (the models' range) to uint8 in [0, 255]."""
    return np.clip(np.rint((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def to_pil(image: np.ndarray) -> Image.Image:
    """One uint8 (H, W, C) image as a PIL image: grey, RGB or RGBA by its channel count."""
    if image.shape[-1] == 1:
        return Image.fromarray(image[..., 0], "L")
    return Image.fromarray(image, {3: "RGB", 4: "RGBA"}[image.shape[-1]])


def image_grid(images: np.ndarray, columns: int, pad: int = 2) -> np.ndarray:
    """(N, H, W, C) images in [-1, 1] tiled row by row into one uint8 picture with `pad`-pixel
    gaps (transparent for RGBA, so flags keep their shape)."""
    images = to_uint8(images)
    n, h, w, c = images.shape
    rows = -(-n // columns)
    fill = 0 if c == 4 else 255
    grid = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, c), fill, np.uint8)
    for i, image in enumerate(images):
        r, col = divmod(i, columns)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[top:top + h, left:left + w] = image
    return grid


def save_image(image: np.ndarray, path: str | Path, *, min_side: int = 256) -> Path:
    """Write a uint8 (H, W, C) picture as PNG, enlarged by an integer factor (nearest
    neighbour, so pixels stay sharp) until its short side is at least `min_side`."""
    path = Path(path)
    picture = to_pil(image)
    scale = max(1, -(-min_side // min(picture.size)))
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.Resampling.NEAREST)
    with new_output(path, replace=True) as tmp:
        picture.save(tmp, format="PNG")
    return path


def plot_limits(real: np.ndarray, margin: float = 0.15) -> tuple[tuple[float, float], tuple[float, float]]:
    """Square axis limits around the real data, fixed for a whole run so GIF frames line up."""
    lo, hi = real.min(0), real.max(0)
    pad = margin * float(np.max(hi - lo))
    return (float(lo[0] - pad), float(hi[0] + pad)), (float(lo[1] - pad), float(hi[1] + pad))


def scatter(real: np.ndarray, fake: np.ndarray, path: str | Path, *, title: str = "",
            limits=None) -> Path:
    """Real (grey) and generated (red) points, first two dimensions."""
    path = Path(path)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(real[:, 0], real[:, 1], s=2, c="0.6", label="real")
    ax.scatter(fake[:, 0], fake[:, 1], s=2, c="tab:red", alpha=0.6, label="generated")
    if limits is not None:
        ax.set_xlim(*limits[0])
        ax.set_ylim(*limits[1])
    ax.set_aspect("equal")
    ax.set_title(title)
    ax.legend(loc="upper right", markerscale=4, fontsize=8)
    fig.tight_layout()
    _atomic_save(fig, path)
    return path


def make_gif(frames: list[str | Path], path: str | Path, *, frame_ms: int = 200) -> Path | None:
    """Animated GIF of `frames` (PNG files) in order; the last frame is held longer."""
    if not frames:
        return None
    path = Path(path)
    images = [_flatten_alpha(Image.open(f)) for f in frames]
    images = [im.convert("P", palette=Image.Palette.ADAPTIVE) for im in images]
    durations = [frame_ms] * (len(images) - 1) + [frame_ms * 5]
    with new_output(path, replace=True) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)
    return path


def _flatten_alpha(picture: Image.Image) -> Image.Image:
    # GIF has no partial transparency: composite RGBA frames on white.
    if picture.mode in ("RGBA", "LA"):
        background = Image.new("RGBA", picture.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, picture.convert("RGBA")).convert("RGB")
    return picture.convert("RGB")


def read_jsonl(path: str | Path) -> list[dict]:
    """Rows of a metrics.jsonl file; a line cut short by a killed run is skipped."""
    rows = []
    if not Path(path).exists():
        return rows
    with open(path) as f:
        for line in f:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def loss_curves(metrics_jsonl: str | Path, path: str | Path,
                keys: tuple[str, ...] = ("d_loss", "g_loss", "d_class_loss", "g_class_loss")) -> Path | None:
    """Critic and generator losses against step, from the run's metrics.jsonl."""
    rows = [r for r in read_jsonl(metrics_jsonl) if any(k in r for k in keys)]
    if not rows:
        return None
    path = Path(path)
    fig, ax = plt.subplots(figsize=(7, 4))
    for key in keys:
        pts = sorted((r["step"], r[key]) for r in rows if key in r)
        if pts:
            steps, values = zip(*pts)
            ax.plot(steps, values, label=key, lw=1)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    _atomic_save(fig, path)
    return path
