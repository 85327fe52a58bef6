"""train.schedule = 'alternate_epochs' (seed 003's loop): which player each step trains, the
update counts, the trainer's logging, exact resume in the middle of an epoch, and the errors."""
import json
from pathlib import Path

import jax
import numpy as np
import pytest

from conftest import constant_learning_rates, tiny_config
from jaxgan import data
from jaxgan.checkpoint import Checkpointer
from jaxgan.config import ConfigError, validate
from jaxgan.experiment import Experiment, RunError
from jaxgan.schedule import Schedule
from jaxgan.train import train


def test_an_epoch_is_e_generator_steps_then_e_minus_1_critic_steps():
    s = Schedule("alternate_epochs", epoch=3)
    assert "".join(s.player(i)[0] for i in range(12)) == "gggccgggccgg"
    assert s.updates(5) == (3, 2) and s.updates(10) == (6, 4) and s.updates(12) == (8, 4)
    # Critic steps read the stream's batches in order; generator steps read none.
    assert [s.data_position(i) for i in range(11)] == [0, 0, 0, 0, 1, 2, 2, 2, 2, 3, 4]
    assert Schedule("alternate_steps", n_critic=2).updates(5) == (5, 10)
    assert Schedule("alternate_steps", n_critic=2).data_position(3) == 6


def _epochs(c, epoch_steps):
    c.train.update(schedule="alternate_epochs", epoch_steps=epoch_steps)
    return c


def test_the_default_epoch_is_one_pass_over_the_training_set():
    c = tiny_config()
    c.data.update(source="synthetic", name="shapes", image_size=8, channels=1, num_examples=20)
    c.train.update(schedule="alternate_epochs", batch_size=8)
    assert Schedule.of(c, data.build(c.data, 0)).epoch == 3  # ceil(20 / 8), as len(dataset)
    c.train.batch_size = 32
    with pytest.raises(RunError, match="leaves the critic no update.*epoch_steps"):
        Schedule.of(c, data.build(c.data, 0))
    with pytest.raises(RunError, match="endless stream.*epoch_steps"):
        Experiment.build(_epochs(tiny_config(), 0))  # toy2d points


@pytest.mark.parametrize("key, value, message", [
    ("n_critic", 2, "use train.n_critic = 1"),
    ("reuse_fake", True, "no critic fake batch to reuse"),
    ("epoch_steps", 1, "leaves the critic no update"),
])
def test_settings_the_schedule_cannot_use_are_refused(key, value, message):
    c = _epochs(tiny_config(), 3)
    c.train[key] = value
    with pytest.raises(ConfigError, match=message):
        validate(c)


def _state(workdir, config):
    with Checkpointer(Path(workdir) / "checkpoints") as ckpt:
        state, _, step = ckpt.restore_latest(Experiment.build(config).abstract_state())
    return jax.device_get(state), step


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """7 steps of the 2D recipe's MLPs on 24 synthetic 8x8 images in batches of 8, so the default
    epoch is E = 3: g g g c c | g g (5 generator updates, 2 critic updates)."""
    c = constant_learning_rates(_epochs(tiny_config(), 0))
    c.data.update(source="synthetic", name="shapes", image_size=8, channels=1, num_examples=24)
    c.model.generator.output = "tanh"
    c.train.update(steps=7, batch_size=8)
    c.checkpoint.every_steps, c.eval.every_steps, c.viz.every_steps = 7, 0, 0
    c.eval.features = "none"
    workdir = tmp_path_factory.mktemp("straight")
    train(c, workdir)
    return c, workdir


def test_updates_and_logged_losses_follow_the_schedule(straight):
    c, workdir = straight
    state, step = _state(workdir, c)
    assert step == 7 and int(state.step) == 7
    assert int(state.g.opt[0].count) == 5 and int(state.d.opt[0].count) == 2  # Adam's counters
    rows = {r["step"]: r for r in map(json.loads, (workdir / "metrics.jsonl").read_text().splitlines())
            if "steps_per_s" in r}  # LogScalars' rows (evaluations write rows of their own)
    # Logged at steps 2, 4, 6, 7: the metrics of the player the step trained.
    assert "g_loss" in rows[2] and "d_loss" not in rows[2]
    assert "d_loss" in rows[4] and "g_loss" not in rows[4]
    assert "g_loss" in rows[6] and "g_loss" in rows[7]
    # The evaluation at the end: no feature network, but the pixel distances to the 24
    # training images (eval.nearest_train = auto), as for the emoji flags.
    final = json.loads((workdir / "eval" / "step_000000007.json").read_text())
    assert 0 < final["nearest_train_rms"] <= 2 and final["protocol"]["nearest_train"]["num_train"] == 24


def test_resume_in_the_middle_of_an_epoch_is_exact(straight, tmp_path):
    c, workdir = straight
    c = c.copy_and_resolve_references()
    c.train.steps = 4  # stopped after the critic's first step of the first epoch
    train(c, tmp_path)
    c.train.steps = 7
    train(c, tmp_path)
    a, _ = _state(workdir, c)
    b, _ = _state(tmp_path, c)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)
