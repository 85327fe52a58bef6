"""The training loop: the one trainer every variant shares.

Resumes from the latest intact checkpoint in the workdir, refuses a workdir written by an
incompatible config, and saves a final checkpoint on every way out (normal end, exception,
SIGINT/SIGTERM), waiting for the asynchronous save to be committed.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import signal
import threading
import time
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import logging
from jax.experimental import multihost_utils

from jaxgan import config as config_lib
from jaxgan import monitor, parallel, seeds, snapshots, viz
from jaxgan.checkpoint import Checkpointer
from jaxgan.data import pipeline
from jaxgan.evaluate import after_eval, evaluate_state
from jaxgan.experiment import Experiment, RunError, atomic_write_text, prepare_workdir


class Interrupted(Exception):
    """Training stopped on a signal after saving its state; `signum` says which."""

    def __init__(self, signum: int, step: int):
        super().__init__(f"stopped by signal {signum} at step {step}; re-run the same command to resume")
        self.signum, self.step = signum, step


@contextlib.contextmanager
def _stop_on_signals():
    """Turn the first SIGINT/SIGTERM into a request to stop cleanly; a second one stops at once."""
    request = {"signum": None}
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handler(signum, frame):
        if request["signum"] is not None:
            raise KeyboardInterrupt
        request["signum"] = signum
        logging.warning("Signal %d: saving a checkpoint and stopping (send it again to stop now).", signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield request
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _meta(config: ml_collections.ConfigDict, step: int) -> dict:
    return {"config": config.to_dict(), "data_position": step * config.train.n_critic}


def _check_compatible(ckpt: Checkpointer, config: ml_collections.ConfigDict, workdir: Path) -> None:
    saved = ckpt.read_meta()
    if not saved:
        return
    diffs = config_lib.incompatible_keys(saved["config"], config.to_dict())
    if diffs:
        raise RunError(
            f"workdir {str(workdir)!r} holds checkpoints of a run with a different config:\n  "
            + "\n  ".join(diffs)
            + "\nNothing was changed. Resume with the same config (the saved one is in "
            f"{workdir / 'config.json'}), or use a new --workdir for the new config.")


def _alive(tree) -> bool:
    return not any(x.is_deleted() for x in jax.tree.leaves(tree) if hasattr(x, "is_deleted"))


@dataclasses.dataclass
class _Run:
    """One seed's run: its experiment, its directory, and what writes there."""

    exp: Experiment
    workdir: Path
    ckpt: Checkpointer | None  # None on the processes of a multi-process run that do not write
    writer: Any = None
    visualiser: Any = None


def train(config: ml_collections.ConfigDict, workdir: str | Path) -> dict:
    """Train (or resume) the run described by `config` in `workdir`; return the final metrics
    (with `num_seeds` > 1: their mean over the seeds, all of them in <workdir>/seeds.json)."""
    config_lib.validate(config)
    # In a multi-process run every process trains, and only process 0 writes (the state is
    # replicated): checkpoints, metrics files, samples, evaluations.
    primary = jax.process_index() == 0
    workdir = prepare_workdir(workdir) if primary else Path(workdir).expanduser()
    if primary:
        _check_layout(config, workdir)
    num_seeds = config.num_seeds
    if num_seeds == 1:
        exps, dirs = [Experiment.build(config)], [workdir]
    else:
        first = Experiment.build(seeds.seed_config(config, 0))
        exps = [first] + [first.for_seed(seeds.seed_config(config, k)) for k in range(1, num_seeds)]
        dirs = [seeds.seed_workdir(workdir, e.config.seed) for e in exps]
        dirs = [prepare_workdir(d) for d in dirs] if primary else dirs
    c = config.checkpoint
    with contextlib.ExitStack() as stack:
        runs = []
        for exp, run_dir in zip(exps, dirs):
            ckpt = None
            if primary:
                ckpt = stack.enter_context(Checkpointer(run_dir / "checkpoints", max_to_keep=c.max_to_keep,
                                                        async_save=c.async_save))
                _check_compatible(ckpt, exp.config, run_dir)
            runs.append(_Run(exp, run_dir, ckpt))
        states = [_restore_or_init(run) for run in runs]
        if jax.process_count() > 1:  # everyone continues from what process 0 restored
            states = multihost_utils.broadcast_one_to_all(states)
        steps = {run.exp.config.seed: int(s.step) for run, s in zip(runs, states)}
        if len(set(steps.values())) > 1:
            raise RunError(
                f"the seeds in {str(workdir)!r} were saved at different steps ({steps}), so they "
                "cannot continue as one multi-seed run. Nothing was changed. Resume each seed on its own "
                "(--workdir=<workdir>/seed_<s> --config.seed=<s>) or start in a new --workdir.")
        if num_seeds == 1:
            return _loop(runs, states, "one seed")
        if primary and not (workdir / "config.json").exists():
            atomic_write_text(workdir / "config.json", config_lib.to_json(config))
        final = _loop(runs, states, seeds.step_mode(config))
        if not primary:
            return {}
        summary = seeds.summarize(final)
        seeds.write_summary(workdir, summary)
        return summary["mean"]


