"""A run's directory on disk: creating it, writing files into it safely, and its layout.

The bottom layer of the trainer: `experiment`, `seeds`, `train`, `evaluate` and `checkpoint`
all build on it, and it imports nothing of jaxgan, so none of them has to import another just to
write a file or name a seed's directory.

A workdir holds one run (config.json, checkpoints/, metrics.jsonl, ...) or the runs of a
multi-seed run, one complete run per seed in `seed_<s>/`, with `seeds.json` (every seed's final
metrics, their mean and std) and the multi-seed config.json beside them; never both.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

SEEDS_SUMMARY = "seeds.json"


class RunError(RuntimeError):
    """A run cannot start or continue; the message says why and what to do."""


def prepare_workdir(workdir: str | os.PathLike) -> Path:
    """Create the workdir and prove it is writable, before any work is done."""
    path = Path(workdir).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):  # root ignores permission bits: really try
            pass
    except OSError as e:
        raise RunError(f"cannot write to workdir {str(path)!r} ({e.strerror or e}); "
                       "choose another --workdir or fix its permissions") from None
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` so that readers see the old file or the new one, never a part.

    The temporary file gets a fresh name in the target's directory (so `os.replace` is a rename
    on one file system, and two writers never share a temporary file); it is removed if anything
    fails."""
    path = Path(path)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp",
                                     delete=False) as f:
        tmp = Path(f.name)
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def jsonable(metrics: dict) -> dict:
    """Metrics with numpy/JAX scalars turned into Python numbers."""
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in metrics.items()}


def json_default(x):
    """`json.dumps(default=...)` for arrays (as lists) and anything else (as text)."""
    if hasattr(x, "tolist"):
        return x.tolist()
    return str(x)


def seed_workdir(workdir: str | os.PathLike, seed: int) -> Path:
    """The run directory of seed `seed` inside a multi-seed workdir."""
    return Path(workdir) / f"seed_{seed}"


def seed_dirs(workdir: str | os.PathLike) -> list[Path]:
    """The per-seed run directories of a multi-seed workdir, by seed (empty for any other)."""
    path = Path(workdir).expanduser()
    return sorted((p for p in path.glob("seed_*") if p.is_dir() and p.name[5:].isdigit()),
                  key=lambda p: int(p.name[5:]))


def check_layout(workdir: Path, num_seeds: int) -> None:
    """Refuse a workdir that holds the other kind of run (one seed vs several), or a multi-seed
    run with another number of seeds; nothing is changed when it refuses."""
    saved = workdir / "config.json"
    saved_seeds = json.loads(saved.read_text()).get("num_seeds", 1) if saved.is_file() else None
    if num_seeds == 1 and seed_dirs(workdir):
        raise RunError(
            f"workdir {str(workdir)!r} holds a multi-seed run (seed_* directories); nothing was "
            f"changed. Resume it with --config.num_seeds={saved_seeds or len(seed_dirs(workdir))}, "
            "continue one seed with --workdir=<workdir>/seed_<s> --config.seed=<s>, or use a new --workdir.")
    if num_seeds > 1 and (workdir / "checkpoints").is_dir():
        raise RunError(f"workdir {str(workdir)!r} holds a single-seed run; nothing was changed. "
                       "Use a new --workdir for a multi-seed run.")
    if num_seeds > 1 and saved_seeds not in (None, num_seeds):
        raise RunError(f"workdir {str(workdir)!r} holds a run with num_seeds = {saved_seeds}; nothing "
                       f"was changed. Resume with --config.num_seeds={saved_seeds} or use a new --workdir.")
