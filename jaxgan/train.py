"""The training loop: the one trainer every variant shares.

`train` is a driver around a short loop. It prepares the workdir, builds one run per seed (its
experiment, directory and checkpointer), resumes each from the latest intact checkpoint or
refuses a workdir written by an incompatible config, groups the seeds into one executor
(`jaxgan/seeds.py`), builds every seed's hooks (`jaxgan/hooks.py`: log, progress bar,
checkpoint, evaluate + best checkpoint, snapshots), and runs `_loop`: step, then call the hooks.
A final checkpoint is saved on every way out (normal end, exception, SIGINT/SIGTERM), by the
checkpoint hook's `close`.

In a multi-process run every process trains, and only process 0 writes (the state is
replicated): checkpoints, metrics files, samples, evaluations. The others get no writing hooks.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import signal
import threading
from pathlib import Path
from typing import Callable

import jax
import ml_collections
from absl import logging
from jax.experimental import multihost_utils

from jaxgan import config as config_lib
from jaxgan import hooks, monitor, parallel, schedule, seeds
from jaxgan.checkpoint import BestKeeper, Checkpointer
from jaxgan.config import Field, Section, boolean, choice, ints
from jaxgan.data import pipeline
from jaxgan.experiment import DataShape, Experiment
from jaxgan.workdir import (RunError, atomic_write_text, claim, lock, prepare_workdir, seed_workdir,
                            trim_history)

PARALLEL_MODES = ("auto", "single", "mesh", "pmap")
SEEDS_STEPS = ("auto", "vmap", "loop")


def _config_check(c) -> list[str]:
    problems = schedule.config_problems(c.train)
    if c.num_seeds > 1 and c.train.parallel == "pmap":
        problems.append("num_seeds > 1 needs train.parallel = 'auto', 'single' or 'mesh' (pmap trains one seed)")
    return problems


def _resumable(saved: dict, current: dict) -> tuple[str, ...]:
    # A decaying learning rate is a function of train.steps: changing it changes the past.
    decays = any(v != "constant" for k, v in {**saved, **current}.items()
                 if k.startswith("optimizer.") and k.endswith(".schedule"))
    return ("log_every_steps", "progress_bar", "parallel", "seeds_step") + (() if decays else ("steps",))


SECTION = Section("train", {
    "steps": Field(10_000, ints(1), "loop steps: each is n_critic critic updates + 1 generator update "
                   "(schedule = alternate_steps) or one update of one player (alternate_epochs); every "
                   "step count of the config counts these"),
    "batch_size": Field(100, ints(1), "examples per batch (global, over all devices)"),
    "n_critic": Field(1, ints(1), "critic updates per generator update, each on a fresh real batch"),
    "log_every_steps": Field(100, ints(1), "steps between logged metrics"),
    "progress_bar": Field(True, boolean(), "show a progress bar on a terminal"),
    "parallel": Field("auto", choice(*PARALLEL_MODES),
                      "auto: a sharded mesh when several devices are visible"),
    "seeds_step": Field("auto", choice(*SEEDS_STEPS),
                        "num_seeds > 1: 'vmap' one compiled step over the stacked seeds, "
                        "'loop' the one-seed step once per seed; auto: loop on CPU, vmap "
                        "on accelerators (jaxgan/seeds.py)"),
    "reuse_fake": Field(False, boolean(),
                        "the generator update reuses the last critic update's fake batch "
                        "instead of a fresh latent batch (pytorch/examples' DCGAN loop): "
                        "one generator forward fewer per step"),
    "schedule": Field("alternate_steps", choice(*schedule.SCHEDULES),
                      "alternate_steps: both players every step; alternate_epochs: seed 003's loop, "
                      "epoch_steps generator-only steps then epoch_steps - 1 critic-only steps "
                      "(jaxgan/schedule.py)"),
    "epoch_steps": Field(0, ints(0), "alternate_epochs: generator steps per epoch; 0 = one pass over "
                                     "the training set, ceil(num_examples / batch_size)"),
}, check=_config_check, resumable=_resumable)


class Interrupted(Exception):
    """Training stopped on a signal after saving its state; `signum` says which."""

    def __init__(self, signum: int, step: int):
        super().__init__(f"stopped by signal {signum} at step {step}; re-run the same command to resume")
        self.signum, self.step = signum, step


class _StopRequest:
    signum: int | None = None


@contextlib.contextmanager
def _stop_on_signals():
    """Turn the first SIGINT/SIGTERM into a request to stop cleanly; a second one stops at once."""
    request = _StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handler(signum, frame):
        if request.signum is not None:
            raise KeyboardInterrupt
        request.signum = signum
        logging.warning("Signal %d: saving a checkpoint and stopping (send it again to stop now).", signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield request
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@dataclasses.dataclass
class HookSet:
    """Hooks that see the same part of the run: `select` takes it from the state and metrics."""

    select: Callable  # pytree -> the part these hooks see
    hooks: list[hooks.Hook]


def _loop(executor: parallel.Executor, state, batches, hook_sets: list[HookSet], start: int, total: int) -> int:
    """Step from `start` to `total`, calling every hook after every step; close every hook on
    the way out, however it goes. Returns the last step."""
    placed, metrics, step, error = executor.place_state(state), None, start, None

    def views():
        tick = hooks.Tick(step, placed, metrics, executor.unplace_state)
        return [(hook, view) for s in hook_sets for view in [hooks.View(tick, s.select)] for hook in s.hooks]

    try:
        with _stop_on_signals() as stop:
            while step < total and stop.signum is None:
                placed, metrics = executor.step(placed, next(batches))
                step += 1
                for hook, view in views():
                    hook(step, view)
        if stop.signum is not None:
            raise Interrupted(stop.signum, step)
    except BaseException as e:
        error = e
        raise
    finally:
        batches.close()
        failure = hooks.close_all(views(), step, error)
        if failure is not None and error is None:
            raise failure
    return step


class _Started(hooks.Hook):
    """Marks the claim on the workdir as used once a step has run: from then on a failure keeps
    what the run wrote (only a start that fails before its first step is undone)."""

    def __init__(self, claimed):
        super().__init__(1)
        self.claimed = claimed

    def fire(self, step: int, view: hooks.View) -> None:
        self.claimed.fresh = False


@dataclasses.dataclass
class _Run:
    """One seed's run: its experiment, its directory, and its checkpoints (None on the
    processes of a multi-process run that do not write)."""

    exp: Experiment
    workdir: Path
    ckpt: Checkpointer | None


def _meta(exp: Experiment, step: int) -> dict:
    # The data's shape lets a run be sampled without its data (experiment.restore_run).
    return {"config": exp.config.to_dict(), "data_position": exp.data_position(step),
            "data": DataShape.of(exp.dataset).record()}


def _check_compatible(ckpt: Checkpointer, config: ml_collections.ConfigDict, workdir: Path) -> None:
    newest = ckpt.newest_meta()
    if newest is None:
        return
    diffs = config_lib.incompatible_keys(newest[0]["config"], config.to_dict())
    if diffs:
        more = f" (+{len(diffs) - 3} more)" if len(diffs) > 3 else ""
        raise RunError(
            f"workdir {str(workdir)!r} holds checkpoints of a run with a different config ("
            + "; ".join(diffs[:3]) + more + "); nothing was changed. Resume with the same config "
            f"(the saved one is {str(workdir / 'config.json')!r}), or use a new --workdir for the new config")


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


def _experiments(config: ml_collections.ConfigDict) -> list[Experiment]:
    if config.num_seeds == 1:
        return [Experiment.build(config)]
    first = Experiment.build(seeds.seed_config(config, 0))
    return [first] + [first.for_seed(seeds.seed_config(config, k)) for k in range(1, config.num_seeds)]


def _run_hooks(run: _Run, writer, start: int) -> tuple[list[hooks.Hook], hooks.Evaluate]:
    """One seed's hooks, in the order they run after a step and close at the end."""
    c = run.exp.config
    meta = lambda step: _meta(run.exp, step)
    evaluate = hooks.Evaluate(run.exp, run.workdir, writer, BestKeeper(run.workdir, c.eval.best_metric),
                              meta, c.eval.every_steps, start)
    run_hooks = [hooks.NonFiniteGuard(run.ckpt, run.workdir, c.train.log_every_steps, c.train.steps),
                 hooks.LogScalars(writer, c.train.log_every_steps, c.train.steps, start,
                                  plot=run.workdir / "losses.png"),
                 hooks.SaveCheckpoint(run.ckpt, meta, c.checkpoint.every_steps, start),
                 evaluate]
    if c.viz.every_steps:
        run_hooks.append(hooks.Snapshots(run.exp, run.workdir, writer, c.viz.every_steps, start))
    return run_hooks, evaluate


