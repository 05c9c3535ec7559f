"""Fetch the next pages in a background thread while the current one is being written.

Why: a sync alternates between waiting for the Sandfly server (the next page) and waiting
for Elasticsearch (the last `_bulk`). Both waits are I/O, so one thread can wait for the next
page while the other waits for the bulk answer. `Prefetcher` wraps any iterable of pages:
a single worker thread pulls pages into a small bounded queue, the consumer takes them in
exactly the order the source produced them.

Bounded on purpose (invariant 5, bounded memory): at most `depth` pages wait in the queue,
plus the one the worker holds while the queue is full, so memory does not grow with the day.

Errors raised by the source are re-raised in the consumer, after the pages produced before
them. `close()` (also called when the consumer's loop ends, breaks or fails) stops the worker,
closes the source from the worker's own thread (a generator's `finally` must run in the
thread that runs it) and waits for the thread to end.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

DEFAULT_DEPTH = 2
# How often a worker blocked on a full queue looks at the stop flag.
_POLL_SECONDS = 0.05


class _End:
    """Queue marker: the source is exhausted (error is None) or raised `error`."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


class Prefetcher(Generic[T]):
    """Iterate `source` with up to `depth` items fetched ahead by one background thread.

    Use as an iterator (once) and close it, or as a context manager::

        with Prefetcher(client.iter_result_pages(...), depth=2) as pages:
            for page in pages:
                ...
    """

    def __init__(self, source: Iterable[T], depth: int = DEFAULT_DEPTH, name: str = "prefetch") -> None:
        if depth < 1:
            raise ValueError(f"prefetch depth must be at least 1 (got {depth})")
        self._source = source
        self._queue: queue.Queue[T | _End] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._finished = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = False

    @property
    def depth(self) -> int:
        """How many items may wait in the queue."""
        return self._queue.maxsize

    @property
    def alive(self) -> bool:
        """True while the worker thread runs (for tests and diagnostics)."""
        return self._thread.is_alive()

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        if self._finished:
            raise StopIteration
        if not self._started:
            self._started = True
            self._thread.start()
        item = self._queue.get()
        if isinstance(item, _End):
            self._finished = True
            self._thread.join()
            if item.error is not None:
                raise item.error
            raise StopIteration
        return item

    def close(self) -> None:
        """Stop the worker, let it close the source, and wait for it; safe to call twice."""
        self._finished = True
        self._stop.set()
        if not self._started:
            self._close_source()
            return
        # Unblock a worker waiting on a full queue; anything it fetched is dropped.
        while self._thread.is_alive():
            self._drain()
            self._thread.join(timeout=_POLL_SECONDS)
        self._drain()

    def __enter__(self) -> Prefetcher[T]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run(self) -> None:
        """Worker: move items from the source to the queue until done, failed or stopped."""
        error: BaseException | None = None
        stopped = False
        try:
            for item in self._source:
                if not self._put(item):
                    stopped = True
                    break
        except BaseException as raised:  # handed to the consumer, which re-raises it
            error = raised
        try:
            self._close_source()
        except BaseException as raised:
            error = error or raised
        if not stopped:
            self._put(_End(error))

    def _put(self, item: T | _End) -> bool:
        """Block until the item is queued (True) or the consumer closed us (False)."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def _close_source(self) -> None:
        close = getattr(self._source, "close", None)
        if callable(close):
            close()

    def _drain(self) -> None:
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass
