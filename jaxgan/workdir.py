"""A run's directory on disk: creating it, writing files into it safely, and its layout.

The bottom layer of the trainer: `experiment`, `seeds`, `train`, `evaluate` and `checkpoint`
all build on it, and it imports nothing of jaxgan, so none of them has to import another just to
write a file or name a seed's directory.

Everything a command writes goes through here, so three promises hold for every command:
  * no user file is replaced or deleted: outputs are written under a temporary name that nobody
    else owns (`tempfile` in the target's directory) and moved into place only where nothing
    exists (`publish`) or where the file is the run's own (`atomic_write_text`);
  * one process per workdir: a trainer holds an exclusive lock on it, sampling and evaluation a
    shared one (`lock`); the kernel drops a lock with its process, so a killed run never blocks
    the next one;
  * a run that fails before its first step leaves nothing it created behind (`claim`).

A workdir holds one run (config.json, checkpoints/, metrics.jsonl, ...) or the runs of a
multi-seed run, one complete run per seed in `seed_<s>/`, with `seeds.json` (every seed's final
metrics, their mean and std) and the multi-seed config.json beside them; never both.
"""
from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Iterator

SEEDS_SUMMARY = "seeds.json"
LOCK_NAME = ".jaxgan.lock"
# What jaxgan writes in a run's directory; anything else there is the user's.
RUN_ENTRIES = ("config.json", "checkpoints", "checkpoints_best", "checkpoints_damaged", "metrics.jsonl",
               "tensorboard", "eval", "samples", "parameters.txt", "losses.png", "eval.png",
               "training.gif", SEEDS_SUMMARY, LOCK_NAME)


class RunError(RuntimeError):
    """A run cannot start or continue; the message says why and what to do."""


class Diverged(RunError):
    """Training produced non-finite losses or parameters; nothing non-finite was saved."""


def diverged_advice(checkpoints: Path | None, latest: int | None) -> str:
    kept = (f"the last finite checkpoint is step {latest} in {str(checkpoints)!r}"
            if latest is not None else "no checkpoint was kept")
    return (f"nothing non-finite was saved and {kept}. Lower the learning rates "
            "(--config.optimizer.critic.lr, --config.optimizer.generator.lr) or strengthen the "
            "penalty, and train in a new --workdir")


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
    with new_output(path, replace=True) as tmp:
        Path(tmp).write_text(text)


def _umask() -> int:
    mask = os.umask(0o22)
    os.umask(mask)
    return mask


_UMASK = _umask()  # read once: setting it is process-wide


def _tmp_beside(path: Path, directory: bool = False) -> Path:
    """A new, empty temporary file (or folder) in `path`'s directory that only we use, with the
    permissions a plain open() / mkdir() would give it (tempfile makes them private)."""
    prefix, suffix = f".{path.name}.", ".tmp" + (path.suffix if not directory else "")
    if directory:
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=prefix, suffix=suffix))
        os.chmod(tmp, 0o777 & ~_UMASK)
        return tmp
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=suffix)
    os.fchmod(fd, 0o666 & ~_UMASK)
    os.close(fd)
    return Path(name)


@contextlib.contextmanager
def new_output(path: str | os.PathLike, *, directory: bool = False, replace: bool = False) -> Iterator[Path]:
    """A temporary path to write `path`'s content to; on success it becomes `path`.

    Without `replace`, `path` must not exist (an empty folder may be replaced by a folder): the
    move refuses to overwrite anything, even a file that appeared while we wrote. On failure the
    temporary is removed and `path` is untouched."""
    path = Path(path)
    tmp = _tmp_beside(path, directory)
    try:
        yield tmp
        if replace:
            os.replace(tmp, path)
        elif directory:
            os.rename(tmp, path)  # onto an empty folder only (ENOTEMPTY / ENOTDIR otherwise)
        else:
            os.link(tmp, path)  # fails with EEXIST: never overwrites
            os.unlink(tmp)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
        if isinstance(e, OSError) and e.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR):
            raise RunError(f"{str(path)!r} appeared while it was being written; nothing was "
                           "replaced. Choose another name") from None
        raise


