"""What the trainer does besides stepping: small periodic hooks, one job each.

The loop (`jaxgan/train.py`) is

    for step in ...:
        state, metrics = executor.step(state, batch)
        for hook in hooks: hook(step, view)
    for hook in hooks: hook.close(step, view, error)      # on every way out

A hook is a `Hook` subclass with

  * a cadence, `Hook(every_steps=N, on_steps=(...))`, kept by a `clu.periodic_actions`
    PeriodicCallback (N = 0: it never fires on its own), checked after every step;
  * `fire(step, view)`: its work, when the cadence says so;
  * `close(step, view, error)`: what it does once when the loop ends, with `error` None at the
    normal end, `train.Interrupted` after SIGINT/SIGTERM, or the exception that stops the run.
    Every hook is closed, in list order, even when an earlier one failed.

`view` (a `View`) is what a hook sees of the run after a step: its `state` and `metrics`, copied
to the host the first time any hook asks at that step and shared by all of them. In a multi-seed
run each seed has its own hooks, and its view selects that seed's part of the state and metrics
(`jaxgan/seeds.py`); a hook never knows how many seeds there are. What a hook writes to (its
experiment, directory, checkpointer, metric writer) it gets when it is built.

So a new behaviour is one small class: the non-finite guard (`NonFiniteGuard`) is a
`Hook(every_steps=1)` whose `fire` raises when `view.metrics` holds a NaN. What must hold before
any hook exists (the workdir lock, the cleanup of a failed start) is `jaxgan.workdir.claim`.
"""
from __future__ import annotations

import functools
import json
import time
from pathlib import Path
from typing import Callable, Sequence

import jax
import numpy as np
from absl import logging
from clu import periodic_actions

from jaxgan import monitor, report, snapshots, viz
from jaxgan.checkpoint import BestKeeper, Checkpointer
from jaxgan.evaluate import evaluate_state, write_eval
from jaxgan.workdir import Diverged, diverged_advice

# Losses beyond this size are finite but no longer training (a diverging run reaches 1e32).
_HUGE = 1e8


class Tick:
    """The loop after a step: the placed state and the step's metrics, brought to the host at
    most once, when a hook first asks."""

    def __init__(self, step: int, placed, metrics, unplace: Callable):
        self.step, self._placed, self._metrics, self._unplace = step, placed, metrics, unplace

    @functools.cached_property
    def state(self):
        # A copy this process owns alone: a multi-process array would make sampling and
        # evaluation collective programs that the other processes never join.
        state = self._unplace(self._placed)
        return jax.device_get(state) if jax.process_count() > 1 else state

    @functools.cached_property
    def metrics(self) -> dict | None:
        return None if self._metrics is None else jax.device_get(self._metrics)

    @property
    def alive(self) -> bool:
        """False when the step failed after the state's buffers were donated: then there is no
        state to save or sample, and the last periodic checkpoint is the latest one."""
        return not any(x.is_deleted() for x in jax.tree.leaves(self._placed) if hasattr(x, "is_deleted"))


class View:
    """One hook set's view of a `Tick`: `select` picks its part (one seed's) of the state and the
    metrics; the identity for a one-seed run or for hooks about the whole run."""

    def __init__(self, tick: Tick, select: Callable = lambda tree: tree):
        self._tick, self._select = tick, select

    @property
    def step(self) -> int:
        return self._tick.step

    @property
    def state(self):
        return self._select(self._tick.state)

    @property
    def metrics(self) -> dict | None:
        metrics = self._tick.metrics
        return None if metrics is None else self._select(metrics)

    @property
    def alive(self) -> bool:
        return self._tick.alive


class Hook:
    """Base class: a cadence (`every_steps`, `on_steps`) and the two methods a hook overrides."""

    def __init__(self, every_steps: int = 0, *, on_steps: Sequence[int] = ()):
        self.every_steps = every_steps
        self._action = periodic_actions.PeriodicCallback(
            every_steps=every_steps or None, on_steps=on_steps, callback_fn=self._callback)

    def __call__(self, step: int, view: View) -> bool:
        """Called by the loop after every step; returns whether the hook fired."""
        return self._action(step, view=view)

    def _callback(self, *, step: int, t: float, view: View) -> None:
        self.fire(step, view)

    def fire(self, step: int, view: View) -> None:
        """The hook's periodic work."""

    def close(self, step: int, view: View, error: BaseException | None) -> None:
        """The hook's work when the loop ends (any way it ends)."""


