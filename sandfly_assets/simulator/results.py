"""Compact result storage: a few typed arrays instead of one dict per result.

The benchmark serves a million results; holding them as dicts would take
gigabytes. Each result is five numbers (sequence id, end time, status, host,
sandfly), about 22 bytes. Everything else in a record is rebuilt on demand from
(seed, sequence_id) by `records.RecordBuilder`.

Results are appended in sequence-id order, so a keyset cursor becomes a binary
search. A per-block min/max of end times (a "zone map") lets time-window queries
skip blocks that cannot match, even when late commits break time order.
"""

from __future__ import annotations

import bisect
import random
import threading
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from . import catalog
from .hosts import HostCounters, HostIdentity
from .rand import rng_for
from .timeutil import DAY_MS

BLOCK_SHIFT = 10
BLOCK_SIZE = 1 << BLOCK_SHIFT
HOST_BITS = 20
HOST_MASK = (1 << HOST_BITS) - 1
FIRST_SEQUENCE_ID = 1000
GAP_SHARE = 0.01
CHUNK = 65_536


@dataclass(slots=True)
class Row:
    """The stored state of one result."""

    sequence_id: int
    end_ms: int
    status: int
    host: int
    sandfly: int


class ResultStore:
    """Append-only, thread-safe columns of result state, ordered by sequence id."""

    def __init__(self, host_count: int) -> None:
        self.seq = array("q")
        self.end_ms = array("q")
        self.status = array("b")
        self.host = array("i")
        self.sandfly = array("B")
        self.block_min: list[int] = []
        self.block_max: list[int] = []
        self._counts = [[0, 0, 0] for _ in range(host_count)]
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.seq)

    def row(self, index: int) -> Row:
        """The stored state of the result at `index` (0-based position)."""
        return Row(
            self.seq[index], self.end_ms[index], self.status[index], self.host[index], self.sandfly[index]
        )

    def max_sequence_id(self) -> int:
        """Highest sequence id, 0 when empty (what getMaxID answers)."""
        with self._lock:
            return self.seq[-1] if self.seq else 0

    def next_sequence_id(self) -> int:
        """The id the next appended result would get without a gap."""
        return self.max_sequence_id() + 1 if self.seq else FIRST_SEQUENCE_ID

    def append_many(
        self,
        seqs: Sequence[int],
        ends: Sequence[int],
        statuses: Sequence[int],
        hosts: Sequence[int],
        sandflies: Sequence[int],
    ) -> None:
        """Append results; sequence ids must keep increasing (a commit order)."""
        if not seqs:
            return
        with self._lock:
            if self.seq and seqs[0] <= self.seq[-1]:
                raise ValueError("sequence ids must increase")
            start = len(self.seq)
            self.seq.extend(seqs)
            self.end_ms.extend(ends)
            self.status.extend(statuses)
            self.host.extend(hosts)
            self.sandfly.extend(sandflies)
            for host, status in zip(hosts, statuses, strict=True):
                self._counts[host][status] += 1
            self._refresh_blocks(start)

    def _refresh_blocks(self, start: int) -> None:
        """Recompute the zone map of every block touched since `start`.

        Values are overwritten in place (never deleted) so a concurrent reader
        always finds an entry for every block below its snapshot length.
        """
        for block_start in range((start >> BLOCK_SHIFT) << BLOCK_SHIFT, len(self.end_ms), BLOCK_SIZE):
            chunk = self.end_ms[block_start : block_start + BLOCK_SIZE]
            block = block_start >> BLOCK_SHIFT
            if block < len(self.block_min):
                self.block_min[block] = min(chunk)
                self.block_max[block] = max(chunk)
            else:
                self.block_min.append(min(chunk))
                self.block_max.append(max(chunk))

    def snapshot_length(self) -> int:
        """Number of fully committed results; rows below it never change."""
        with self._lock:
            return len(self.seq)

    def counters(self, host: int) -> HostCounters:
        """Result counts of one host, by status."""
        alert, error, passed = self._counts[host]
        return HostCounters(alert=alert, error=error, passed=passed)

    def index_range(self, seq_low: int | None, seq_high: int | None, length: int) -> tuple[int, int]:
        """Positions [start, stop) of results with seq_low <= sequence_id <= seq_high."""
        start = 0 if seq_low is None else bisect.bisect_left(self.seq, seq_low, 0, length)
        stop = length if seq_high is None else bisect.bisect_right(self.seq, seq_high, 0, length)
        return start, max(start, stop)

    def index_of(self, sequence_id: int) -> int | None:
        """Position of a sequence id, or None if there is no such result."""
        length = self.snapshot_length()
        position = bisect.bisect_left(self.seq, sequence_id, 0, length)
        if position < length and self.seq[position] == sequence_id:
            return position
        return None

    def scan(
        self, start: int, stop: int, descending: bool, time_low: int | None, time_high: int | None
    ) -> Iterator[int]:
        """Yield positions in [start, stop), skipping blocks whose end times miss [time_low, time_high]."""
        if time_low is None and time_high is None:
            yield from (range(stop - 1, start - 1, -1) if descending else range(start, stop))
            return
        low = -(1 << 62) if time_low is None else time_low
        high = 1 << 62 if time_high is None else time_high
        if start >= stop:
            return
        first_block, last_block = start >> BLOCK_SHIFT, (stop - 1) >> BLOCK_SHIFT
        blocks = range(last_block, first_block - 1, -1) if descending else range(first_block, last_block + 1)
        for block in blocks:
            if self.block_max[block] < low or self.block_min[block] > high:
                continue
            first = max(start, block << BLOCK_SHIFT)
            last = min(stop, (block + 1) << BLOCK_SHIFT)
            yield from (range(last - 1, first - 1, -1) if descending else range(first, last))