def refuse_existing(path: Path, flag: str) -> None:
    """The one message for an output that exists already."""
    if path.exists() or path.is_symlink():
        raise RunError(f"{flag}={str(path)!r} already exists and jaxgan never overwrites a file; give "
                       "a new name or move the old one away")


# ---------------------------------------------------------------------------------------------
# One process per workdir

def _holder_text(raw: bytes) -> str:
    try:
        h = json.loads(raw.decode())
        return (f"pid {h['pid']} on host {h['host']} ({h['command']}) since {h['since']}")
    except (ValueError, KeyError, UnicodeDecodeError):
        return "another jaxgan process"


@contextlib.contextmanager
def lock(workdir: str | os.PathLike, command: str, *, exclusive: bool = True) -> Iterator[None]:
    """Hold `workdir`'s lock while the block runs: exclusive for a trainer, shared for sampling
    and evaluation (they may run side by side, but never beside a trainer).

    `flock` locks belong to the open file: the kernel releases them when the process ends, even
    by SIGKILL, so a lock file left behind by a killed run is simply taken by the next one. The
    last holder removes the file; a file removed between our open and our lock is opened again.
    """
    path = Path(workdir) / LOCK_NAME
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder_text(os.pread(fd, 4096, 0))
            os.close(fd)
            raise RunError(f"workdir {str(workdir)!r} is in use by {holder}; nothing was changed. "
                           "Wait for it to finish (or stop it), or use another --workdir") from None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    info = {"pid": os.getpid(), "host": socket.gethostname(), "command": command,
            "since": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode(), 0)
    try:
        yield
    finally:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # only the last holder gets it
            os.unlink(path)
        except OSError:
            pass
        os.close(fd)


@contextlib.contextmanager
def reading(workdir: str | os.PathLike, command: str) -> Iterator[Path]:
    """A shared hold on a trained run for `command` (sample, eval): refused while a trainer
    writes there. A run on a read-only disk is read without a lock (nobody can train there)."""
    path = Path(workdir).expanduser()
    if not path.is_dir():
        raise RunError(f"--workdir={str(path)!r} is not a folder; pass the --workdir of a trained run")
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(lock(path, command, exclusive=False))
        except OSError as e:
            if not isinstance(e, PermissionError) and e.errno != errno.EROFS:
                raise
        yield path


class Claim:
    """A trainer's hold on its workdir: what existed before it, so a failed start can be undone."""

    def __init__(self, path: Path):
        self.path = path
        self.fresh = True  # set False once a checkpoint was restored: a resumed run is never undone
        self._created_dirs = [p for p in [path, *path.parents] if not p.exists()]
        self._before = set(os.listdir(path)) if path.is_dir() else set()

    def progressed(self) -> bool:
        """Whether any run under the workdir saved a checkpoint past step 0."""
        return any(p.name.isdigit() and int(p.name) > 0 for c in self.path.rglob("checkpoints")
                   if c.is_dir() for p in c.iterdir())

    def undo(self) -> None:
        """Remove what this run created: entries new in the workdir, then the folders it made."""
        if self.path.is_dir():
            for name in set(os.listdir(self.path)) - self._before:
                entry = self.path / name
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        for d in self._created_dirs:  # innermost first; only while empty
            try:
                d.rmdir()
            except OSError:
                break


@contextlib.contextmanager
def claim(workdir: str | os.PathLike, num_seeds: int) -> Iterator[Claim]:
    """Create `workdir` if needed, check it holds a run this command may continue (or nothing),
    lock it, and yield a `Claim`. If the block fails while the claim is fresh and no checkpoint
    past step 0 exists, everything the block created is removed (the lock is released last)."""
    path = Path(workdir).expanduser()
    check_layout(path, num_seeds)  # before creating anything
    c = Claim(path)
    prepare_workdir(path)
    try:
        with lock(path, "train"):
            try:
                yield c
            except BaseException:
                if c.fresh and not c.progressed():
                    c.undo()
                raise
    except BaseException:
        if c.fresh and not c.progressed() and c._created_dirs:
            c.undo()  # the lock file, and the folders
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


