"""Checkpoints that survive crashes, partial writes and silently damaged files.

A thin layer over orbax's `CheckpointManager` (orbax-checkpoint 0.12). Each step directory holds
three items, committed together by orbax's write-to-tmp-then-rename:

  state/    the array pytree (`StandardSave`), restored onto an abstract target so optax
            NamedTuples and flax dataclasses come back with their types;
  meta/     a JSON dict (run config, data-iterator position, ...);
  digests/  a JSON record of every leaf's keypath, dtype, shape and sha256.

Why the digests: orbax keeps no checksum. A deleted or truncated array file makes its restore
raise, but bytes flipped inside an array file restore "successfully" with wrong values
(measured, see NOTES-stack.md). Why the fallback: `latest_step()` does no validation, so a run
that resumes must itself skip a damaged newest step. Damaged steps are moved, never deleted, to
`<directory>/../checkpoints_damaged/` so the data stays available and the step number is free.

Async saves are only committed by `wait()` / `close()`: a process that exits without them loses
the checkpoint silently (an `atexit` hook cannot help, orbax's thread pool is shut down first).
Use the Checkpointer as a context manager.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from jax.sharding import AbstractMesh, NamedSharding, SingleDeviceSharding

from jaxgan.config import ALL, Field, Section, boolean, ints
from jaxgan.workdir import Diverged, atomic_write_text, diverged_advice, json_default

SECTION = Section("checkpoint", {
    "every_steps": Field(2_000, ints(1), "steps between checkpoints"),
    "max_to_keep": Field(3, ints(1), "checkpoints kept (the oldest are deleted)"),
    "async_save": Field(True, boolean(), "write checkpoints in the background while training goes on"),
}, resumable=ALL)

log = logging.getLogger(__name__)

_DIGEST_VERSION = 1


class _QuietLoop(asyncio.SelectorEventLoop):
    """An event loop that ignores callbacks arriving after it closed. When one read of a damaged
    step fails, orbax closes its loop while tensorstore's other reads are still in flight; each
    of them then printed a "RuntimeError: Event loop is closed" traceback (dozens per step)."""

    def call_soon_threadsafe(self, *args, **kwargs):
        try:
            return super().call_soon_threadsafe(*args, **kwargs)
        except RuntimeError:
            if self.is_closed():
                return None
            raise


class _QuietPolicy(asyncio.DefaultEventLoopPolicy):
    _loop_factory = _QuietLoop


if type(asyncio.get_event_loop_policy()) is asyncio.DefaultEventLoopPolicy:  # not someone's own
    asyncio.set_event_loop_policy(_QuietPolicy())


class CheckpointError(Exception):
    """A checkpoint problem the user has to act on; the message says what to do."""


class _Damaged(Exception):
    """Internal: one step cannot be trusted (the message is the reason)."""


def _leaf_info(tree) -> dict[str, tuple[str, tuple[int, ...]]]:
    """keypath -> (dtype, shape) for arrays or ShapeDtypeStructs; the structure we compare."""
    info = {}
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            raise CheckpointError(
                f"leaf {jax.tree_util.keystr(path)} is a typed PRNG key; store "
                "jax.random.key_data(key) in the state and wrap it back with jax.random.wrap_key_data")
        info[jax.tree_util.keystr(path)] = (str(np.dtype(leaf.dtype)), tuple(int(d) for d in leaf.shape))
    return info


def _digests(tree, *, finite: bool = False) -> dict[str, dict[str, Any]]:
    """keypath -> {dtype, shape, sha256 of dtype+shape+bytes}. Copies each leaf to the host;
    with `finite`, raises Diverged naming the leaves that hold NaN or inf."""
    out, bad = {}, []
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        arr = np.asarray(leaf)
        if finite and np.issubdtype(arr.dtype, np.inexact) and not np.isfinite(arr).all():
            bad.append(jax.tree_util.keystr(path))
        h = hashlib.sha256(f"{arr.dtype}{arr.shape}".encode())
        h.update(np.ascontiguousarray(arr).reshape(-1).view(np.uint8))  # (it makes 0-d arrays 1-d)
        out[jax.tree_util.keystr(path)] = {
            "dtype": str(arr.dtype), "shape": list(arr.shape), "sha256": h.hexdigest()}
    if bad:
        raise Diverged(f"the state has non-finite values in {len(bad)} arrays (e.g. {bad[:2]})")
    return out


def _meta_digest(meta: dict) -> str:
    """sha256 of the meta as JSON: what a JSON round trip keeps, so a restored meta matches."""
    return hashlib.sha256(json.dumps(meta, sort_keys=True, default=json_default).encode()).hexdigest()


def _restore_target(abstract_state):
    """ShapeDtypeStructs with concrete shardings: the abstract ones, or one local device.

    `jax.eval_shape` gives `sharding=None` under an Auto mesh (-> single device) and a
    NamedSharding over an AbstractMesh under an Explicit one, which orbax cannot restore onto
    (`_device_assignment is not implemented`); we bind it to the current `jax.set_mesh` mesh if
    it matches, else to `jax.make_mesh` with the same axes (jax's default device order).
    """
    default = SingleDeviceSharding(jax.local_devices()[0])
    current = jax.sharding.get_mesh()
    meshes = {}

    def concrete(mesh: AbstractMesh):
        if mesh not in meshes:
            if not current.empty and current.abstract_mesh == mesh:
                meshes[mesh] = current
            else:
                meshes[mesh] = jax.make_mesh(mesh.axis_sizes, mesh.axis_names, axis_types=mesh.axis_types)
        return meshes[mesh]

    def leaf(x):
        sharding = getattr(x, "sharding", None)
        if sharding is None:
            sharding = default
        elif isinstance(sharding, NamedSharding) and isinstance(sharding.mesh, AbstractMesh):
            sharding = NamedSharding(concrete(sharding.mesh), sharding.spec)
        return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding)

    return jax.tree.map(leaf, abstract_state)


def _short(e: BaseException) -> str:
    """First line of an exception, bounded: tensorstore errors embed a whole JSON spec."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    text = text.split(" See full TensorStore details")[0]
    return f"{type(e).__name__}: {text[:300]}"


class Checkpointer:
    """Saves and restores `(state, meta)` per step under `directory`, from one process."""

    def __init__(self, directory: str | os.PathLike, *, max_to_keep: int = 3, async_save: bool = True):
        self.directory = Path(directory).absolute()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.directory):  # root ignores modes: really try
                pass
        except OSError as e:
            raise CheckpointError(
                f"cannot write checkpoints to {self.directory} ({_short(e)}). Point the run's "
                "workdir at a writable directory or fix the permissions of this one.") from e
        # In a multi-process run only process 0 checkpoints (the state is replicated); orbax
        # must not wait for the others, which never call it.
        this = {jax.process_index()}
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, enable_async_checkpointing=async_save, create=False,
            multiprocessing_options=ocp.options.MultiprocessingOptions(
                primary_host=jax.process_index(), active_processes=this if jax.process_count() > 1 else None))
        self._mgr = ocp.CheckpointManager(self.directory, options=options)
        self._closed = False

    def latest_step(self) -> int | None:
        """Newest committed or in-flight step, unvalidated (restore_latest validates)."""
        return self._mgr.latest_step()

    def all_steps(self) -> list[int]:
        """Committed steps plus any async save in flight; tmp dirs left by killed saves are not steps."""
        return sorted(self._mgr.all_steps())

    def save(self, step: int, state, meta: dict) -> None:
        """Starts saving `state` and `meta` as `step`; a step that already exists is kept as is.

        Returns once the arrays are copied to the host (the caller may then donate them); the
        write continues in the background until `wait()`. Digests are computed here, on host.
        """
        step = int(step)
        if jax.process_count() > 1:  # a host copy: a multi-process array is not this process's alone
            state = jax.device_get(state)
        if step in self._mgr.all_steps():  # includes an in-flight async save
            log.info("checkpoint step %d already exists in %s; not overwriting it", step, self.directory)
            return
        _leaf_info(state)  # rejects typed PRNG keys with a clear message
        json.dumps(meta)  # fail here with a TypeError, not later in orbax's background thread
        try:
            leaves = _digests(state, finite=True)
        except Diverged as e:
            raise Diverged(f"step {step} not saved: {e}; "
                           + diverged_advice(self.directory, self._mgr.latest_step())) from None
        digests = {"version": _DIGEST_VERSION, "leaves": leaves, "meta_sha256": _meta_digest(meta)}
        saved = self._mgr.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(state),
            meta=ocp.args.JsonSave(meta),
            digests=ocp.args.JsonSave(digests)))
        if not saved:  # orbax silently refuses steps below the latest one
            log.warning("orbax did not save step %d in %s (latest step is %s; steps must increase)",
                        step, self.directory, self._mgr.latest_step())

    def restore_latest(self, abstract_state, *, move_damaged: bool = True):
        """Returns `(state, meta, step)` from the newest intact step, or None if there is none.

        `abstract_state` is `jax.eval_shape` of the state; its shardings are used when present.
        Damaged steps (a file missing or unreadable, or content, meta included, differing from
        the stored digests) are skipped with a warning and, with `move_damaged` (the trainer,
        which holds the workdir alone), moved to `checkpoints_damaged/` once an intact step is
        found. If no step is intact nothing is moved, so a rerun cannot silently start over.
        """
        self.wait()
        self._mgr.reload()
        steps = sorted(self._mgr.all_steps(), reverse=True)
        if not steps:
            return None
        expected = _leaf_info(abstract_state)
        target = _restore_target(abstract_state)
        damaged: list[tuple[int, str]] = []
        for step in steps:
            try:
                result = self._restore_step(step, expected, target)
            except _Damaged as e:
                log.warning("checkpoint step %d in %s is damaged, skipping it: %s", step, self.directory, e)
                damaged.append((step, str(e)))
                continue
            for bad_step, _ in damaged if move_damaged else ():
                dest = self._quarantine(bad_step)
                log.warning("moved damaged checkpoint step %d to %s", bad_step, dest)
            if damaged:
                self._mgr.reload()
            return result
        reasons = "; ".join(f"step {s}: {r}" for s, r in damaged)
        raise CheckpointError(
            f"none of the checkpoints in {self.directory} is intact ({reasons}). Nothing was moved "
            "or deleted. Inspect the files there; to start the run over, move that directory "
            "aside (e.g. `mv checkpoints checkpoints.bad`) and rerun.")

    def _restore_step(self, step: int, expected, target):
        try:
            record = self._mgr.restore(step, args=ocp.args.Composite(digests=ocp.args.JsonRestore()))
            leaves = record["digests"]["leaves"]
            stored = {k: (v["dtype"], tuple(v["shape"])) for k, v in leaves.items()}
        except Exception as e:  # noqa: BLE001 - any failure to read means the step is unusable
            raise _Damaged(f"digest record unreadable ({_short(e)})") from e
        if stored != expected and any(k.startswith(".g_params") for k in stored):
            raise CheckpointError(
                f"checkpoint step {step} in {self.directory} was written by jaxgan before the state "
                "was split per player (GANState.g / .d, December 2026), and this jaxgan cannot read "
                "that layout. Nothing was changed. Sample or evaluate it with the jaxgan that wrote "
                "it (any commit before the redesign), or train the run again in a new workdir.")
        if stored != expected:
            raise CheckpointError(
                f"checkpoint step {step} in {self.directory} was written by an incompatible "
                f"model/config: {_describe_mismatch(stored, expected)}. Resume with the config "
                "that wrote it, or use a new workdir for this config.")
        try:
            out = self._mgr.restore(step, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(target), meta=ocp.args.JsonRestore()))
        except Exception as e:  # noqa: BLE001 - missing/truncated files raise many types
            raise _Damaged(f"orbax could not restore it ({_short(e)})") from e
        if not isinstance(out["meta"], dict):
            raise _Damaged("meta item missing")
        if "meta_sha256" in record["digests"] and _meta_digest(out["meta"]) != record["digests"]["meta_sha256"]:
            raise _Damaged("meta differs from its saved sha256")
        actual = _digests(out["state"])
        wrong = [k for k, v in leaves.items() if actual[k]["sha256"] != v["sha256"]]
        if wrong:
            raise _Damaged(f"{len(wrong)} array(s) differ from their saved sha256, e.g. {wrong[:3]}")
        return out["state"], out["meta"], step

    def _quarantine(self, step: int) -> Path:
        """Moves a step directory to ../checkpoints_damaged/<step>[-N]; never overwrites."""
        root = self.directory.parent / "checkpoints_damaged"
        root.mkdir(parents=True, exist_ok=True)
        dest, n = root / str(step), 0
        while dest.exists():
            n += 1
            dest = root / f"{step}-{n}"
        shutil.move(str(self.directory / str(step)), str(dest))
        return dest

    def newest_meta(self) -> tuple[dict, int] | None:
        """`(meta, step)` of the newest step whose meta reads and matches its digest (the config
        a resume is checked against); None when there is no step. Arrays are not read, so the
        step's state may still turn out damaged: `restore_latest` checks it."""
        self.wait()
        self._mgr.reload()
        steps = sorted(self._mgr.all_steps(), reverse=True)
        for step in steps:
            try:
                out = self._mgr.restore(step, args=ocp.args.Composite(
                    meta=ocp.args.JsonRestore(), digests=ocp.args.JsonRestore()))
                meta, record = out["meta"], out["digests"]
                ok = isinstance(meta, dict) and isinstance(record, dict) and (
                    "meta_sha256" not in record or _meta_digest(meta) == record["meta_sha256"])
            except Exception as e:  # noqa: BLE001 - any failure to read: a damaged step
                ok, why = False, _short(e)
            else:
                why = "meta differs from its saved sha256"
            if ok:
                return meta, step
            log.warning("checkpoint step %d in %s is damaged (%s); using an earlier step", step,
                        self.directory, why)
        if steps:
            raise CheckpointError(
                f"no checkpoint in {self.directory} has a readable meta (steps {steps}); nothing was "
                "moved or deleted. Inspect the files there; to start the run over, move that "
                "directory aside (e.g. `mv checkpoints checkpoints.bad`) and rerun")
        return None

    def read_meta(self, step: int | None = None) -> dict | None:
        """Meta of `step` (latest if None) without reading arrays; None if the step is absent."""
        self.wait()
        step = self._mgr.latest_step() if step is None else int(step)
        if step is None or step not in self._mgr.all_steps():
            return None
        try:
            return self._mgr.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
        except Exception as e:  # noqa: BLE001
            raise CheckpointError(
                f"cannot read the meta of checkpoint step {step} in {self.directory} ({_short(e)}): "
                "the step is damaged. Rerunning the training skips it (and moves it to "
                "checkpoints_damaged/); or move it aside yourself") from None

    def wait(self) -> None:
        """Blocks until every async save is committed (renamed from its tmp directory)."""
        self._mgr.wait_until_finished()

    def close(self) -> None:
        """Waits for pending saves and releases orbax's resources; safe to call twice."""
        if not self._closed:
            self._closed = True
            self._mgr.close()

    def __enter__(self) -> Checkpointer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _describe_mismatch(stored: dict, expected: dict, limit: int = 4) -> str:
    """A short human diff between the checkpoint's leaves and the abstract state's."""
    parts = [f"{k} missing from checkpoint" for k in expected if k not in stored]
    parts += [f"{k} only in checkpoint" for k in stored if k not in expected]
    parts += [f"{k} is {stored[k][0]}{list(stored[k][1])} in checkpoint, {expected[k][0]}"
              f"{list(expected[k][1])} in model" for k in expected if k in stored and stored[k] != expected[k]]
    more = f" (+{len(parts) - limit} more)" if len(parts) > limit else ""
    return "; ".join(parts[:limit]) + more


