"""`--mode=sample`: draw samples from a trained run and write them to a file or a folder."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from absl import logging

from jaxgan import viz
from jaxgan.experiment import SAMPLE_STREAM, restore_run
from jaxgan.workdir import Diverged, RunError, new_output, reading, refuse_existing


def check_finite(samples: np.ndarray, step: int, workdir) -> None:
    """A generator that draws NaN or inf has diverged: an error, never a file of them."""
    bad = int(np.sum(~np.isfinite(samples.reshape(len(samples), -1)).all(axis=1)))
    if bad:
        raise Diverged(f"the generator of step {step} in {str(workdir)!r} draws non-finite samples "
                       f"({bad} of {len(samples)}); nothing was written. The run diverged: train it "
                       "again with lower learning rates, in a new --workdir")


def sample(workdir: str | Path, num_samples: int, output: str | Path, seed: int = 0) -> Path:
    """Write `num_samples` samples of the latest checkpoint to `output`.

    `output` ending in .npz: 2D data under `points` (N, D) float32; images under `images`
    (N, H, W, C) uint8, with `labels` (N,) for conditional models (classes in turn, so every
    class gets N / K samples). Any other `output` is a new folder of PNG files (images only).
    Nothing that exists is replaced (an empty folder may receive the PNG files), and everything
    is written under a temporary name of its own and moved into place at the end, so a failure
    leaves neither a partial result nor a stray temporary.
    """
    if num_samples < 1:
        raise RunError(f"--num_samples={num_samples}: must be >= 1")
    output = Path(output).expanduser()
    as_png = output.suffix != ".npz"
    if not as_png or not (output.is_dir() and not output.is_symlink() and not any(output.iterdir())):
        refuse_existing(output, "--output")
    with reading(workdir, "sample"):
        exp, state, step = restore_run(workdir, need_data=False)  # the data may have moved
        kind, k = exp.dataset.kind, exp.dataset.num_classes
        if as_png and kind != "images":
            raise RunError(f"--output={str(output)!r}: PNG folders are for image runs; this run "
                           "generates points, give a file name ending in .npz")
        labels = np.arange(num_samples, dtype=np.int32) % k if k else None
        samples = exp.generate(state, exp.latents(SAMPLE_STREAM + seed, num_samples), labels)
        check_finite(samples, step, workdir)
        made = [p for p in [output.parent, *output.parent.parents] if not p.exists()]
        output.parent.mkdir(parents=True, exist_ok=True)
        try:
            if as_png:
                _write_pngs(viz.to_uint8(samples), labels, getattr(exp.dataset, "class_names", None), output)
            else:
                arrays = {"points": samples.astype(np.float32)} if kind == "points" else {"images": viz.to_uint8(samples)}
                if labels is not None:
                    arrays["labels"] = labels
                with new_output(output) as tmp, open(tmp, "wb") as f:
                    np.savez(f, **arrays, step=np.int64(step))
        except BaseException:
            for d in made:  # the folders made for the output, innermost first, while empty
                try:
                    d.rmdir()
                except OSError:
                    break
            raise
    logging.info("Wrote %d samples of step %d to %s", num_samples, step, output)
    return output


def _write_pngs(images: np.ndarray, labels, class_names, output: Path) -> None:
    with new_output(output, directory=True) as tmp:
        for i, image in enumerate(images):
            name = f"{i:06d}"
            if labels is not None:
                label = int(labels[i])
                name += "_" + re.sub(r"[^A-Za-z0-9]+", "-", str(class_names[label]) if class_names else str(label))
            viz.to_pil(image).save(tmp / f"{name}.png")