def read_saved_config(workdir: Path) -> dict | None:
    """The run's config.json as a dict, None if there is none; a RunError if it is damaged."""
    saved = Path(workdir) / "config.json"
    if not saved.is_file():
        return None
    try:
        config = json.loads(saved.read_text())
        if not isinstance(config, dict) or not {"train", "model", "data"} <= set(config):
            raise ValueError("not a JSON object with train, model and data sections")
        return config
    except (ValueError, UnicodeDecodeError) as e:
        raise RunError(f"{str(saved)!r} is damaged or not a jaxgan config ({type(e).__name__}: "
                       f"{str(e)[:100]}); nothing was changed. Restore it or move it aside (each "
                       "checkpoint holds a copy of the config), or use another --workdir") from None


def check_layout(workdir: Path, num_seeds: int) -> None:
    """Refuse a workdir that holds something else than a run of this kind or nothing: files that
    are not jaxgan's, the other kind of run (one seed vs several), or a multi-seed run with
    another number of seeds; nothing is changed when it refuses."""
    if workdir.exists() and not workdir.is_dir():
        raise RunError(f"--workdir={str(workdir)!r} is a file, not a folder; choose another --workdir")
    if not workdir.is_dir():
        return
    config = read_saved_config(workdir)
    saved_seeds = config.get("num_seeds", 1) if config is not None else None
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
    foreign = sorted(n for n in os.listdir(workdir)
                     if n not in RUN_ENTRIES and not (n.startswith("seed_") and n[5:].isdigit()))
    if foreign and config is None and not (workdir / "checkpoints").is_dir():
        raise RunError(f"workdir {str(workdir)!r} is not empty and holds no jaxgan run (it has "
                       f"{', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}); nothing was "
                       "changed. Train in a new or empty --workdir")


def trim_history(workdir: str | os.PathLike, step: int) -> None:
    """Drop what a run logged after `step` (it resumes there and logs those steps again):
    metrics.jsonl rows past it (and a line cut short by a killed write), TensorBoard events past
    it. Each file is rewritten under a temporary name and swapped in."""
    workdir = Path(workdir)
    metrics = workdir / "metrics.jsonl"
    if metrics.is_file():
        kept, dropped = [], 0
        for line in metrics.read_text(errors="replace").splitlines(keepends=True):
            try:
                row = json.loads(line)
                ok = line.endswith("\n") and (not isinstance(row, dict) or int(row.get("step", 0)) <= step)
            except (ValueError, TypeError):
                ok = False
            kept.append(line) if ok else None
            dropped += not ok
        if dropped:
            atomic_write_text(metrics, "".join(kept))
    events = workdir / "tensorboard"
    if events.is_dir():
        for path in sorted(events.glob("events.out.tfevents.*")):
            _trim_events(path, step)


def _trim_events(path: Path, step: int) -> None:
    from tensorboard.backend.event_processing import event_file_loader
    from tensorboard.compat.proto import event_pb2
    from tensorboard.summary.writer.record_writer import RecordWriter

    records, dropped = [], False
    try:
        for raw in event_file_loader.RawEventFileLoader(str(path)).Load():
            if event_pb2.Event.FromString(raw).step > step:
                dropped = True
            else:
                records.append(raw)
    except Exception:  # noqa: BLE001 - an unreadable tail (killed writer): keep what was read
        dropped = True
    if dropped:
        with new_output(path, replace=True) as tmp:
            with open(tmp, "wb") as f:
                writer = RecordWriter(f)
                for raw in records:
                    writer.write(raw)
                f.flush()