def train(config: ml_collections.ConfigDict, workdir: str | Path) -> dict:
    """Train (or resume) the run described by `config` in `workdir`; return the final metrics
    (with `num_seeds` > 1: their mean over the seeds, all of them in <workdir>/seeds.json).

    Everything that can refuse the run (config, data, models, batch split) is checked before
    the workdir is touched; then the workdir is claimed (`workdir.claim`: created, locked
    against a second process, and cleaned up if the run fails before its first step)."""
    config_lib.validate(config)
    primary = jax.process_index() == 0
    exps = _experiments(config)
    c = config
    group = schedule.group(c, exps[0].make_step, len(exps))
    try:
        parallel.check_batch(c.train.batch_size, group.executor.num_devices, c.model.critic.get("pack", 1))
    except ValueError as e:
        raise RunError(str(e)) from None
    workdir = Path(workdir).expanduser()
    with contextlib.ExitStack() as stack:
        claimed = stack.enter_context(claim(workdir, config.num_seeds)) if primary else None
        return _train(config, workdir, exps, group, primary, claimed, stack)


def _train(config, workdir: Path, exps: list[Experiment], group, primary: bool, claimed, outer) -> dict:
    """`train` once the workdir is claimed: each seed's run resumed or started, its hooks, the
    loop. `outer` holds what lives as long as the claim (the seeds' directory locks)."""
    many = len(exps) > 1
    dirs = [seed_workdir(workdir, e.config.seed) for e in exps] if many else [workdir]
    if primary:
        dirs = [prepare_workdir(d) for d in dirs]
        for d in dirs if many else []:  # each seed's directory is a run of its own too
            outer.enter_context(lock(d, "train"))
    c = config
    with contextlib.ExitStack() as stack:
        runs = []
        for exp, run_dir in zip(exps, dirs):
            ckpt = None
            if primary:
                ckpt = stack.enter_context(Checkpointer(run_dir / "checkpoints", max_to_keep=c.checkpoint.max_to_keep,
                                                        async_save=c.checkpoint.async_save))
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
        start = next(iter(steps.values()))
        if claimed is not None and start > 0:
            claimed.fresh = False
        if primary:
            for run in runs:  # rows past the restored step are done again by this run
                trim_history(run.workdir, start)
        if many and primary and not (workdir / "config.json").exists():
            atomic_write_text(workdir / "config.json", config_lib.to_json(config))

        first = [_Started(claimed)] if claimed is not None else []
        hook_sets = [HookSet(lambda tree: tree, first + [hooks.ProgressBar(c.train.steps, start, c.train.progress_bar,
                                                                     c.train.log_every_steps)])]
        evaluations = {}
        for k, run in enumerate(runs):
            writer = monitor.create_writer(run.workdir, tag=run.workdir.name if many else None,
                                           just_logging=not primary)
            stack.callback(writer.close)
            select = functools.partial(group.member, k=k)
            if primary:
                monitor.log_parameter_overview(run.workdir, run.exp.parameter_trees(states[k]), log=k == 0)
                run_hooks, evaluations[run.exp.config.seed] = _run_hooks(run, writer, start)
            else:  # console logging only
                run_hooks = [hooks.NonFiniteGuard(None, run.workdir, c.train.log_every_steps, c.train.steps),
                             hooks.LogScalars(writer, c.train.log_every_steps, c.train.steps, start)]
            hook_sets.append(HookSet(select, run_hooks))

        # Each process reads only its slice of every global batch (multi-host runs).
        streams = [run.exp.batches(c.train.batch_size // jax.process_count(), start,
                                   shard_index=jax.process_index(), num_shards=jax.process_count())
                   for run in runs]
        batches = pipeline.Prefetcher(group.zip(streams), group.executor.place_batch)
        step = _loop(group.executor, group.stack(states), batches, hook_sets, start, c.train.steps)

    final = {seed: evaluation.result for seed, evaluation in evaluations.items()}
    logging.info("Finished at step %d: %s", step, final)
    if not primary:
        return {}
    if not many:
        return final[c.seed]
    summary = seeds.summarize(final)
    seeds.write_summary(workdir, summary)
    return summary["mean"]

