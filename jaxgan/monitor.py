"""What a person watching a run sees: metric writers, a progress bar, a parameter overview."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any, Mapping

from absl import logging
from clu import metric_writers, parameter_overview
from clu.metric_writers import interface
from tqdm import tqdm


class JsonlWriter(interface.MetricWriter):
    """Scalars as one JSON object per line: readable without TensorFlow, easy to compare runs."""

    def __init__(self, path: str | Path):
        self._file = open(path, "a", buffering=1)

    def write_scalars(self, step: int, scalars: Mapping[str, Any]):
        row = {"step": int(step)}
        for k, v in scalars.items():
            v = float(v)
            row[k] = v if math.isfinite(v) else str(v)
        self._file.write(json.dumps(row) + "\n")

    def write_hparams(self, hparams: Mapping[str, Any]):
        self._file.write(json.dumps({"hparams": {k: str(v) for k, v in hparams.items()}}) + "\n")

    # Pictures go to files in the workdir and to TensorBoard, not to the JSONL log.
    def write_summaries(self, step, values, metadata=None): pass
    def write_images(self, step, images): pass
    def write_videos(self, step, videos): pass
    def write_audios(self, step, audios, *, sample_rate): pass
    def write_texts(self, step, texts): pass
    def write_histograms(self, step, arrays, num_buckets=None): pass

    def flush(self):
        self._file.flush()

    def close(self):
        if not self._file.closed:
            self._file.close()


def create_writer(workdir: Path, *, just_logging: bool = False, tag: str | None = None
                  ) -> metric_writers.MetricWriter:
    """TensorBoard event files in <workdir>/tensorboard, console logging (prefixed with `tag`,
    e.g. the seed of a multi-seed run), <workdir>/metrics.jsonl."""
    console = metric_writers.LoggingWriter(collection=tag)
    if just_logging:
        return metric_writers.AsyncMultiWriter([console])
    return metric_writers.MultiWriter([
        metric_writers.AsyncMultiWriter([console, metric_writers.SummaryWriter(str(workdir / "tensorboard"))]),
        JsonlWriter(workdir / "metrics.jsonl")])


def log_parameter_overview(workdir: Path, params_by_net: Mapping[str, Any], log: bool = True) -> None:
    """Keep a table of every parameter's shape and size in <workdir>/parameters.txt (and log it)."""
    sections = []
    for name, params in params_by_net.items():
        table = parameter_overview.get_parameter_overview(params, include_stats=False)
        sections.append(f"{name}:\n{table}")
    text = "\n\n".join(sections)
    if log:
        logging.info("Parameters:\n%s", text)
    (workdir / "parameters.txt").write_text(text + "\n")


def progress_bar(total: int, initial: int, enabled: bool) -> tqdm:
    """A bar with steps/s; losses are shown in its postfix. Off when stderr is not a terminal."""
    return tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, mininterval=0.5,
                disable=not (enabled and sys.stderr.isatty()), file=sys.stderr)


class _LibraryInfoFilter:
    """Drops INFO chatter of the checkpointing and writer libraries (orbax logs every file it
    renames); their warnings and errors still show."""

    _NOISY = ("/orbax/", "/clu/metric_writers/async_writer", "/tensorstore/")

    def filter(self, record) -> bool:
        return record.levelno >= 30 or not any(p in record.pathname for p in self._NOISY)


def quiet_library_logs() -> None:
    import logging as std_logging

    from absl import logging as absl_logging

    handler = absl_logging.get_absl_handler()
    if not any(isinstance(f, _LibraryInfoFilter) for f in handler.filters):
        handler.addFilter(_LibraryInfoFilter())
    std_logging.getLogger("absl").addFilter(_LibraryInfoFilter())
