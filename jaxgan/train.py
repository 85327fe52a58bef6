"""The training loop: the one trainer every variant shares.

Resumes from the latest intact checkpoint in the workdir, refuses a workdir written by an
incompatible config, and saves a final checkpoint on every way out (normal end, exception,
SIGINT/SIGTERM), waiting for the asynchronous save to be committed.
"""
from __future__ import annotations

import contextlib
import signal
import threading
import time
from pathlib import Path

import jax
import ml_collections
from absl import logging

from jaxgan import config as config_lib
from jaxgan import monitor, parallel, snapshots, viz
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


def train(config: ml_collections.ConfigDict, workdir: str | Path) -> dict:
    """Train (or resume) the run described by `config` in `workdir`; return the final metrics."""
    config_lib.validate(config)
    workdir = prepare_workdir(workdir)
    exp = Experiment.build(config)
    with Checkpointer(workdir / "checkpoints", max_to_keep=config.checkpoint.max_to_keep,
                      async_save=config.checkpoint.async_save) as ckpt:
        _check_compatible(ckpt, config, workdir)
        restored = ckpt.restore_latest(exp.abstract_state())
        if restored is None:
            state = exp.init_state()
            atomic_write_text(workdir / "config.json", config_lib.to_json(config))
        else:
            state, _, step = restored
            logging.info("Resuming from the checkpoint at step %d in %s", step, workdir)
        return _loop(exp, state, ckpt, workdir)


def _loop(exp: Experiment, state, ckpt: Checkpointer, workdir: Path) -> dict:
    c = exp.config
    executor = parallel.make_executor(c.train.parallel, exp.make_step)
    parallel.check_batch(c.train.batch_size, executor.num_devices, c.model.critic.get("pack", 1))
    start = int(state.step)
    monitor.log_parameter_overview(workdir, {"generator": state.g_params, "critic": state.d_params})
    writer = monitor.create_writer(workdir)
    visualiser = snapshots.make(exp, workdir) if c.viz.every_steps else None
    placed = executor.place_state(state)
    # Each process reads only its slice of every global batch (multi-host runs).
    source = exp.dataset.batches(c.train.batch_size // jax.process_count(), start=start * c.train.n_critic,
                                 shard_index=jax.process_index(), num_shards=jax.process_count())
    batches = pipeline.Prefetcher(pipeline.stack(source, c.train.n_critic), executor.place_batch)
    bar = monitor.progress_bar(c.train.steps, start, c.train.progress_bar)
    step, metrics, final, evaluated_at = start, None, {}, None
    saved = {"step": start if ckpt.latest_step() == start else None}

    def save(step: int) -> None:
        if saved["step"] != step:
            ckpt.save(step, executor.unplace_state(placed), _meta(c, step))
            saved["step"] = step

    try:
        with _stop_on_signals() as stop:
            t0, t0_step = time.perf_counter(), start
            while step < c.train.steps and stop["signum"] is None:
                placed, metrics = executor.step(placed, next(batches))
                step += 1
                bar.update(1)
                if step % c.train.log_every_steps == 0 or step == c.train.steps:
                    scalars = {k: float(v) for k, v in jax.device_get(metrics).items()}
                    now = time.perf_counter()
                    scalars["steps_per_s"] = (step - t0_step) / max(now - t0, 1e-9)
                    t0, t0_step = now, step
                    writer.write_scalars(step, scalars)
                    bar.set_postfix({k: f"{scalars[k]:.3f}" for k in ("d_loss", "g_loss")})
                if step % c.checkpoint.every_steps == 0:
                    save(step)
                if c.eval.every_steps and step % c.eval.every_steps == 0:
                    host = executor.unplace_state(placed)
                    final, evaluated_at = evaluate_state(exp, host), step
                    writer.write_scalars(step, final)
                    after_eval(workdir, step, final, host, _meta(c, step), c)
                if visualiser and step % c.viz.every_steps == 0:
                    visualiser.frame(executor.unplace_state(placed), step)
        save(step)
        if stop["signum"] is not None:
            raise Interrupted(stop["signum"], step)
        if evaluated_at != step:
            host = executor.unplace_state(placed)
            final = evaluate_state(exp, host)
            writer.write_scalars(step, final)
            after_eval(workdir, step, final, host, _meta(c, step), c)
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
        writer.flush()
        writer.close()
        ckpt.wait()
        if visualiser:
            if step > start and step % c.viz.every_steps and _alive(placed):
                visualiser.frame(executor.unplace_state(placed), step)
            snapshots.finish(exp, workdir)
        viz.loss_curves(workdir / "metrics.jsonl", workdir / "losses.png")
    logging.info("Finished at step %d: %s", step, final)
    return final
