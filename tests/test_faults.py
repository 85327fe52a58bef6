"""Fault injection: a run stopped at every kind of moment (SIGTERM in this process, then SIGKILL
of a subprocess mid-step, mid-save, mid-evaluation and mid-snapshot), rerun each time with the
same command, resumes, ends with the parameters of an uninterrupted run, and logs every step to
metrics.jsonl once. One workdir goes through all the moments, so each rerun is the next kill."""
import json
import os
import re
import signal
import subprocess
import sys

import jax
import numpy as np
import pytest

from conftest import ROOT, stop_with_sigterm_after, tiny_config
from jaxgan.checkpoint import Checkpointer
from jaxgan.experiment import Experiment
from jaxgan.train import Interrupted, train
from jaxgan.workdir import LOCK_NAME

STEPS, CKPT, EVERY, LOG = 240, 40, 60, 10
FLAGS = ["--config=configs/gan2d.py:grid,tiny", f"--config.train.steps={STEPS}",
         f"--config.checkpoint.every_steps={CKPT}", f"--config.eval.every_steps={EVERY}",
         f"--config.viz.every_steps={EVERY}", f"--config.train.log_every_steps={LOG}",
         "--config.train.parallel=single"]
# (moment@step, exit code, the step the next run must resume from at the latest)
MOMENTS = [("step@50", -signal.SIGKILL, 40),
           ("save@80", -signal.SIGKILL, 80), ("eval@180", -signal.SIGKILL, 160),
           ("snapshot@180", -signal.SIGKILL, 160)]


def config():
    c = tiny_config()
    c.train.steps, c.checkpoint.every_steps, c.train.log_every_steps = STEPS, CKPT, LOG
    c.eval.every_steps = c.viz.every_steps = EVERY
    return c


def final_state(workdir):
    with Checkpointer(workdir / "checkpoints") as ckpt:
        state, _, step = ckpt.restore_latest(Experiment.build(config()).abstract_state())
    return jax.device_get(state), step


def test_killed_at_every_moment_resumes_to_the_uninterrupted_run(tmp_path, monkeypatch):
    workdir = tmp_path / "run"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    with monkeypatch.context() as patch:  # SIGTERM: a clean stop that saves its step
        stop_with_sigterm_after(25, patch)
        with pytest.raises(Interrupted, match="stopped by signal 15 at step 25; re-run the same command to resume"):
            train(config(), workdir)
    resumed_from = []
    for spec, code, latest in MOMENTS:
        proc = subprocess.run([sys.executable, str(ROOT / "tests" / "fault_worker.py"), spec, *FLAGS,
                               f"--workdir={workdir}"], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == code, (spec, proc.stderr[-3000:])
        resumed_from.append(int(re.findall(r"started at step (\d+)", proc.stderr)[0]))
        assert (workdir / LOCK_NAME).exists()  # a killed holder's lock file: the next run takes it
        with Checkpointer(workdir / "checkpoints") as ckpt:
            assert ckpt.latest_step() <= latest, spec
    assert resumed_from[0] == 25 and all(s > 0 for s in resumed_from), resumed_from
    train(config(), workdir)  # the same command once more, to the end
    train(config(), tmp_path / "straight")
    a, b = final_state(tmp_path / "straight"), final_state(workdir)
    assert a[1] == b[1] == STEPS
    for x, y in zip(jax.tree.leaves(a[0]), jax.tree.leaves(b[0])):
        np.testing.assert_array_equal(x, y)
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    logged = [r["step"] for r in rows if "d_loss" in r]
    evaluated = [r["step"] for r in rows if "modes_covered" in r]
    assert logged == list(range(LOG, STEPS + 1, LOG))
    assert sorted(evaluated) == list(range(EVERY, STEPS + 1, EVERY))
    straight = [json.loads(line) for line in (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()]
    strip = lambda r: {k: v for k, v in r.items() if k != "steps_per_s"}
    assert [strip(r) for r in rows if "d_loss" in r] == [strip(r) for r in straight if "d_loss" in r]
    assert not (workdir / LOCK_NAME).exists()
