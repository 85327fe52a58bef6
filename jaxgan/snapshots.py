"""What a run looks like as it trains: frames from a fixed latent batch, and a GIF of them.

The latents (and labels) are drawn once per run from the run's seed, so consecutive frames
differ only because the generator changed. 2D runs get scatter plots over the real data;
image runs get sample grids, one row per class for conditional generators. Each frame is saved
as samples/step_N.png and returned as a uint8 (H, W, C) picture, which the snapshot hook also
sends to TensorBoard.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from jaxgan import viz
from jaxgan.config import ALL, Field, Section, boolean, ints
from jaxgan.experiment import VIZ_STREAM, Experiment

SECTION = Section("viz", {
    "every_steps": Field(1_000, ints(0), "steps between frames (0: none)"),
    "num_samples": Field(2_500, ints(1), "points of a 2D scatter plot, or images of a grid, from a "
                                         "fixed latent batch (conditional: one row per class)"),
    "grid_columns": Field(8, ints(1), "columns of an image grid"),
    "gif": Field(True, boolean(), "also write the frames as an animated GIF"),
}, resumable=ALL)


class PointSnapshots:
    """Scatter frames of generated vs real 2D points."""

    def __init__(self, exp: Experiment, workdir: Path):
        self.exp, self.dir = exp, workdir / "samples"
        self.dir.mkdir(exist_ok=True)
        n = exp.config.viz.num_samples
        self.z = exp.latents(VIZ_STREAM, n)
        self.real = exp.dataset.sample(np.random.default_rng([exp.config.seed, VIZ_STREAM]), n)
        self.limits = viz.plot_limits(self.real)

    def frame(self, state, step: int) -> np.ndarray:
        fake = self.exp.generate(state, self.z)
        path = viz.scatter(self.real, fake, self.dir / f"step_{step:09d}.png",
                           title=f"{self.exp.config.name}  step {step}", limits=self.limits)
        with Image.open(path) as picture:  # the plot as drawn, for TensorBoard
            return np.asarray(picture.convert("RGB"))


class ImageSnapshots:
    """Sample grids. Conditional runs: row k holds class k, and column j uses the same latent in
    every row, so a column shows one "style" across classes."""

    def __init__(self, exp: Experiment, workdir: Path):
        self.exp, self.dir = exp, workdir / "samples"
        self.dir.mkdir(exist_ok=True)
        c, k = exp.config.viz, exp.dataset.num_classes
        self.columns = c.grid_columns
        if k:
            z = exp.latents(VIZ_STREAM, self.columns)
            self.z = np.tile(np.asarray(z), (k, 1))
            self.labels = np.repeat(np.arange(k, dtype=np.int32), self.columns)
        else:
            self.z, self.labels = exp.latents(VIZ_STREAM, c.num_samples), None
        real_path = self.dir / "real.png"
        if not real_path.exists():
            real = exp.dataset.reference(len(self.z))
            viz.save_image(viz.image_grid(self._by_class(real), self.columns), real_path)

    def _by_class(self, real: dict) -> np.ndarray:
        # Real examples laid out like the generated grid (row k = class k) where labels exist.
        if self.labels is None or "label" not in real:
            return real["x"]
        rows = []
        for k in range(self.exp.dataset.num_classes):
            pick = real["x"][real["label"] == k][: self.columns]
            blank = -np.ones((self.columns - len(pick),) + real["x"].shape[1:], np.float32)
            rows.append(np.concatenate([pick, blank]))
        return np.concatenate(rows)

    def frame(self, state, step: int) -> np.ndarray:
        images = self.exp.generate(state, self.z, self.labels)
        grid = viz.image_grid(images, self.columns)
        viz.save_image(grid, self.dir / f"step_{step:09d}.png")
        return grid


def make(exp: Experiment, workdir: Path):
    return (PointSnapshots if exp.dataset.kind == "points" else ImageSnapshots)(exp, workdir)


def finish(exp: Experiment, workdir: Path) -> None:
    """The GIF of all frames so far (a resumed run continues the same sequence)."""
    if exp.config.viz.gif:
        viz.make_gif(sorted((workdir / "samples").glob("step_*.png")), workdir / "training.gif")