def close_all(hooks: Sequence[tuple[Hook, View]], step: int, error: BaseException | None) -> BaseException | None:
    """Close every hook, each even if one before it failed; return the first failure (logged
    when the run is already failing with `error`)."""
    first = None
    for hook, view in hooks:
        try:
            hook.close(step, view, error)
        except Exception as e:  # noqa: BLE001 - the others still close; the first failure is raised
            if error is not None or first is not None:
                logging.exception("closing %s failed", type(hook).__name__)
            first = first or e
    return first


class NonFiniteGuard(Hook):
    """Stops the run when a step's metrics (losses, penalties) are not finite, with a message
    naming them and the last finite checkpoint; warns once when a loss grows beyond 1e8.

    It looks every `every_steps` (the logging interval, whose metrics are fetched from the
    device anyway, so the guard costs no extra wait per step) and at the last step. Between
    two looks nothing non-finite can escape: `Checkpointer.save` refuses a non-finite state
    (the state is copied to the host there anyway) and evaluation refuses non-finite samples,
    both with the same `Diverged` error."""

    def __init__(self, ckpt: Checkpointer | None, workdir: Path, every_steps: int = 1, last_step: int = 0):
        super().__init__(every_steps, on_steps=[last_step] if last_step else ())
        self.ckpt, self.workdir, self.warned = ckpt, workdir, False

    def fire(self, step: int, view: View) -> None:
        values = {k: np.asarray(v, np.float64) for k, v in (view.metrics or {}).items()}
        bad = {k: v for k, v in values.items() if not np.all(np.isfinite(v))}
        if bad:
            latest = self.ckpt.latest_step() if self.ckpt is not None else None
            named = ", ".join(f"{k} = {v.tolist()}" for k, v in list(bad.items())[:3])
            raise Diverged(f"training diverged at step {step} in {str(self.workdir)!r} ({named}); "
                           + diverged_advice(self.ckpt.directory if self.ckpt else None, latest))
        huge = {k: float(np.max(np.abs(v))) for k, v in values.items() if np.max(np.abs(v), initial=0) > _HUGE}
        if huge and not self.warned:
            self.warned = True
            logging.warning("step %d: %s beyond %g: training is probably diverging (lower the "
                            "learning rates)", step, ", ".join(f"|{k}| = {v:.3g}" for k, v in huge.items()), _HUGE)


class LogScalars(Hook):
    """The step's metrics and steps/s to `writer` (console, TensorBoard, metrics.jsonl) every
    `every_steps` and at the last step; at the end, the loss curves to `plot` (losses.png)."""

    def __init__(self, writer, every_steps: int, last_step: int, start: int, plot: Path | None = None):
        super().__init__(every_steps, on_steps=[last_step])
        self.writer, self.plot = writer, plot
        self._since, self._since_step = time.perf_counter(), start  # the first interval includes compiling

    def fire(self, step: int, view: View) -> None:
        now = time.perf_counter()
        steps_per_s = (step - self._since_step) / max(now - self._since, 1e-9)
        self._since, self._since_step = now, step
        self.writer.write_scalars(step, {k: float(v) for k, v in view.metrics.items()} | {"steps_per_s": steps_per_s})

    def close(self, step: int, view: View, error: BaseException | None) -> None:
        self.writer.flush()
        if self.plot is not None:
            viz.loss_curves(self.plot.parent / "metrics.jsonl", self.plot)


