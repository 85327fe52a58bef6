"""The run directory's helpers: atomic writes with a temporary file of their own."""
import os

import pytest

from jaxgan import workdir


def test_atomic_write_replaces_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "config.json"
    target.write_text("old")
    (tmp_path / "config.json.tmp").write_text("someone else's")  # the old fixed temporary name
    workdir.atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert (tmp_path / "config.json.tmp").read_text() == "someone else's"
    assert sorted(os.listdir(tmp_path)) == ["config.json", "config.json.tmp"]


def test_atomic_write_failure_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "config.json"
    target.write_text("old")

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        workdir.atomic_write_text(target, "new")
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["config.json"]


def test_seed_dirs_in_seed_order(tmp_path):
    for s in (10, 2, 1):
        (tmp_path / f"seed_{s}").mkdir()
    (tmp_path / "seed_x").mkdir()
    assert workdir.seed_dirs(tmp_path) == [workdir.seed_workdir(tmp_path, s) for s in (1, 2, 10)]
    with pytest.raises(workdir.RunError, match="multi-seed run"):
        workdir.check_layout(tmp_path, num_seeds=1)