def _check_layout(config: ml_collections.ConfigDict, workdir: Path) -> None:
    """A workdir holds either one run or the seed directories of a multi-seed run, never both."""
    saved = workdir / "config.json"
    saved_seeds = json.loads(saved.read_text()).get("num_seeds", 1) if saved.is_file() else None
    if config.num_seeds == 1 and seeds.seed_dirs(workdir):
        raise RunError(
            f"workdir {str(workdir)!r} holds a multi-seed run (seed_* directories); nothing was "
            f"changed. Resume it with --config.num_seeds={saved_seeds or len(seeds.seed_dirs(workdir))}, "
            "continue one seed with --workdir=<workdir>/seed_<s> --config.seed=<s>, or use a new --workdir.")
    if config.num_seeds > 1 and (workdir / "checkpoints").is_dir():
        raise RunError(f"workdir {str(workdir)!r} holds a single-seed run; nothing was changed. "
                       "Use a new --workdir for a multi-seed run.")
    if config.num_seeds > 1 and saved_seeds not in (None, config.num_seeds):
        raise RunError(f"workdir {str(workdir)!r} holds a run with num_seeds = {saved_seeds}; nothing "
                       f"was changed. Resume with --config.num_seeds={saved_seeds} or use a new --workdir.")


def _restore_or_init(run: _Run):
    if run.ckpt is None:
        return run.exp.init_state()
    restored = run.ckpt.restore_latest(run.exp.abstract_state())
    if restored is None:
        atomic_write_text(run.workdir / "config.json", config_lib.to_json(run.exp.config))
        return run.exp.init_state()
    state, _, step = restored
    logging.info("Resuming from the checkpoint at step %d in %s", step, run.workdir)
    return state


