"""`--mode=sample`: draw samples from a trained run and write them to a file."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from absl import logging

from jaxgan.experiment import SAMPLE_STREAM, RunError, restore_run


def sample(workdir: str | Path, num_samples: int, output: str | Path, seed: int = 0) -> Path:
    """Write `num_samples` samples of the latest checkpoint to `output` (.npz).

    2D data is stored under `points` (N, D). The file is written next to its target and renamed,
    so a failure never leaves a partial file or destroys an earlier one.
    """
    if num_samples < 1:
        raise RunError(f"--num_samples = {num_samples}: must be >= 1")
    output = Path(output).expanduser()
    if output.suffix != ".npz":
        raise RunError(f"--output = {str(output)!r}: give a file name ending in .npz")
    exp, state, step = restore_run(workdir)
    z = exp.latents(SAMPLE_STREAM + seed, num_samples)
    samples = exp.generate(state, z)
    key = "points" if exp.dataset.kind == "points" else "images"
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.stem + ".tmp.npz")
    np.savez(tmp, **{key: samples.astype(np.float32)}, step=np.int64(step))
    os.replace(tmp, output)
    logging.info("Wrote %d samples of step %d to %s", num_samples, step, output)
    return output
