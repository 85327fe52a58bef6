"""Every user mistake is one clear line: bad invocations of launch.py, jaxgan.report and
jaxgan.evaluate_cli each exit with the documented code (2; docs/running.md#exit-codes), print one
`error:` line naming what is wrong and what to do, no traceback, and create or change no file.

The CLIs' `main` runs in this process (a subprocess that imports JAX costs seconds); two rows
also run as real subprocesses to show that the in-process path is what a user gets."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, tiny_config
from jaxgan import workdir as workdir_lib

import launch  # noqa: E402  (ROOT is on sys.path: conftest)
from jaxgan import evaluate_cli, report  # noqa: E402

BAD_UTF8 = os.fsdecode(b"run-\xff")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """One trained tiny 2D run and the odd files the rows point at."""
    from jaxgan.train import train

    root = tmp_path_factory.mktemp("cli")
    c = tiny_config()
    c.train.steps, c.checkpoint.every_steps, c.viz.every_steps, c.eval.every_steps = 2, 2, 0, 0
    train(c, root / "run")
    (root / "empty").mkdir()
    (root / "afile").write_text("not a folder\n")
    (root / "theirs").mkdir()
    (root / "theirs" / "notes.txt").write_text("mine\n")
    (root / "keep.npz").write_text("keep\n")
    (root / "full").mkdir()
    (root / "full" / "x.png").write_text("mine\n")
    (root / "empty.py").write_text("")
    (root / "syntax.py").write_text("def get_config(:\n")
    (root / "raises.py").write_text("def get_config():\n    return {}['missing']\n")
    (root / "plain.py").write_text("def get_config():\n    return {'a': 1}\n")
    (root / "bad.json").write_text("{not json")
    (root / "broken").mkdir()
    (root / "broken" / "config.json").write_text("{\"train\": ")
    (root / "badrows").mkdir()
    (root / "badrows" / "config.json").write_text("{}")
    (root / "badrows" / "metrics.jsonl").write_text('{"step": 1, "d_loss": 1.0}\n[1, 2]\n{"step": 3}\n')
    return root


def listing(root: Path) -> dict:
    """Every file with its size and mtime, every folder by name (a lock file that came and went
    changes a folder's mtime, never a file)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            out[os.path.relpath(os.path.join(dirpath, name), root)] = "dir"
        for name in filenames:
            st = os.stat(os.path.join(dirpath, name))
            out[os.path.relpath(os.path.join(dirpath, name), root)] = (st.st_size, st.st_mtime_ns)
    return out


def _launch(args):
    return launch.run(["launch.py", *args])


def _report(args):
    return report.main(args)


def _evaluate(args):
    return evaluate_cli.main(["evaluate_cli", *args])


CLIS = {"launch": _launch, "report": _report, "evaluate": _evaluate}
TINY = "--config=configs/gan2d.py:grid,tiny"
# (cli, arguments ({r}: the fixture's folder), what the one line must say)
ROWS = [
    # launch.py: config files
    ("launch", ["--config=configs", "--workdir={r}/new"], r"'configs' is a folder; give a config file"),
    ("launch", ["--config=nope.py", "--workdir={r}/new"], r"'nope.py' not found"),
    ("launch", ["--config={r}/empty.py", "--workdir={r}/new"], r"defines no get_config\(\)"),
    ("launch", ["--config={r}/syntax.py", "--workdir={r}/new"], r"line 1: SyntaxError.*fix the file"),
    ("launch", ["--config={r}/raises.py", "--workdir={r}/new"], r"get_config\(\) of .* failed \(KeyError"),
    ("launch", ["--config={r}/plain.py", "--workdir={r}/new"], r"returned dict, not a ConfigDict"),
    ("launch", ["--config={r}/bad.json", "--workdir={r}/new"], r"not a run's config.json"),
    # launch.py: config values and flags
    ("launch", [TINY, "--config.optimizer.critic.lr=nan", "--workdir={r}/new"], r"optimizer.critic.lr = nan: must be a finite float"),
    ("launch", [TINY, "--config.optimizer.generator.lr=inf", "--workdir={r}/new"], r"optimizer.generator.lr = inf: must be a finite"),
    ("launch", [TINY, "--config.loss.r1_penalty=-inf", "--workdir={r}/new"], r"loss.r1_penalty = -inf"),
    ("launch", [TINY, "--config.train.steps=0", "--workdir={r}/new"], r"train.steps = 0: must be int >= 1"),
    ("launch", [TINY, "--config.train.stepz=3", "--workdir={r}/new"], r"did you mean --config.train.steps"),
    ("launch", [TINY, "--config.train.steps=abc", "--workdir={r}/new"], r"train.steps"),
    ("launch", [TINY, "--config.loss.name=bogus", "--workdir={r}/new"], r"loss.name = 'bogus': must be one of"),
    ("launch", [TINY, "--config.model.critic.pack=3", "--workdir={r}/new"], r"batch_size = 100 must be a multiple"),
    ("launch", [TINY, "--config.model.critic.conditioning=auxiliary", "--workdir={r}/new"], r"conditioning"),
    ("launch", [TINY, "--config.data.source=folder", "--config.data.path={r}/gone", "--workdir={r}/new"], r"gone"),
    ("launch", ["--mode=foo"], r"--mode=foo: value should be one of"),
    ("launch", ["--num_samples=abc"], r"--num_samples=abc"),
    ("launch", [TINY, "--workdir={r}/new", "stray"], r"unexpected arguments \['stray'\]"),
    # launch.py: workdirs
    ("launch", [TINY, "--workdir={r}/afile"], r"is a file, not a folder"),
    ("launch", [TINY, "--workdir={r}/theirs"], r"holds no jaxgan run \(it has notes.txt\)"),
    ("launch", [TINY, "--workdir={r}/broken"], r"config.json' is damaged or not a jaxgan config"),
    ("launch", [TINY, "--workdir={r}/" + BAD_UTF8], r"not valid UTF-8"),
    ("launch", [TINY, "--config.model.z_dim=5", "--workdir={r}/run"], r"different config \(model.z_dim: checkpoint has 8, now 5[;)]"),
    ("launch", [TINY, "--workdir={r}/run", "LOCKED"], r"in use by pid \d+ on host .* since"),
    # launch.py --mode=sample
    ("launch", ["--mode=sample", "--output={r}/s.npz"], r"needs --workdir"),
    ("launch", ["--mode=sample", "--workdir={r}/run"], r"needs --output"),
    ("launch", ["--mode=sample", "--workdir={r}/run", "--output={r}/keep.npz"], r"already exists and jaxgan never overwrites"),
    ("launch", ["--mode=sample", "--workdir={r}/run", "--output={r}/full"], r"already exists"),
    ("launch", ["--mode=sample", "--workdir={r}/run", "--output={r}/pngs"], r"PNG folders are for image runs"),
    ("launch", ["--mode=sample", "--workdir={r}/run", "--output={r}/s.npz", "--num_samples=0"], r"--num_samples=0: must be >= 1"),
    ("launch", ["--mode=sample", "--workdir={r}/missing", "--output={r}/s.npz"], r"is not a folder; pass the --workdir of a trained run"),
    ("launch", ["--mode=sample", "--workdir={r}/empty", "--output={r}/s.npz"], r"no checkpoints in .*train first"),
    ("launch", ["--mode=sample", "--workdir={r}/run", "--output={r}/s.npz", "--config.train.steps=3"], r"--config and --config.\* do not apply"),
    ("launch", ["--mode=sample", "--workdir={r}/run", "--output={r}/s.npz", "LOCKED"], r"in use by pid"),
    # launch.py --mode=eval
    ("launch", ["--mode=eval", "--workdir={r}/run", "--num_samples=0"], r"--num_samples=0: an evaluation needs >= 2"),
    ("launch", ["--mode=eval", "--workdir={r}/run", "--num_samples=-5"], r"--num_samples=-5"),
    ("launch", ["--mode=eval", "--workdir={r}/run", "--checkpoint=best"], r"no best checkpoint"),
    ("launch", ["--mode=eval", "--workdir={r}/run", "--checkpoint=bogus"], r"--checkpoint=bogus"),
    ("launch", ["--mode=eval", "--workdir={r}/run", "LOCKED"], r"in use by pid"),
    # python -m jaxgan.report
    ("report", [], r"required: workdirs, --out"),
    ("report", ["{r}/empty", "--out={r}/rep"], r"not a run directory \(no config.json or metrics.jsonl\)"),
    ("report", ["{r}/missing", "--out={r}/rep"], r"not a run directory"),
    ("report", ["{r}/run", "--out={r}/afile"], r"is a file; give a folder"),
    ("report", ["{r}/run", "--out={r}/theirs"], r"not a jaxgan report; nothing was written"),
    ("report", ["{r}/badrows", "--out={r}/rep"], r"metrics.jsonl' line 2 is not a metrics row"),
    ("report", ["{r}/run", "--out={r}/" + BAD_UTF8], r"not valid UTF-8"),
    # python -m jaxgan.evaluate_cli
    ("evaluate", [], r"no command given"),
    ("evaluate", ["bogus"], r"cannot understand 'bogus'"),
    ("evaluate", ["run"], r"cannot understand 'run'"),
    ("evaluate", ["run", "{r}/missing"], r"is not a folder"),
    ("evaluate", ["run", "{r}/run", "--num_samples=1"], r"needs >= 2 samples"),
    ("evaluate", ["floor"], r"floor needs --config"),
    ("evaluate", ["stats", TINY], r"stats needs --out=FILE.npz"),
    ("evaluate", ["stats", TINY, "--out={r}/keep.npz"], r"keep.npz' already exists"),
    ("evaluate", ["stats", "--config={r}/syntax.py", "--out={r}/s.npz"], r"SyntaxError"),
    ("evaluate", ["--num=x", "floor", TINY], r"--num=x"),
]


@pytest.mark.parametrize("cli, args, pattern", ROWS, ids=[f"{c}:{' '.join(a)}"[:70] for c, a, _ in ROWS])
def test_bad_invocation(root, capsys, cli, args, pattern):
    locked = "LOCKED" in args
    args = [a.replace("{r}", str(root)) for a in args if a != "LOCKED"]
    before = listing(root)
    if locked:  # a trainer holds the run (an open file description of our own conflicts too)
        with workdir_lib.lock(root / "run", "train"):
            code = CLIS[cli](args)
    else:
        code = CLIS[cli](args)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and len(err.strip().splitlines()) == 1, err
    import re
    assert re.search(pattern, lines[0]), lines[0]
    assert listing(root) == before


@pytest.mark.parametrize("cmd, in_process", [
    ([sys.executable, str(ROOT / "launch.py"), TINY, "--config.optimizer.critic.lr=nan", "--workdir={r}/new"],
     lambda r: _launch([TINY, "--config.optimizer.critic.lr=nan", f"--workdir={r}/new"])),
    ([sys.executable, "-m", "jaxgan.report", "{r}/empty", "--out={r}/rep"],
     lambda r: _report([f"{r}/empty", f"--out={r}/rep"])),
], ids=["launch", "report"])
def test_subprocess_matches_in_process(root, capsys, cmd, in_process):
    before = listing(root)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    real = subprocess.run([a.replace("{r}", str(root)) for a in cmd], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    code = in_process(root)
    err = capsys.readouterr().err
    assert (real.returncode, real.stderr.strip().splitlines()[-1:]) == (code, err.strip().splitlines())
    assert listing(root) == before