class ProgressBar(Hook):
    """A terminal progress bar (off when stderr is not a terminal); the losses, averaged over
    seeds, in its postfix every `postfix_every` steps."""

    def __init__(self, total: int, start: int, enabled: bool, postfix_every: int):
        super().__init__(1)
        self.bar = monitor.progress_bar(total, start, enabled)
        self.postfix_every, self.total = postfix_every, total

    def fire(self, step: int, view: View) -> None:
        self.bar.update(1)
        if not self.bar.disable and (step % self.postfix_every == 0 or step == self.total):
            self.bar.set_postfix({k: f"{float(np.mean(view.metrics[k])):.3f}" for k in ("d_loss", "g_loss")
                                  if k in view.metrics})  # a one-player step has one of them

    def close(self, step: int, view: View, error: BaseException | None) -> None:
        self.bar.close()


class SaveCheckpoint(Hook):
    """The state to `ckpt` every `every_steps`, and once more at the end, however the loop ends
    (unless the state was donated to a failed step), waiting until the save is committed."""

    def __init__(self, ckpt: Checkpointer, meta: Callable[[int], dict], every_steps: int, start: int):
        super().__init__(every_steps)
        self.ckpt, self.meta = ckpt, meta
        self.saved = start if ckpt.latest_step() == start else None  # a resumed step is on disk

    def fire(self, step: int, view: View) -> None:
        if self.saved != step:
            self.ckpt.save(step, view.state, self.meta(step))
            self.saved = step

    def close(self, step: int, view: View, error: BaseException | None) -> None:
        try:
            if view.alive and not isinstance(error, Diverged):
                self.fire(step, view)
        except Diverged as e:
            if error is None:
                raise
            logging.warning("not saving the final state at step %d: %s", step, e)
        except Exception:
            if error is None:
                raise
            logging.exception("could not save the final checkpoint at step %d", step)
        finally:
            self.ckpt.wait()


class Evaluate(Hook):
    """Evaluates every `every_steps` and at the normal end (unless that step was just evaluated):
    metrics to `writer` and eval/step_N.json, the best checkpoint to `best`, the curves of every
    evaluation so far to eval.png. `result` is the latest evaluation."""

    def __init__(self, exp, workdir: Path, writer, best: BestKeeper, meta: Callable[[int], dict],
                 every_steps: int, start: int = 0):
        super().__init__(every_steps)
        self.exp, self.workdir, self.writer, self.best, self.meta = exp, workdir, writer, best, meta
        self.result, self.evaluated_at = {}, None
        done = workdir / "eval" / f"step_{start:09d}.json"
        if start and done.is_file():  # a rerun of a finished run evaluates nothing again
            self.evaluated_at = start
            try:
                self.result = {k: v for k, v in json.loads(done.read_text()).items() if k not in ("step", "protocol")}
            except ValueError:
                self.evaluated_at = None

    def fire(self, step: int, view: View) -> None:
        state = view.state
        result = self.result = evaluate_state(self.exp, state)
        self.evaluated_at = step
        # The file first: a run killed in between leaves the row out (then logged at most once).
        write_eval(self.workdir, step, result)
        self.writer.write_scalars(step, result)
        self.best.offer(step, state, self.meta(step), result, getattr(result, "protocol", None))
        try:
            report.eval_curves(self.workdir / "metrics.jsonl", self.workdir / "eval.png")
        except Exception as e:  # noqa: BLE001 - a plot must never stop training
            logging.warning("could not plot evaluation curves: %s", e)

    def close(self, step: int, view: View, error: BaseException | None) -> None:
        if error is None and self.evaluated_at != step:
            self.fire(step, view)


class Snapshots(Hook):
    """A frame of samples from fixed latents every `every_steps` into samples/ and, as an image,
    into TensorBoard; at the end a last frame (if the last step had none) and the GIF of all."""

    def __init__(self, exp, workdir: Path, writer, every_steps: int, start: int):
        super().__init__(every_steps)
        self.exp, self.workdir, self.writer, self.start = exp, workdir, writer, start
        self.frames = snapshots.make(exp, workdir)

    def fire(self, step: int, view: View) -> None:
        picture = self.frames.frame(view.state, step)
        self.writer.write_images(step, {"samples": picture[None]})

    def close(self, step: int, view: View, error: BaseException | None) -> None:
        if step > self.start and step % self.every_steps and view.alive and not isinstance(error, Diverged):
            self.fire(step, view)
        snapshots.finish(self.exp, self.workdir)

