"""Issue 16's defects, one test each (the CLI's bad invocations are tests/test_cli_errors.py, the
interrupted runs tests/test_faults.py): user files are never replaced, one process per
workdir, non-finite training stops, damaged meta is skipped, history is logged once."""
from __future__ import annotations

import json
import re
import os
import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from conftest import constant_learning_rates, tiny_config
from jaxgan import evaluate, sample, workdir as workdir_lib
from jaxgan.checkpoint import Checkpointer
from jaxgan.config import load_config_file, validate
from jaxgan.train import train
from jaxgan.workdir import Diverged, RunError


def _small():
    c = constant_learning_rates(tiny_config())
    c.viz.every_steps = 0
    return c


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 6-step run with checkpoints at 3 and 6 (copy it before changing it)."""
    path = tmp_path_factory.mktemp("hardening") / "run"
    train(_small(), path)
    return path


def _copy(trained, tmp_path) -> Path:
    shutil.copytree(trained, tmp_path / "run")
    return tmp_path / "run"


# 1, 2: outputs -----------------------------------------------------------------------------

def test_sample_never_overwrites_and_uses_temporaries_of_its_own(trained, tmp_path):
    keep = tmp_path / "x.npz"
    keep.write_text("keep")
    (tmp_path / "foo.tmp.npz").write_text("theirs")  # the old fixed temporary name
    with pytest.raises(RunError, match="already exists and jaxgan never overwrites"):
        sample.sample(trained, 5, keep)
    assert keep.read_text() == "keep"
    out = sample.sample(trained, 5, tmp_path / "foo.npz")
    assert np.load(out)["points"].shape == (5, 2)
    assert (tmp_path / "foo.tmp.npz").read_text() == "theirs"
    assert sorted(os.listdir(tmp_path)) == ["foo.npz", "foo.tmp.npz", "x.npz"]


def test_new_output_refuses_to_replace_and_cleans_up(tmp_path):
    (tmp_path / "out.tmp").mkdir()  # someone's folder of the old temporary name
    (tmp_path / "out.tmp" / "a").write_text("mine")
    with workdir_lib.new_output(tmp_path / "out", directory=True) as tmp:
        (tmp / "000.png").write_text("png")
    assert (tmp_path / "out" / "000.png").is_file() and (tmp_path / "out.tmp" / "a").read_text() == "mine"
    with pytest.raises(OSError, match="disk full"), workdir_lib.new_output(tmp_path / "f.npz") as tmp:
        tmp.write_text("part")
        raise OSError("disk full")
    with pytest.raises(RunError, match="appeared while it was being written"):
        with workdir_lib.new_output(tmp_path / "g.npz") as tmp:
            (tmp_path / "g.npz").write_text("someone else's, meanwhile")
    assert (tmp_path / "g.npz").read_text() == "someone else's, meanwhile"
    assert sorted(os.listdir(tmp_path)) == ["g.npz", "out", "out.tmp"]  # no temporaries left


# 3: image folders with links ----------------------------------------------------------------

def test_symlink_loops_are_scanned_once(tmp_path):
    from jaxgan.data import folder

    d = tmp_path / "d"
    (d / "sub").mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(d / "a.png")
    os.symlink("..", d / "sub" / "a")
    os.symlink("..", d / "sub" / "b")
    os.symlink("../a.png", d / "sub" / "same.png")
    files = folder._Files(d, "none")
    assert [p.name for p in files.paths] == ["a.png"]


# 4: one process per workdir ------------------------------------------------------------------

def test_second_trainer_and_sampler_are_refused_naming_the_holder(trained, tmp_path):
    run = _copy(trained, tmp_path)
    before = sorted(p.name for p in run.iterdir())
    with workdir_lib.lock(run, "train"):
        with pytest.raises(RunError, match=rf"in use by pid {os.getpid()} on host .* \(train\) since"):
            train(_small(), run)
        with pytest.raises(RunError, match="in use by pid"):
            sample.sample(run, 5, tmp_path / "s.npz")
    with workdir_lib.lock(run, "eval", exclusive=False), workdir_lib.lock(run, "sample", exclusive=False):
        with pytest.raises(RunError, match=r"in use by .*\(sample\)"):  # readers share, trainers wait
            with workdir_lib.lock(run, "train"):
                pass
    assert sorted(p.name for p in run.iterdir()) == before  # the lock file went with its last holder
    assert not (tmp_path / "s.npz").exists()


# 5: damaged meta ---------------------------------------------------------------------------

def test_damaged_meta_of_the_newest_step_is_skipped(trained, tmp_path):
    from jaxgan.experiment import restore_run

    run = _copy(trained, tmp_path)
    deleted = tmp_path / "deleted"
    shutil.copytree(run, deleted)
    (deleted / "checkpoints" / "6" / "meta" / "metadata").unlink()
    os.truncate(run / "checkpoints" / "6" / "meta" / "metadata", 50)
    for workdir in (deleted, run):
        assert restore_run(workdir)[2] == 3  # read-only commands move nothing
        assert (workdir / "checkpoints" / "6").is_dir()
    train(_small(), run)  # resumes from 3, redoes 4..6
    assert (run / "checkpoints_damaged" / "6").is_dir()
    with Checkpointer(run / "checkpoints") as ckpt:
        assert ckpt.newest_meta()[1] == 6


def test_every_file_of_a_checkpoint_is_covered(tmp_path, capfd):
    """Damage each file of the newest step in turn: the restore gives that step's exact values
    or falls back to the step before, never wrong values, never a crash."""
    tree = {"w": jnp.arange(64.0).reshape(8, 8), "b": jnp.ones(3, jnp.int32)}
    src = tmp_path / "src"
    with Checkpointer(src, async_save=False) as ckpt:
        ckpt.save(1, jax.tree.map(lambda x: x + 1, tree), {"config": {"a": 1}})
        ckpt.save(2, tree, {"config": {"a": 2}})
    files = [p.relative_to(src) for p in (src / "2").rglob("*") if p.is_file()]
    assert len(files) >= 5
    for k, rel in enumerate(files):
        work = tmp_path / f"w{k}"
        shutil.copytree(src, work)
        target = work / rel
        raw = target.read_bytes()
        target.write_bytes(raw[: len(raw) // 2] + bytes(b ^ 0x55 for b in raw[len(raw) // 2:]))
        with Checkpointer(work) as ckpt:
            state, meta, step = ckpt.restore_latest(jax.eval_shape(lambda: tree))
            newest = ckpt.newest_meta()
        expected = tree if step == 2 else jax.tree.map(lambda x: x + 1, tree)
        assert meta == {"config": {"a": step}}, rel
        for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(expected)):
            np.testing.assert_array_equal(a, b, err_msg=str(rel))
        assert newest[0] == {"config": {"a": newest[1]}}, rel
    assert "Event loop is closed" not in capfd.readouterr().err  # defect 13's noise


# 6: non-finite values ---------------------------------------------------------------------

def test_diverging_run_stops_with_exit_3(tmp_path, capsys):
    import launch

    code = launch.run(["launch.py", "--config=configs/gan2d.py:grid,tiny", "--config.train.parallel=single",
                       "--config.optimizer.critic.lr=1e30", "--config.optimizer.generator.lr=1e30",
                       f"--workdir={tmp_path / 'run'}"])
    err = capsys.readouterr().err
    assert code == launch.DIVERGED, err
    line = [x for x in err.splitlines() if x.startswith("error: ")][0]
    assert re.search(r"training diverged at step [12] ", line) and "Lower the learning rates" in line
    with pytest.raises(Diverged, match="non-finite values"), Checkpointer(tmp_path / "nan") as ckpt:
        ckpt.save(1, {"w": jnp.array([1.0, jnp.nan])}, {})
    assert not (tmp_path / "nan" / "1").exists()


def test_non_finite_step_keeps_the_last_finite_checkpoint(tmp_path, monkeypatch):
    from jaxgan import parallel

    make = parallel.make_executor

    def poisoned(*args, **kwargs):  # from step 4 on, the parameters and losses turn NaN
        executor = make(*args, **kwargs)
        inner = executor.step

        def step(state, batch):
            state, metrics = inner(state, batch)
            if int(state.step) >= 4:
                state = jax.tree.map(lambda x: x * jnp.nan if jnp.issubdtype(x.dtype, jnp.floating) else x, state)
                metrics = {k: v * jnp.nan for k, v in metrics.items()}
            return state, metrics

        executor.step = step
        return executor

    monkeypatch.setattr(parallel, "make_executor", poisoned)
    c = _small()
    c.checkpoint.every_steps = 1
    with pytest.raises(Diverged, match=r"training diverged at step 4 .*d_loss = nan.*last finite checkpoint is step 3"):
        train(c, tmp_path / "run")
    with Checkpointer(tmp_path / "run" / "checkpoints") as ckpt:
        assert ckpt.all_steps()[-1] == 3


def test_non_finite_samples_are_an_error_not_a_file(trained, tmp_path, monkeypatch):
    from jaxgan.experiment import Experiment

    monkeypatch.setattr(Experiment, "generate", lambda self, state, z, labels=None: np.full((len(z), 2), np.nan, np.float32))
    with pytest.raises(Diverged, match="draws non-finite samples"):
        sample.sample(trained, 5, tmp_path / "nan.npz")
    before = sorted(os.listdir(trained / "eval"))
    with pytest.raises(Diverged):
        evaluate.evaluate(trained)
    assert not (tmp_path / "nan.npz").exists() and sorted(os.listdir(trained / "eval")) == before


# 7: each step logged once --------------------------------------------------------------------

def test_reruns_and_restarts_log_each_step_once(trained, tmp_path):
    run = _copy(trained, tmp_path)
    rows = lambda: [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    first = rows()
    train(_small(), run)  # a finished run: nothing to do, nothing logged again
    assert rows() == first
    shutil.move(run / "checkpoints", tmp_path / "aside")  # start over in the same workdir
    with (run / "metrics.jsonl").open("a") as f:
        f.write('{"step": 4, "d_lo')  # a row cut short by a killed write
    train(_small(), run)
    steps = [r["step"] for r in rows() if "d_loss" in r]
    assert steps == sorted(set(steps)) == [r["step"] for r in first if "d_loss" in r]
    from tensorboard.backend.event_processing import event_file_loader
    from tensorboard.compat.proto import event_pb2

    tb = [(e.step, v.tag) for p in sorted((run / "tensorboard").glob("events.*"))
          for raw in event_file_loader.RawEventFileLoader(str(p)).Load()
          for e in [event_pb2.Event.FromString(raw)] for v in e.summary.value if v.tag == "d_loss"]
    assert sorted(tb) == sorted(set(tb)) and {s for s, _ in tb} == set(steps)


# 9: --mode=eval keeps the training's evaluation ----------------------------------------------

def test_eval_mode_keeps_the_training_evaluation(trained, tmp_path):
    run = _copy(trained, tmp_path)
    training = (run / "eval" / "step_000000006.json").read_bytes()
    evaluate.evaluate(run, num_samples=100)
    evaluate.evaluate(run, num_samples=100)
    assert (run / "eval" / "step_000000006.json").read_bytes() == training
    assert {"eval_step_000000006.json", "eval_step_000000006-2.json"} <= set(os.listdir(run / "eval"))


# 14: a run's config.json is a config ---------------------------------------------------------

def test_a_runs_config_json_loads_as_a_config(trained):
    c = load_config_file(str(trained / "config.json"))
    assert validate(c).train.steps == 6 and c.name == _small().name


# 15: failed starts leave nothing behind ------------------------------------------------------

def test_a_start_that_fails_before_its_first_step_leaves_nothing(tmp_path, monkeypatch):
    from jaxgan import train as train_lib

    def broken(*args, **kwargs):  # the first step's compilation fails
        raise MemoryError("out of memory while compiling")

    monkeypatch.setattr(train_lib, "_loop", broken)
    with pytest.raises(MemoryError):
        train(_small(), tmp_path / "a" / "new")
    assert os.listdir(tmp_path) == []
    (tmp_path / "mine").mkdir()
    with pytest.raises(MemoryError):
        train(_small(), tmp_path / "mine")
    assert os.listdir(tmp_path / "mine") == []


# 13: no noise around a damaged checkpoint ----------------------------------------------------

def test_reads_abandoned_by_a_failed_restore_print_nothing():
    import asyncio

    import jaxgan.checkpoint  # noqa: F401  (installs the loop policy)

    loop = asyncio.new_event_loop()  # what orbax makes for each restore
    loop.close()
    assert loop.call_soon_threadsafe(lambda: None) is None  # was: RuntimeError, printed by tensorstore


# 12: tfds without network -------------------------------------------------------------------

def test_offline_tfds_says_so_within_seconds(monkeypatch):
    import socket
    import time

    from jaxgan.data import DataError, tfds

    def unreachable(*args, **kwargs):
        raise OSError("Network is unreachable")

    class Builder:  # a dataset that is not prepared here
        name, data_dir = "cifar10", "/nowhere"
        info = type("Info", (), {"full_name": "cifar10/3.0.2"})

        def as_data_source(self, split):
            raise FileNotFoundError(split)

        def is_prepared(self):
            return False

        def download_and_prepare(self, **kwargs):
            raise AssertionError("must not try to download")

    monkeypatch.setattr(socket, "create_connection", unreachable)
    t = time.perf_counter()
    with pytest.raises(DataError, match=r"no network access.*tfds build cifar10.*data.source=folder"):
        tfds._data_source(Builder(), "train")
    assert time.perf_counter() - t < 5


# 8: data that moved -------------------------------------------------------------------------

def test_a_run_whose_data_moved_samples_and_evaluates_with_a_new_path(tmp_path, capsys):
    import launch

    data = tmp_path / "data"
    data.mkdir()
    for k in range(8):
        Image.fromarray(np.full((4, 4), 30 * k, np.uint8)).save(data / f"{k}.png")
    c = _small()
    c.data.update(source="folder", name="", path=str(data), image_size=4, channels=1)
    c.eval.features, c.eval.num_samples, c.train.batch_size = "none", 8, 4
    train(c, tmp_path / "run")
    data.rename(tmp_path / "moved")
    out = sample.sample(tmp_path / "run", 3, tmp_path / "s.npz")  # sampling needs no data
    assert np.load(out)["images"].shape == (3, 4, 4, 1)
    args = ["launch.py", "--mode=eval", f"--workdir={tmp_path / 'run'}"]
    assert launch.run(args) == 2 and "data" in capsys.readouterr().err
    assert launch.run(args + [f"--config.data.path={tmp_path / 'moved'}"]) == 0, capsys.readouterr().err