def _loop(runs: list[_Run], states: list, mode: str) -> dict | dict[int, dict]:
    """Train the runs' `states` (one per run) to train.steps; `mode` is how several seeds step
    ('vmap' or 'loop', from `seeds.step_mode`) or 'one seed'.

    Returns the final metrics; with several runs, {seed: metrics}; {} where this process does
    not write (multi-process runs)."""
    exp, many, primary = runs[0].exp, len(runs) > 1, runs[0].ckpt is not None
    c = exp.config
    if many:  # the seeds' states stacked on a leading axis, however they step
        state, member, zip_batches = seeds.stack(states), seeds.take, seeds.zip_batches
        executor = seeds.make_executor(mode, c.train.parallel, exp.make_step, len(runs))
    else:
        state, member, zip_batches = states[0], (lambda s, k: s), lambda streams: streams[0]
        executor = parallel.make_executor(c.train.parallel, exp.make_step)
    parallel.check_batch(c.train.batch_size, executor.num_devices, c.model.critic.get("pack", 1))
    start = int(member(state, 0).step)
    for k, run in enumerate(runs):
        run.writer = monitor.create_writer(run.workdir, tag=run.workdir.name if many else None,
                                           just_logging=not primary)
        if primary:
            params = member(state, k)
            monitor.log_parameter_overview(run.workdir, {"generator": params.g_params, "critic": params.d_params},
                                           log=k == 0)
            run.visualiser = snapshots.make(run.exp, run.workdir) if c.viz.every_steps else None
    placed = executor.place_state(state)
    # Each process reads only its slice of every global batch (multi-host runs).
    streams = [pipeline.stack(run.exp.dataset.batches(
        c.train.batch_size // jax.process_count(), start=start * c.train.n_critic,
        shard_index=jax.process_index(), num_shards=jax.process_count()), c.train.n_critic) for run in runs]
    batches = pipeline.Prefetcher(zip_batches(streams), executor.place_batch)
    bar = monitor.progress_bar(c.train.steps, start, c.train.progress_bar)
    step, metrics, final, evaluated_at = start, None, {}, None
    saved = {"step": start if not primary or runs[0].ckpt.latest_step() == start else None}

    def host_state():
        # A copy this process owns alone: a multi-process array would make sampling and
        # evaluation collective programs that the other processes never join.
        state = executor.unplace_state(placed)
        return jax.device_get(state) if jax.process_count() > 1 else state

    def save(step: int) -> None:
        if primary and saved["step"] != step:
            host = host_state()
            for k, run in enumerate(runs):
                run.ckpt.save(step, member(host, k), _meta(run.exp.config, step))
            saved["step"] = step

    def evaluate(step: int) -> dict:
        if not primary:
            return {}
        host = host_state()
        results = {}
        for k, run in enumerate(runs):
            results[run.exp.config.seed] = result = evaluate_state(run.exp, member(host, k))
            run.writer.write_scalars(step, result)
            after_eval(run.workdir, step, result, member(host, k), _meta(run.exp.config, step), run.exp.config)
        return results if many else results[c.seed]

    try:
        with _stop_on_signals() as stop:
            t0, t0_step = time.perf_counter(), start
            while step < c.train.steps and stop["signum"] is None:
                placed, metrics = executor.step(placed, next(batches))
                step += 1
                bar.update(1)
                if step % c.train.log_every_steps == 0 or step == c.train.steps:
                    host_metrics = jax.device_get(metrics)
                    now = time.perf_counter()
                    steps_per_s = (step - t0_step) / max(now - t0, 1e-9)
                    t0, t0_step = now, step
                    for k, run in enumerate(runs):
                        scalars = {name: float(member(v, k)) for name, v in host_metrics.items()}
                        run.writer.write_scalars(step, scalars | {"steps_per_s": steps_per_s})
                    bar.set_postfix({name: f"{float(np.mean(host_metrics[name])):.3f}"
                                     for name in ("d_loss", "g_loss")})
                if step % c.checkpoint.every_steps == 0:
                    save(step)
                if c.eval.every_steps and step % c.eval.every_steps == 0:
                    final, evaluated_at = evaluate(step), step
                if primary and c.viz.every_steps and step % c.viz.every_steps == 0:
                    host = host_state()
                    for k, run in enumerate(runs):
                        run.visualiser.frame(member(host, k), step)
        save(step)
        if stop["signum"] is not None:
            raise Interrupted(stop["signum"], step)
        if evaluated_at != step:
            final = evaluate(step)
    except (Exception, KeyboardInterrupt):
        # Keep what was learned: save unless the failure happened inside the step after the
        # state's buffers were donated (then the last periodic checkpoint is the latest state).
        if _alive(placed):
            with contextlib.suppress(Exception):
                save(step)
        raise
    finally:
        bar.close()
        batches.close()
        last_frame = (primary and c.viz.every_steps and step > start and step % c.viz.every_steps
                      and _alive(placed))
        host = host_state() if last_frame else None
        for k, run in enumerate(runs):
            run.writer.flush()
            run.writer.close()
            if not primary:
                continue
            run.ckpt.wait()
            if run.visualiser:
                if last_frame:
                    run.visualiser.frame(member(host, k), step)
                snapshots.finish(run.exp, run.workdir)
            viz.loss_curves(run.workdir / "metrics.jsonl", run.workdir / "losses.png")
    logging.info("Finished at step %d: %s", step, final)
    return final
