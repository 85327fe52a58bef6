"""The loop of hooks: cadence, closing on every way out, a new hook as one small class, and the
snapshot hook's images in TensorBoard."""
import io
import json

import numpy as np
import pytest
from PIL import Image

from conftest import tiny_config
from jaxgan import hooks
from jaxgan.data import pipeline
from jaxgan.parallel import Executor
from jaxgan.train import HookSet, _loop, train


class Record(hooks.Hook):
    """Remembers when it fired and how it was closed."""

    def __init__(self, every_steps, fail_on_close=False):
        super().__init__(every_steps)
        self.fired, self.closed, self.fail_on_close = [], None, fail_on_close

    def fire(self, step, view):
        self.fired.append((step, float(view.metrics["loss"]), int(view.state)))

    def close(self, step, view, error):
        self.closed = (step, type(error).__name__ if error else None, view.alive)
        if self.fail_on_close:
            raise RuntimeError("close failed")


class NonFiniteGuard(hooks.Hook):
    """What the hardening issue's guard looks like: one small class."""

    def fire(self, step, view):
        if not np.isfinite(view.metrics["loss"]):
            raise FloatingPointError(f"loss is {view.metrics['loss']} at step {step}")


def counting(losses):
    """A stand-in executor: the state counts steps, the loss is read from `losses`."""
    step = lambda state, batch: (state + 1, {"loss": np.float32(losses[int(state)])})
    return Executor("fake", 1, step, place_state=lambda s: s, place_batch=lambda b: b,
                    unplace_state=lambda s: s)


def batches():
    return pipeline.Prefetcher(iter([{"x": np.zeros(1)}] * 100))


def test_hooks_fire_on_their_cadence_and_close_at_the_end():
    every2, every3 = Record(2), Record(3)
    last = _loop(counting([0.5] * 10), 0, batches(), [HookSet(lambda t: t, [every2, every3])], 0, 7)
    assert last == 7
    assert [s for s, _, _ in every2.fired] == [2, 4, 6] and [s for s, _, _ in every3.fired] == [3, 6]
    assert every2.fired[0] == (2, 0.5, 2)  # the view shows the state after the step
    assert every2.closed == every3.closed == (7, None, True)


def test_a_failing_hook_stops_the_run_and_every_hook_is_closed():
    record = Record(1)
    losses = [0.5, 0.5, float("nan"), 0.5]
    with pytest.raises(FloatingPointError, match="nan at step 3"):
        _loop(counting(losses), 0, batches(), [HookSet(lambda t: t, [NonFiniteGuard(1), record])], 0, 4)
    assert record.closed == (3, "FloatingPointError", True)


def test_a_failing_close_is_raised_after_the_others_close():
    first, second = Record(1, fail_on_close=True), Record(1)
    with pytest.raises(RuntimeError, match="close failed"):
        _loop(counting([0.5] * 3), 0, batches(), [HookSet(lambda t: t, [first, second])], 0, 3)
    assert second.closed == (3, None, True)


def test_each_hook_set_sees_its_part():
    seen = {}

    class Seen(hooks.Hook):
        def __init__(self, name):
            super().__init__(1)
            self.name = name

        def fire(self, step, view):
            seen[self.name] = view.state

    sets = [HookSet(lambda t: t, [Seen("all")]), HookSet(lambda t: t * 10, [Seen("scaled")])]
    _loop(counting([0.5] * 3), 0, batches(), sets, 0, 2)
    assert seen == {"all": 2, "scaled": 20}


def test_snapshots_reach_tensorboard_as_images(tmp_path):
    from tensorboard.backend.event_processing import event_accumulator

    c = tiny_config()  # the 2D recipe's MLPs, on 8x8 synthetic images
    c.data.update(source="synthetic", name="shapes", image_size=8, channels=3, num_classes=0,
                  num_examples=32)
    c.model.generator.output = "tanh"
    c.eval.features = "none"
    c.viz.update(every_steps=3, num_samples=4)
    train(c, tmp_path)
    events = event_accumulator.EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"tensors": 0})
    events.Reload()
    # TF2 image summaries are tensors [width, height, PNG...] tagged with the "images" plugin.
    assert events.SummaryMetadata("samples").plugin_data.plugin_name == "images"
    frames = events.Tensors("samples")
    assert [f.step for f in frames] == [3, 6]
    width, height, png = frames[0].tensor_proto.string_val
    with Image.open(io.BytesIO(png)) as picture:
        assert picture.size == (int(width), int(height)) and picture.width > 8  # the grid, not one sample
    assert sorted(p.name for p in (tmp_path / "samples").glob("step_*.png")) == [
        "step_000000003.png", "step_000000006.png"]
    assert (tmp_path / "training.gif").is_file()
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert all("samples" not in r for r in rows)  # pictures are not scalars
