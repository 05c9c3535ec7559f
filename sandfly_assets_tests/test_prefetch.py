"""Prefetcher and the prefetching DocumentStream: order, errors, bounds, and clean shutdown.

No timings are asserted: waits poll a condition with a generous deadline.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from sandfly_assets.prefetch import Prefetcher
from sandfly_assets.streams import DocumentStream, RecordTally

DEADLINE_SECONDS = 10.0


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached before the deadline")
        time.sleep(0.01)


class Source:
    """A page source that records what it produced, on which thread, and whether it was closed."""

    def __init__(self, count: int | None, fail_after: int | None = None) -> None:
        self.count = count
        self.fail_after = fail_after
        self.produced = 0
        self.closed = False
        self.threads: set[str] = set()
        self.closed_on: str | None = None

    def __iter__(self) -> Iterator[list[int]]:
        return self.pages()

    def pages(self) -> Iterator[list[int]]:
        try:
            number = 0
            while self.count is None or number < self.count:
                if self.fail_after is not None and number == self.fail_after:
                    raise RuntimeError(f"page {number} failed")
                self.threads.add(threading.current_thread().name)
                self.produced += 1
                yield [number]
                number += 1
        finally:
            self.closed = True
            self.closed_on = threading.current_thread().name


def test_yields_every_page_in_source_order() -> None:
    expected = [[n] for n in range(500)]
    source = Source(500)
    with Prefetcher(source, depth=3, name="pf-order") as pages:
        assert list(pages) == expected
    assert source.closed
    assert source.threads == {"pf-order"}  # fetched by the worker, not by the consumer


def test_error_is_raised_after_the_pages_before_it() -> None:
    source = Source(None, fail_after=3)
    pages = Prefetcher(source, depth=2)
    received = []
    with pytest.raises(RuntimeError, match="page 3 failed"):
        for page in pages:
            received.append(page)
    assert received == [[0], [1], [2]]
    assert not pages.alive
    assert source.closed
    pages.close()  # harmless after the end


def test_queue_is_bounded_by_depth() -> None:
    depth = 3
    source = Source(None)  # endless: only the bound stops the worker
    pages = Prefetcher(source, depth=depth)
    try:
        assert next(pages) == [0]
        # One page consumed, `depth` queued, one held by the worker waiting for room.
        wait_until(lambda: source.produced >= 1 + depth + 1)
        time.sleep(0.2)
        assert source.produced == 1 + depth + 1
        assert next(pages) == [1]
        wait_until(lambda: source.produced >= 2 + depth + 1)
        time.sleep(0.2)
        assert source.produced == 2 + depth + 1
    finally:
        pages.close()


def test_close_stops_the_thread_and_closes_the_source_in_it() -> None:
    source = Source(None)
    pages = Prefetcher(source, depth=2, name="pf-close")
    assert next(pages) == [0]
    wait_until(lambda: source.produced >= 4)
    pages.close()
    assert not pages.alive
    assert source.closed
    assert source.closed_on == "pf-close"  # a generator is closed by the thread that ran it
    with pytest.raises(StopIteration):
        next(pages)


def test_close_before_iterating_closes_the_source_without_a_thread() -> None:
    source = Source(5)
    generator = iter(source)
    pages = Prefetcher(generator, depth=2)
    pages.close()
    assert not pages.alive
    with pytest.raises(StopIteration):
        next(pages)


def test_depth_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Prefetcher([], depth=0)


def _stream(source: Source, closed: list[bool], prefetch_pages: int) -> DocumentStream:
    def to_document(record: object) -> dict:
        return {"_id": str(record), "_source": {"n": record}}

    return DocumentStream(
        source,
        to_document,
        RecordTally(),
        on_close=lambda: closed.append(source.closed),
        prefetch_pages=prefetch_pages,
    )


@pytest.mark.parametrize("prefetch_pages", [0, 1, 4])
def test_document_stream_keeps_order_with_or_without_prefetch(prefetch_pages: int) -> None:
    source = Source(50)
    closed: list[bool] = []
    stream = _stream(source, closed, prefetch_pages)
    assert [doc["_id"] for doc in stream] == [str(n) for n in range(50)]
    assert stream.tally.fetched == 50
    assert closed == [True]  # the source was closed before on_close ran


def test_document_stream_propagates_page_errors_and_closes() -> None:
    source = Source(None, fail_after=2)
    closed: list[bool] = []
    stream = _stream(source, closed, prefetch_pages=2)
    received = []
    with pytest.raises(RuntimeError, match="page 2 failed"):
        for document in stream:
            received.append(document["_id"])
    assert received == ["0", "1"]
    assert closed == [True]


def test_abandoned_document_stream_stops_its_thread() -> None:
    source = Source(None)
    closed: list[bool] = []
    iterator = iter(_stream(source, closed, prefetch_pages=2))
    assert next(iterator)["_id"] == "0"
    wait_until(lambda: source.produced >= 3)
    iterator.close()  # what the IO manager does when writing fails for good
    assert closed == [True]
    assert source.closed_on is not None and source.closed_on != threading.current_thread().name
    assert not any(thread.name == "prefetch" for thread in threading.enumerate())
