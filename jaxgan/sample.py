"""`--mode=sample`: draw samples from a trained run and write them to a file or a folder."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
from absl import logging

from jaxgan import viz
from jaxgan.experiment import SAMPLE_STREAM, restore_run
from jaxgan.workdir import RunError


def sample(workdir: str | Path, num_samples: int, output: str | Path, seed: int = 0) -> Path:
    """Write `num_samples` samples of the latest checkpoint to `output`.

    `output` ending in .npz: 2D data under `points` (N, D) float32; images under `images`
    (N, H, W, C) uint8, with `labels` (N,) for conditional models (classes in turn, so every
    class gets N / K samples). Any other `output` is a new folder of PNG files (images only).
    Everything is written beside its target and renamed, so a failure never leaves a partial
    result and never replaces an earlier one.
    """
    if num_samples < 1:
        raise RunError(f"--num_samples = {num_samples}: must be >= 1")
    output = Path(output).expanduser()
    as_png = output.suffix != ".npz"
    if as_png and output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise RunError(f"--output = {str(output)!r} already exists and is not an empty folder; "
                       "give a new folder name (or a file name ending in .npz)")
    exp, state, step = restore_run(workdir)
    kind, k = exp.dataset.kind, exp.dataset.num_classes
    if as_png and kind != "images":
        raise RunError(f"--output = {str(output)!r}: PNG folders are for image runs; this run "
                       "generates points, give a file name ending in .npz")
    labels = np.arange(num_samples, dtype=np.int32) % k if k else None
    samples = exp.generate(state, exp.latents(SAMPLE_STREAM + seed, num_samples), labels)
    output.parent.mkdir(parents=True, exist_ok=True)
    if as_png:
        _write_pngs(viz.to_uint8(samples), labels, getattr(exp.dataset, "class_names", None), output)
    else:
        arrays = {"points": samples.astype(np.float32)} if kind == "points" else {"images": viz.to_uint8(samples)}
        if labels is not None:
            arrays["labels"] = labels
        tmp = output.with_name(output.stem + ".tmp.npz")
        np.savez(tmp, **arrays, step=np.int64(step))
        os.replace(tmp, output)
    logging.info("Wrote %d samples of step %d to %s", num_samples, step, output)
    return output


def _write_pngs(images: np.ndarray, labels, class_names, output: Path) -> None:
    tmp = output.with_name(output.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for i, image in enumerate(images):
        name = f"{i:06d}"
        if labels is not None:
            label = int(labels[i])
            name += "_" + re.sub(r"[^A-Za-z0-9]+", "-", str(class_names[label]) if class_names else str(label))
        viz.to_pil(image).save(tmp / f"{name}.png")
    if output.exists():
        output.rmdir()  # checked empty above
    os.replace(tmp, output)
