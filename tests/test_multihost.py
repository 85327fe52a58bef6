"""Two processes joined by jax.distributed (one CPU device each, gloo collectives), each feeding
only its slice of the global batch, train to the same parameters as one process."""
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT

TIMEOUT_S = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("XLA_FLAGS", "JAXGAN_COORDINATOR", "JAXGAN_NUM_PROCESSES", "JAXGAN_PROCESS_ID")}
    env.update(PYTHONPATH=os.pathsep.join([str(ROOT / "tests"), str(ROOT)]), JAX_PLATFORMS="cpu",
               TF_CPP_MIN_LOG_LEVEL="3", **extra)
    return env


def _start(out, **env):
    return subprocess.Popen([sys.executable, str(ROOT / "tests" / "multihost_worker.py"), str(out)],
                            env=_env(**env), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def test_two_processes_match_one(tmp_path):
    port = _free_port()
    procs = {"reference": _start(tmp_path / "reference.json")}
    for i in range(2):
        procs[f"process{i}"] = _start(tmp_path / f"process{i}.json", JAXGAN_COORDINATOR=f"localhost:{port}",
                                      JAXGAN_NUM_PROCESSES="2", JAXGAN_PROCESS_ID=str(i))
    logs = {}
    try:
        for name, p in procs.items():
            logs[name], _ = p.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"multi-host workers did not finish within {TIMEOUT_S} s")
    finally:
        for p in procs.values():  # only the processes this test started
            if p.poll() is None:
                p.kill()
                p.wait()
    for name, p in procs.items():
        assert p.returncode == 0, f"{name} failed:\n{logs.get(name, '')[-3000:]}"

    results = {name: json.loads((tmp_path / f"{name}.json").read_text()) for name in procs}
    ref = results["reference"]
    assert ref["process_count"] == 1 and ref["num_devices"] == 1
    for i in range(2):
        got = results[f"process{i}"]
        assert (got["process_index"], got["process_count"]) == (i, 2)
        assert got["num_devices"] == 2 and got["local_devices"] == 1
        assert got["metrics"].keys() == ref["metrics"].keys()
        for key, value in ref["metrics"].items():
            np.testing.assert_allclose(got["metrics"][key], value, rtol=1e-4, atol=1e-5,
                                       err_msg=f"process {i} metric {key}")
        assert len(got["leaves"]) == len(ref["leaves"])
        for a, b in zip(ref["leaves"], got["leaves"]):
            np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5, err_msg=f"process {i}")


def _launch(workdir, steps: int, **env):
    # Tiny grid recipe with SGD and constant rates, so parameter differences measure gradient
    # differences and train.steps can grow between sessions.
    args = ["--config=configs/gan2d.py:grid,tiny", f"--workdir={workdir}", "--config.train.progress_bar=False",
            f"--config.train.steps={steps}", "--config.train.batch_size=16", "--config.viz.every_steps=0",
            *[f"--config.optimizer.{n}.{k}={v}" for n in ("generator", "critic")
              for k, v in (("name", "sgd"), ("lr", 0.05), ("b1", 0.0), ("schedule", "constant"))]]
    return subprocess.Popen([sys.executable, str(ROOT / "launch.py"), *args], env=_env(**env), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait(procs):
    logs = {}
    try:
        for name, p in procs.items():
            logs[name], _ = p.communicate(timeout=TIMEOUT_S)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
    for name, p in procs.items():
        assert p.returncode == 0, f"{name} failed:\n{logs[name][-3000:]}"


def test_trainer_across_two_processes_writes_once_and_matches_one(tmp_path):
    """The whole launcher: process 0 alone writes the run; it resumes across processes; the
    result equals a one-process run."""
    import jax

    from jaxgan.experiment import restore_run

    port = _free_port()
    two = lambda steps: {f"p{i}": _launch(tmp_path / "two", steps, JAXGAN_COORDINATOR=f"localhost:{port}",
                                          JAXGAN_NUM_PROCESSES="2", JAXGAN_PROCESS_ID=str(i))
                         for i in range(2)}
    _wait({**two(3), "one": _launch(tmp_path / "one", 6)})
    port = _free_port()
    _wait(two(6))  # resumes from process 0's checkpoint at step 3
    rows = [json.loads(r) for r in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "d_loss" in r] == [2, 3, 4, 6]  # once each, not per process
    assert sorted(p.name for p in (tmp_path / "two" / "checkpoints").iterdir()) == ["3", "6"]
    (_, a, a_step), (_, b, b_step) = restore_run(tmp_path / "one"), restore_run(tmp_path / "two")
    assert a_step == b_step == 6
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(y), np.asarray(x), rtol=1e-4, atol=1e-5)