def generate_history(
    store: ResultStore,
    seed: int,
    hosts: list[HostIdentity],
    days: int,
    results_per_day: int,
    pass_share: float,
    error_share: float,
    now_ms: int,
) -> None:
    """Fill the store with `results_per_day` results on each of the last `days` UTC days.

    The last day is today, generated only up to `now`. Results come in scan runs:
    a host's results finish within a few seconds of each other, so many share an
    end time. Complete days also get results at exactly 00:00:00 and at
    23:59:59.999 (two of them, a tie) to exercise day boundaries. Sequence ids
    follow end-time order, with occasional small gaps like a real database sequence.

    A day is generated in time slices of at most CHUNK results so the transient
    Python lists stay small even for a million results in one day.
    """
    today_start = now_ms - now_ms % DAY_MS
    next_seq = FIRST_SEQUENCE_ID
    for offset in range(days - 1, -1, -1):
        day_start = today_start - offset * DAY_MS
        span_end = min(day_start + DAY_MS - 1, now_ms)
        day = _DayPlan(
            rng=rng_for(seed, "history-day", day_start // DAY_MS),
            day_start=day_start,
            seconds=(span_end - day_start) // 1000 + 1,
            eligible=_eligible_hosts(hosts, day_start, span_end),
        )
        specials = [day_start, day_start]
        if span_end < now_ms:
            specials += [day_start + DAY_MS - 1000, day_start + DAY_MS - 1, day_start + DAY_MS - 1]
        specials = specials[:results_per_day]
        regular = results_per_day - len(specials)
        slices = max(1, min(day.seconds, regular // CHUNK + 1))
        for number in range(slices):
            first_second = day.seconds * number // slices
            stop_second = day.seconds * (number + 1) // slices
            count = regular * (number + 1) // slices - regular * number // slices
            in_slice = [t for t in specials if first_second <= (t - day_start) // 1000 < stop_second]
            keys = day.keys(first_second, stop_second, count, in_slice)
            next_seq = _append_keys(store, day.rng, keys, next_seq, pass_share, error_share)


@dataclass
class _DayPlan:
    """What one day's generation needs: its random stream, span and eligible hosts."""

    rng: random.Random
    day_start: int
    seconds: int
    eligible: list[int]

    def keys(self, first_second: int, stop_second: int, count: int, specials: list[int]) -> list[int]:
        """Sorted (end_ms << HOST_BITS | host) keys for `count` results in [first_second, stop_second)."""
        rng = self.rng
        eligible = self.eligible
        keys = [(end << HOST_BITS) | eligible[int(rng.random() * len(eligible))] for end in specials]
        width = stop_second - first_second
        remaining = count
        while remaining > 0:
            run = min(remaining, 5 + int(rng.random() * 36))
            host = eligible[int(rng.random() * len(eligible))]
            run_start = first_second + int(rng.random() * width)
            for _ in range(run):
                second = min(run_start + int(rng.random() * 4), stop_second - 1)
                keys.append(((self.day_start + second * 1000) << HOST_BITS) | host)
            remaining -= run
        keys.sort()
        return keys


def _append_keys(
    store: ResultStore,
    rng: random.Random,
    keys: list[int],
    next_seq: int,
    pass_share: float,
    error_share: float,
) -> int:
    """Give sorted keys sequence ids, statuses and sandflies, and commit them."""
    seqs, next_seq = _sequence_ids(rng, next_seq, len(keys))
    statuses = [_draw_status(rng, pass_share, error_share) for _ in keys]
    sandfly_count = len(catalog.SANDFLIES)
    sandflies = [int(rng.random() * sandfly_count) for _ in keys]
    ends = [key >> HOST_BITS for key in keys]
    hosts = [key & HOST_MASK for key in keys]
    store.append_many(seqs, ends, statuses, hosts, sandflies)
    return next_seq


def _eligible_hosts(hosts: list[HostIdentity], day_start: int, day_end: int) -> list[int]:
    """Hosts that were being scanned during the day; falls back to every seen host."""
    seen = [host for host in hosts if host.last_seen_ms is not None]
    eligible = [
        host.index
        for host in seen
        if host.last_seen_ms is not None
        and host.last_seen_ms >= day_start
        and (host.first_seen_ms is None or host.first_seen_ms <= day_end)
    ]
    return eligible or [host.index for host in seen] or [0]


def _sequence_ids(rng: random.Random, first: int, count: int) -> tuple[list[int], int]:
    """`count` increasing ids from `first`, with rare gaps of 1-5 (rolled-back transactions)."""
    seqs = []
    current = first
    for _ in range(count):
        if rng.random() < GAP_SHARE:
            current += rng.randint(1, 5)
        seqs.append(current)
        current += 1
    return seqs, current


def _draw_status(rng: random.Random, pass_share: float, error_share: float) -> int:
    """alert/error/pass with the configured shares."""
    draw = rng.random()
    if draw < pass_share:
        return catalog.STATUS_PASS
    if draw < pass_share + error_share:
        return catalog.STATUS_ERROR
    return catalog.STATUS_ALERT


def add_results(
    store: ResultStore,
    seed: int,
    hosts: list[HostIdentity],
    count: int,
    end_ms: int,
    status: int | None,
    pass_share: float,
    error_share: float,
) -> list[int]:
    """Commit `count` new results, all ending at `end_ms` (possibly days ago: a late commit).

    They get the next sequence ids without gaps, on hosts that were active that day.
    """
    if count <= 0:
        return []
    first = store.next_sequence_id()
    rng = rng_for(seed, "added-results", first)
    day_start = end_ms - end_ms % DAY_MS
    eligible = _eligible_hosts(hosts, day_start, end_ms)
    seqs = list(range(first, first + count))
    statuses = [status if status is not None else _draw_status(rng, pass_share, error_share) for _ in seqs]
    host_ids = [eligible[int(rng.random() * len(eligible))] for _ in seqs]
    sandflies = [int(rng.random() * len(catalog.SANDFLIES)) for _ in seqs]
    store.append_many(seqs, [end_ms] * count, statuses, host_ids, sandflies)
    return seqs


def ground_truth(
    store: ResultStore,
    end_from_ms: int | None,
    end_before_ms: int | None,
    include_pass: bool,
    after_sequence_id: int,
    max_sequence_id: int | None,
) -> list[int]:
    """Sequence ids matching simple criteria, by a plain loop.

    Deliberately independent of the filter engine, so tests that compare the two
    catch a bug in either.
    """
    matches = []
    for index in range(len(store)):
        seq = store.seq[index]
        end = store.end_ms[index]
        if seq <= after_sequence_id or (max_sequence_id is not None and seq > max_sequence_id):
            continue
        if end_from_ms is not None and end < end_from_ms:
            continue
        if end_before_ms is not None and end >= end_before_ms:
            continue
        if not include_pass and store.status[index] == catalog.STATUS_PASS:
            continue
        matches.append(seq)
    return matches
