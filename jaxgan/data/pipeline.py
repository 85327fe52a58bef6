"""Turn a source's batch stream into what the train step eats, prepared ahead of time."""
from __future__ import annotations

import queue
import threading
from typing import Callable, Iterator

import numpy as np


def stack(batches: Iterator[dict], n: int) -> Iterator[dict]:
    """Group `n` consecutive batches into one with a leading axis: one per critic update."""
    while True:
        group = [next(batches) for _ in range(n)]
        yield {k: np.stack([b[k] for b in group]) for k in group[0]}


class Prefetcher:
    """Prepares (and places on devices) the next `size` batches on a background thread so the
    step never waits for the host. Order is unchanged, so runs stay deterministic."""

    _DONE = object()

    def __init__(self, batches: Iterator[dict], place: Callable = lambda b: b, size: int = 2):
        self._queue: queue.Queue = queue.Queue(maxsize=size)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._fill, args=(batches, place), daemon=True)
        self._thread.start()

    def _fill(self, batches, place):
        try:
            for batch in batches:
                item = place(batch)
                while not self._stop.is_set():
                    try:
                        self._queue.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
        except BaseException as e:  # handed to the consumer, which re-raises it
            self._queue.put(e)
        self._queue.put(self._DONE)

    def __iter__(self):
        return self

    def __next__(self):
        item = self._queue.get()
        if item is self._DONE:
            raise StopIteration
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self):
        self._stop.set()
        self._thread.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
