"""End to end: tiny runs of every config, resume, signals, damaged and incompatible checkpoints."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from conftest import ROOT, constant_learning_rates, run_launch, tiny_config
from jaxgan import evaluate, sample
from jaxgan.checkpoint import Checkpointer
from jaxgan.experiment import Experiment, RunError
from jaxgan.train import train


def final_state(workdir, config):
    with Checkpointer(Path(workdir) / "checkpoints") as ckpt:
        state, meta, step = ckpt.restore_latest(Experiment.build(config).abstract_state())
    return jax.device_get(state), step


def assert_same_state(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("arg", ["grid,tiny", "ring,tiny", "gaussian,tiny"])
def test_tiny_run_writes_every_output(tmp_path, arg):
    c = tiny_config(arg)
    metrics = train(c, tmp_path)
    expected_metric = "frechet_distance" if arg.startswith("gaussian") else "modes_covered"
    assert expected_metric in metrics
    for name in ("config.json", "metrics.jsonl", "parameters.txt", "losses.png", "training.gif"):
        assert (tmp_path / name).is_file(), name
    assert sorted(p.name for p in (tmp_path / "samples").glob("*.png")) == [
        "step_000000003.png", "step_000000006.png"]
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert {"d_loss", "g_loss", "steps_per_s"} <= set(rows[0])
    assert json.loads((tmp_path / "eval" / "step_000000006.json").read_text())[expected_metric] >= 0
    _, step = final_state(tmp_path, c)
    assert step == 6


def test_resume_gives_same_parameters_as_uninterrupted(tmp_path):
    # Extending train.steps is allowed with constant rates (a decaying schedule pins it; the
    # killed-run tests below resume the recipe's own cosine schedule). With the extensions that
    # keep state in the players (EMA, replay buffer) and draw per example (DiffAugment, noise),
    # on 8x8 images, through the trainer's donated step.
    c = constant_learning_rates(tiny_config())
    c.data.update(source="synthetic", name="shapes", image_size=8, channels=1, num_examples=64)
    c.augment.diffaugment, c.augment.instance_noise = "color,translation,cutout", 0.05
    c.ema.decay, c.replay.size = 0.9, 2 * c.train.batch_size
    train(c, tmp_path / "straight")
    c.train.steps = 3
    train(c, tmp_path / "resumed")
    c.train.steps = 6
    train(c, tmp_path / "resumed")
    a, _ = final_state(tmp_path / "straight", c)
    b, _ = final_state(tmp_path / "resumed", c)
    assert_same_state(a, b)


def _flip_bytes(step_dir: Path) -> None:
    # Flip bytes spread over every OCDBT data file: a file also holds regions restore never
    # reads, so a single flip may miss the arrays (test_checkpoint.py covers a silent single
    # flip inside array content on larger arrays).
    for data in [p for p in (step_dir / "state").rglob("*") if p.is_file() and p.parent.name == "d"]:
        raw = bytearray(data.read_bytes())
        for i in range(len(raw) // 10, len(raw), 97):
            raw[i] ^= 0xFF
        data.write_bytes(bytes(raw))


def test_damaged_latest_checkpoint_falls_back(tmp_path, caplog):
    c = tiny_config()
    train(c, tmp_path / "straight")
    train(c, tmp_path / "damaged")
    _flip_bytes(tmp_path / "damaged" / "checkpoints" / "6")
    c.train.steps = 6
    train(c, tmp_path / "damaged")  # resumes from step 3 and redoes 4..6
    assert (tmp_path / "damaged" / "checkpoints_damaged" / "6").is_dir()
    assert any("6" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)
    assert_same_state(final_state(tmp_path / "straight", c)[0], final_state(tmp_path / "damaged", c)[0])


def test_incompatible_config_is_refused_and_nothing_changes(tmp_path):
    c = tiny_config()
    train(c, tmp_path)
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    saved_z_dim, c.model.z_dim = c.model.z_dim, 5
    c.train.steps = 9
    with pytest.raises(RunError, match=f"model.z_dim: checkpoint has {saved_z_dim}, now 5"):
        train(c, tmp_path)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")} == before


def test_exception_saves_a_final_checkpoint(tmp_path, monkeypatch):
    from jaxgan.data import toy2d

    original = toy2d.GaussianMixture.batches

    def failing(self, *args, **kwargs):
        for i, batch in enumerate(original(self, *args, **kwargs)):
            if i == 4:
                raise OSError("disk went away")
            yield batch

    monkeypatch.setattr(toy2d.GaussianMixture, "batches", failing)
    c = tiny_config()
    c.checkpoint.every_steps = 100
    with pytest.raises(OSError, match="disk went away"):
        train(c, tmp_path)
    # Batches 0-3 were consumed; the prefetcher hit the failure while step 4 was being served.
    steps = sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit())
    assert steps and steps[-1] >= 3


def test_sample_and_eval_modes(tmp_path):
    c = tiny_config("ring,tiny")
    train(c, tmp_path / "run")
    out = sample.sample(tmp_path / "run", 50, tmp_path / "points.npz")
    with np.load(out) as f:
        assert f["points"].shape == (50, 2) and f["points"].dtype == np.float32
    metrics = evaluate.evaluate(tmp_path / "run")
    assert metrics["step"] == 6 and metrics["num_modes"] == 8
    with pytest.raises(RunError, match="is not a folder; pass the --workdir of a trained run"):
        sample.sample(tmp_path / "nothing", 5, tmp_path / "x.npz")


# Runs stopped by SIGTERM and killed by SIGKILL (mid-step, mid-save, mid-evaluation,
# mid-snapshot) and resumed: tests/test_faults.py.
