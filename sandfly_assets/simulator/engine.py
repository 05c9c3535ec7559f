"""Run a validated results query against the compact store.

Fields fall into three kinds, cheapest first:
* stored columns (sequence id, end time, status): compared directly;
* attributes of the result's sandfly or host: the condition is evaluated once per
  sandfly/host, then each row only checks membership in the allowed set;
* everything else (external_id, count, first_seen, ...): the record is rebuilt and
  the value read from it. Correct for any field, just slower.

With AND logic, id conditions become a binary-searched position range and
end-time conditions let the scan skip whole blocks, so keyset pages cost what they
return, not what precedes them.
"""

from __future__ import annotations

import threading
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from . import catalog
from .filters import (
    FIELD_TYPES,
    Condition,
    ResultQuery,
    end_time_bounds,
    seq_bounds,
    value_test,
)
from .hosts import HostIdentity
from .records import RecordBuilder
from .results import ResultStore
from .timeutil import parse_to_us

Predicate = Callable[[int], bool]
SORTED_CACHE_ENTRIES = 4

SANDFLY_FIELDS: dict[str, Callable[[catalog.SandflyDef], object]] = {
    "data.name": lambda sandfly: sandfly.name,
    "data.type": lambda sandfly: sandfly.type,
    "data.engine": lambda sandfly: sandfly.engine,
    "data.severity": lambda sandfly: sandfly.severity,
    "data.tags": lambda sandfly: sandfly.tags,
}
HOST_FIELDS: dict[str, Callable[[HostIdentity], object]] = {
    "header.host_id": lambda host: host.host_id,
    "host_id": lambda host: host.host_id,
    "header.hostname": lambda host: host.hostname,
    "header.node_name": lambda host: host.node_name,
    "header.ip_addr": lambda host: host.ip_addr,
    "header.host_sequence_id": lambda host: host.host_sequence_id,
    "header.queue_name": lambda host: host.queue_name,
    "header.tags": lambda host: list(host.tags),
}
RECORD_PATHS = {
    "match_hashes.permissive": "data.results.match_hashes.permissive",
    "match_hashes.moderate": "data.results.match_hashes.moderate",
    "match_hashes.strict": "data.results.match_hashes.strict",
}


@dataclass(frozen=True)
class Page:
    """Positions of the results on the requested page, in order, and whether more match."""

    positions: list[int]
    more_results: bool


@dataclass
class _Plan:
    """A compiled query: where to scan and what each row must satisfy."""

    seq_low: int | None = None
    seq_high: int | None = None
    time_low: int | None = None
    time_high: int | None = None
    predicate: Predicate | None = None
    empty: bool = False