BEST_DIR = "checkpoints_best"


class BestKeeper:
    """Keeps the checkpoint whose evaluation scored lowest so far in `<workdir>/checkpoints_best/`.

    `metric` is the name of the metric that decides (lower is better), `'auto'` for the first
    `fid/...` of each evaluation, or `'none'` to keep nothing. `best.json` there records the step,
    the metric, its value and the evaluation's protocol; a result is only compared with a best of
    the same metric and protocol (a change of feature network or sample count starts afresh)."""

    def __init__(self, workdir: str | os.PathLike, metric: str = "auto"):
        self.workdir, self.metric = Path(workdir), metric
        self.directory = self.workdir / BEST_DIR

    def key(self, metrics: dict) -> str | None:
        """The metric of `metrics` that decides, or None when there is none."""
        if self.metric == "none":
            return None
        if self.metric == "auto":
            return next((k for k in metrics if k.startswith("fid/")), None)
        return self.metric if self.metric in metrics else None

    def offer(self, step: int, state, meta: dict, metrics: dict, protocol: dict | None = None) -> bool:
        """Save `state` as the best if its metric is the lowest so far; return whether it did."""
        key = self.key(metrics)
        if key is None or not np.isfinite(float(metrics[key])):
            return False
        value = float(metrics[key])
        protocol = json.loads(json.dumps(protocol or {}, default=json_default))  # as best.json holds it
        record_path = self.directory / "best.json"
        if record_path.is_file():
            record = json.loads(record_path.read_text())
            if (record.get("metric") == key and record.get("protocol") == protocol
                    and record.get("value", np.inf) <= value):
                return False
        # Write the new best beside the old one, then swap, so a crash never leaves no best at all.
        # Temporary folders of names no one else uses (tempfile), removed if anything fails.
        tmp = Path(tempfile.mkdtemp(dir=self.workdir, prefix=f".{BEST_DIR}.", suffix=".tmp"))
        old = None
        try:
            with Checkpointer(tmp, max_to_keep=1, async_save=False) as ckpt:
                ckpt.save(step, state, meta)
            atomic_write_text(tmp / "best.json", json.dumps(
                {"step": step, "metric": key, "value": value, "protocol": protocol}, indent=2) + "\n")
            if self.directory.exists():
                old = Path(tempfile.mkdtemp(dir=self.workdir, prefix=f".{BEST_DIR}.", suffix=".old"))
                os.replace(self.directory, old)
            os.replace(tmp, self.directory)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        log.info("Best checkpoint so far by %s = %.4f: step %d (%s)", key, value, step, self.directory)
        return True
