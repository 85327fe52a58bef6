"""Quality numbers for a trained generator: during training and with `--mode=eval`."""
from __future__ import annotations

import json
from pathlib import Path

from absl import logging

from jaxgan.experiment import EVAL_STREAM, Experiment, atomic_write_text, restore_run
from jaxgan.metrics import mode_coverage


def evaluate_state(exp: Experiment, state) -> dict:
    """The metrics that apply to the run's data, on `config.eval.num_samples` samples drawn
    from a fixed latent batch (so changes between evaluations come from the model)."""
    samples = exp.generate(state, exp.latents(EVAL_STREAM, exp.config.eval.num_samples))
    if exp.dataset.kind == "points":
        return mode_coverage.evaluate_points(samples, exp.dataset)
    return {}


def write_eval(workdir: Path, step: int, metrics: dict) -> Path:
    out_dir = Path(workdir) / "eval"
    out_dir.mkdir(exist_ok=True)
    path = out_dir / f"step_{step:09d}.json"
    atomic_write_text(path, json.dumps({"step": step, **metrics}, indent=2) + "\n")
    return path


def evaluate(workdir: str | Path, num_samples: int | None = None) -> dict:
    """Evaluate the latest intact checkpoint of `workdir`; print and save the metrics as JSON."""
    exp, state, step = restore_run(workdir)
    if num_samples:
        exp.config.eval.num_samples = num_samples
    metrics = evaluate_state(exp, state)
    path = write_eval(Path(workdir), step, metrics)
    logging.info("Evaluation of step %d written to %s", step, path)
    return {"step": step, **metrics}