class QueryEngine:
    """Executes ResultQuery objects against a ResultStore."""

    def __init__(self, store: ResultStore, hosts: list[HostIdentity], builder: RecordBuilder) -> None:
        self.store = store
        self.hosts = hosts
        self.builder = builder
        self._sorted_cache: dict[str, array] = {}
        self._cache_lock = threading.Lock()

    def execute(self, query: ResultQuery) -> Page:
        """The requested page (raises QueryError for invalid operands)."""
        plan = self._plan(query)
        if plan.empty:
            return Page([], False)
        length = self.store.snapshot_length()
        start, stop = self.store.index_range(plan.seq_low, plan.seq_high, length)
        offset = (query.page - 1) * query.size
        if not query.sort or query.sort[0].field in ("id", "sequence_id"):
            descending = query.sort[0].descending if query.sort else True
            if plan.predicate is None and plan.time_low is None and plan.time_high is None:
                return _page_from_range(start, stop, descending, offset, query.size)
            rows = self.store.scan(start, stop, descending, plan.time_low, plan.time_high)
            return _page_from_stream(rows, plan.predicate, offset, query.size)
        matches = self._sorted_matches(query, plan, start, stop, length)
        return Page(list(matches[offset : offset + query.size]), len(matches) > offset + query.size)

    def _sorted_matches(self, query: ResultQuery, plan: _Plan, start: int, stop: int, length: int) -> array:
        """All matches in the requested order, cached so page N of a sorted listing costs O(size).

        The cache key includes the store length: adding results invalidates it.
        """
        key = repr(
            (query.conditions, query.any_of, query.sort, query.result_ids, query.time_since_us, length)
        )
        with self._cache_lock:
            cached = self._sorted_cache.get(key)
        if cached is not None:
            return cached
        rows = self.store.scan(start, stop, False, plan.time_low, plan.time_high)
        matches = [row for row in rows if plan.predicate is None or plan.predicate(row)]
        for sort_key in reversed(query.sort):
            matches.sort(key=self._sort_key(sort_key.field), reverse=sort_key.descending)
        ordered = array("q", matches)
        with self._cache_lock:
            self._sorted_cache[key] = ordered
            while len(self._sorted_cache) > SORTED_CACHE_ENTRIES:
                self._sorted_cache.pop(next(iter(self._sorted_cache)))
        return ordered

    def _plan(self, query: ResultQuery) -> _Plan:
        """Turn conditions into scan bounds and one row predicate."""
        plan = _Plan()
        required: list[Predicate] = []
        if query.result_ids is not None:
            ids = query.result_ids
            if not ids:
                return _Plan(empty=True)
            _narrow_seq(plan, min(ids), max(ids))
            seq = self.store.seq
            required.append(lambda row: seq[row] in ids)
        if query.time_since_us is not None:
            since_ms = -(-query.time_since_us // 1000)
            _narrow_time(plan, since_ms, None)
            end = self.store.end_ms
            required.append(lambda row: end[row] >= since_ms)
        conditions = list(query.conditions)
        if conditions and not query.any_of:
            conditions = [condition for condition in conditions if not self._absorb(plan, condition)]
            required.extend(self._predicate(condition) for condition in conditions)
        elif conditions:
            alternatives = [self._predicate(condition) for condition in conditions]
            required.append(lambda row: any(test(row) for test in alternatives))
        if (plan.seq_low is not None and plan.seq_high is not None and plan.seq_low > plan.seq_high) or (
            plan.time_low is not None and plan.time_high is not None and plan.time_low > plan.time_high
        ):
            plan.empty = True
        plan.predicate = _all_of(required)
        return plan

    def _absorb(self, plan: _Plan, condition: Condition) -> bool:
        """Fold a condition into the scan bounds; True when the bounds alone enforce it."""
        bounds = seq_bounds(condition)
        if bounds is not None:
            _narrow_seq(plan, *bounds)
            return True
        time_bounds = end_time_bounds(condition)
        if time_bounds is not None:
            _narrow_time(plan, *time_bounds)
        return False

    def _predicate(self, condition: Condition) -> Predicate:
        """A per-row test for one condition, using the cheapest source of the field."""
        test = value_test(condition)
        field = condition.field
        store = self.store
        if field in ("id", "sequence_id"):
            seq = store.seq
            return lambda row: test(seq[row])
        if field == "data.end_time":
            end = store.end_ms
            return lambda row: test(end[row] * 1000)
        if field == "data.status":
            allowed = {code for code, name in enumerate(catalog.STATUS_NAMES) if test(name)}
            status = store.status
            return lambda row: status[row] in allowed
        if field in SANDFLY_FIELDS:
            getter = SANDFLY_FIELDS[field]
            allowed = {index for index, sandfly in enumerate(catalog.SANDFLIES) if test(getter(sandfly))}
            sandflies = store.sandfly
            return lambda row: sandflies[row] in allowed
        if field in HOST_FIELDS:
            host_getter = HOST_FIELDS[field]
            allowed = {host.index for host in self.hosts if test(host_getter(host))}
            host_column = store.host
            return lambda row: host_column[row] in allowed
        return self._record_predicate(field, test)

    def _record_predicate(self, field: str, test: Callable[[object], bool]) -> Predicate:
        """Slow path: rebuild (part of) the record and test the field's value."""
        path = RECORD_PATHS.get(field, field)
        is_date = FIELD_TYPES[field] == "date"

        def predicate(row: int) -> bool:
            value = self.builder.field_value(row, path)
            if is_date and isinstance(value, str):
                value = parse_to_us(value)
            return test(value)

        return predicate

    def _sort_key(self, field: str) -> Callable[[int], object]:
        """Sort key of a row for a sortable field."""
        store = self.store
        if field in ("id", "sequence_id"):
            return store.seq.__getitem__
        if field == "data.end_time":
            return store.end_ms.__getitem__
        if field == "data.status":
            return lambda row: catalog.STATUS_NAMES[store.status[row]]
        if field in SANDFLY_FIELDS:
            getter = SANDFLY_FIELDS[field]
            return lambda row: getter(catalog.SANDFLIES[store.sandfly[row]])
        host_getter = HOST_FIELDS[field]
        return lambda row: host_getter(self.hosts[store.host[row]])


def _narrow_seq(plan: _Plan, low: int | None, high: int | None) -> None:
    """Intersect the plan's sequence-id range with [low, high]."""
    if low is not None:
        plan.seq_low = low if plan.seq_low is None else max(plan.seq_low, low)
    if high is not None:
        plan.seq_high = high if plan.seq_high is None else min(plan.seq_high, high)


def _narrow_time(plan: _Plan, low: int | None, high: int | None) -> None:
    """Intersect the plan's end-time range with [low, high] (epoch ms)."""
    if low is not None:
        plan.time_low = low if plan.time_low is None else max(plan.time_low, low)
    if high is not None:
        plan.time_high = high if plan.time_high is None else min(plan.time_high, high)


def _all_of(predicates: list[Predicate]) -> Predicate | None:
    """One predicate requiring all of `predicates` (None when there is nothing to check)."""
    if not predicates:
        return None
    if len(predicates) == 1:
        return predicates[0]

    def combined(row: int) -> bool:
        # An explicit loop, not all(...): this runs once per scanned row and a
        # generator per row would cost more than the comparisons themselves.
        for predicate in predicates:  # noqa: SIM110
            if not predicate(row):
                return False
        return True

    return combined


def _page_from_range(start: int, stop: int, descending: bool, offset: int, size: int) -> Page:
    """A page of an unfiltered id-ordered range, by arithmetic instead of iteration."""
    count = stop - start
    first = offset
    last = min(count, offset + size)
    if first >= last:
        return Page([], False)
    if descending:
        positions = list(range(stop - 1 - first, stop - 1 - last, -1))
    else:
        positions = list(range(start + first, start + last))
    return Page(positions, last < count)


def _page_from_stream(rows: Iterable[int], predicate: Predicate | None, offset: int, size: int) -> Page:
    """Skip `offset` matches, take `size`, and look one match further for `more_results`."""
    page: list[int] = []
    skipped = 0
    for row in rows:
        if predicate is not None and not predicate(row):
            continue
        if skipped < offset:
            skipped += 1
            continue
        if len(page) == size:
            return Page(page, True)
        page.append(row)
    return Page(page, False)
