"""The Elasticsearch IO manager: index template, bulk writing, per-item errors, read-back.

Index layout
------------
One index per data type, named ``<base>-<suffix>`` where ``<base>`` is the resource's
``index`` (``ELASTICSEARCH_INDEX``, default ``sandfly``) and ``<suffix>`` comes from the
asset's definition metadata ``index_suffix``: ``sandfly-results``, ``sandfly-hosts`` and
``sandfly-ssh-keys``. An alias ``<base>`` spans all three, so the data reads like the
single index of Elastic's Sandfly connector and a Kibana index pattern ``sandfly`` (or
``sandfly*``) keeps working. One index per type keeps each mapping small and lets results
(which grow every day) get a different retention from hosts and keys (which do not).

A composable index template named ``<base>`` (pattern ``<base>-*``) gives every such index
its settings, mappings and the alias. Its mappings are compatible with the vendor's
connector mapping: the same types for the fields both declare (``long`` where the vendor
says ``unsigned_long``, which ES 7 lacks), ``text`` + ``.keyword`` where the vendor has it,
so dashboards' ``.keyword`` fields exist. ``date_detection`` is off and odd values in
record fields are ignored rather than rejected (``ignore_malformed``), so one strange field
never loses a document; the ECS fields we compute ourselves are strict.

Writing
-------
``handle_output`` consumes the asset's iterable of ``{"_id", "_source"}`` documents once,
lazily, in chunks bounded by count and bytes, as ``index`` actions (upserts by id: writing
the same documents twice leaves the same index). Items rejected with 429/503 are resent
with exponential backoff; every other per-item error is collected and, after the whole
stream was written, the run fails with ``DocumentWriteError`` naming them. Nothing is
ever deleted.

Transient failures of whole requests (429, 502, 503, 504, connection errors, timeouts, a
garbled answer) are retried with the same backoff, for the bulk requests as for preparing
the index; this module is the only one retrying them (the client's own immediate retries
are turned off for bulk requests), so a busy cluster is never hammered. Before a run does
any work, ``setup_for_execution`` checks that the cluster answers, so a cluster that is down
fails the run before anything is fetched from the source.

Reading
-------
``load_input`` returns the upstream partition's (or range's) documents as a DataFrame: a
``range`` query on ``@timestamp`` over the partition time window, paged with scroll.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import pandas as pd
from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout, SerializationError, TlsError, TransportError
from elasticsearch import ApiError, Elasticsearch, helpers
from pydantic import Field

from sandfly_assets.es_resource import ElasticsearchResource, ElasticsearchUnavailable, validate_index_name
from sandfly_assets.prefetch import Prefetcher

INDEX_SUFFIX_METADATA_KEY = "index_suffix"
DEFAULT_CHUNK_MAX_DOCS = 1000
DEFAULT_CHUNK_MAX_BYTES = 8 * 1024 * 1024
DEFAULT_ENCODE_AHEAD_CHUNKS = 1
# Per-item statuses worth resending: the write queue was full, or a shard was not ready.
RETRYABLE_STATUSES = frozenset({429, 503})
# Whole-request statuses worth resending: the same, plus gateways in front of the cluster
# (load balancers, Elastic Cloud's proxy) that could not reach a node. Resending is safe:
# every action is an upsert by id.
RETRYABLE_REQUEST_STATUSES = frozenset({429, 502, 503, 504})
# Transport failures worth resending: refused or dropped connections, timeouts, and an
# answer that arrived garbled.
RETRYABLE_TRANSPORT_ERRORS = (TransportConnectionError, ConnectionTimeout, SerializationError)
# Above the stack's built-in templates (priority 100 on 8.x/9.x), below anything a user
# would deliberately put on top.
TEMPLATE_PRIORITY = 200
TEMPLATE_VERSION = 1
TOTAL_FIELDS_LIMIT = 5000
FAILURES_SHOWN = 5
# Failures kept in memory; beyond this only the count grows (bounded memory).
FAILURES_KEPT = 100
SCROLL_PAGE_SIZE = 1000
_BULK_FILTER_PATH = "errors,items.*._id,items.*.status,items.*.result,items.*.error"


# --- index names and the template -----------------------------------------------------


def index_name(base: str, suffix: str) -> str:
    """The concrete index for one data type, e.g. ``sandfly-results``."""
    return validate_index_name(f"{base}-{suffix}", setting="index name")


def _text_keyword() -> dict:
    """The connector mapping's string type: full text plus an exact ``.keyword``."""
    return {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}}


def _lenient(type_name: str) -> dict:
    """A typed field whose odd values are kept in ``_source`` but not indexed."""
    return {"type": type_name, "ignore_malformed": True}


def _keyword() -> dict:
    return {"type": "keyword", "ignore_above": 1024}


def _object(**properties: dict) -> dict:
    return {"properties": properties}


# Record fields whose string values are instants (vendor mapping: date). Matched by name
# because the records are deep and these names recur at many levels.
_DATE_FIELD_NAMES = (
    "first_seen",
    "last_seen",
    "date_first_seen",
    "date_last_seen",
    "date_last_scan",
    "key_first_seen",
    "key_last_seen",
    "start_time",
    "end_time",
    "uptime_date",
    "os_info_uptime_date",
    "system_uptime",
    "begin",
    "end",
    "create_date",
    "modification_date",
    "next_run",
    "last_trigger_time",
    "main_exec_start_time",
    "main_exec_exit_time",
)
# Record fields that are fractions (vendor mapping: float) but may arrive as integers first.
_FLOAT_FIELD_NAMES = (
    "bogo_mips",
    "entropy",
    "mhz",
    "one_min",
    "five_min",
    "fifteen_min",
    "one_min_core_adjusted",
    "five_min_core_adjusted",
    "fifteen_min_core_adjusted",
    "percent_idle",
    "percent_used",
)


def _dynamic_templates() -> list[dict]:
    """How unmapped record fields are typed: dates and floats by name, numbers leniently.

    Strings not covered here get Elasticsearch's default (text + ``.keyword``), which is
    also what the vendor mapping uses.
    """
    return [
        {
            "sandfly_dates_in_date_objects": {
                "path_match": "*.date.*",
                "match_mapping_type": "string",
                "mapping": _lenient("date"),
            }
        },
        {
            "sandfly_dates_by_name": {
                "match_pattern": "regex",
                "match": "^(" + "|".join(_DATE_FIELD_NAMES) + ")$",
                "match_mapping_type": "string",
                "mapping": _lenient("date"),
            }
        },
        {
            "sandfly_floats_by_name": {
                "match_pattern": "regex",
                "match": "^(.*_)?(" + "|".join(_FLOAT_FIELD_NAMES) + ")$",
                "match_mapping_type": "long",
                "mapping": _lenient("float"),
            }
        },
        {"sandfly_longs": {"match_mapping_type": "long", "mapping": _lenient("long")}},
        {"sandfly_doubles": {"match_mapping_type": "double", "mapping": _lenient("float")}},
    ]


def _record_mappings() -> dict:
    """Explicit mappings for the record fields that are filtered, sorted or aggregated on."""
    text, date, long = _text_keyword, (lambda: _lenient("date")), (lambda: _lenient("long"))
    results = _object(
        id=text(),
        sequence_id=long(),
        external_id=text(),
        first_seen=date(),
        last_seen=date(),
        header=_object(
            start_time=date(),
            end_time=date(),
            hostname=text(),
            ip_addr=text(),
            node_name=text(),
            host_id=text(),
            host_sequence_id=long(),
            tags=text(),
        ),
        data=_object(
            name=text(),
            status=text(),
            type=text(),
            engine=text(),
            tags=text(),
            key_data=text(),
            severity=long(),
            start_time=date(),
            end_time=date(),
        ),
    )
    hosts = _object(
        host_id=text(),
        id=text(),
        hostname=text(),
        host_sequence_id=long(),
        authentication_status=text(),
        tags=text(),
        first_seen_ip_addr=text(),
        last_seen_ip_addr=text(),
        date_first_seen=date(),
        date_last_seen=date(),
        date_last_scan=date(),
    )
    ssh_keys = _object(
        id=long(),
        friendly_name=text(),
        key_type=text(),
        key_value=text(),
        key_tags=text(),
        first_seen=date(),
        last_seen=date(),
        hash=_object(md5=text(), sha1=text(), sha256=text(), sha512=text()),
    )
    return {"sandfly_results": results, "sandfly_hosts": hosts, "sandfly_ssh_keys": ssh_keys}


def index_mappings() -> dict:
    """The mappings every ``<base>-*`` index gets."""
    properties = {
        # Computed by `documents`, always well-formed: strict, so a bug shows up at once.
        "@timestamp": {"type": "date"},
        "_timestamp": {"type": "date"},
        "id": _text_keyword(),
        "sandfly_data_type": _text_keyword(),
        "sandfly_key_data": _text_keyword(),
        "event": _object(
            kind=_keyword(), module=_keyword(), dataset=_keyword(), id=_keyword(), severity={"type": "long"}
        ),
        "rule": _object(name=_keyword()),
        "host": _object(name=_keyword(), hostname=_keyword(), id=_keyword(), ip={"type": "ip"}),
        **_record_mappings(),
    }
    return {
        "date_detection": False,
        "dynamic_templates": _dynamic_templates(),
        "properties": properties,
    }


def index_template(base: str) -> dict:
    """The composable index template for ``<base>-*`` (settings, mappings, alias)."""
    validate_index_name(base)
    return {
        "index_patterns": [f"{base}-*"],
        "priority": TEMPLATE_PRIORITY,
        "version": TEMPLATE_VERSION,
        "_meta": {"managed_by": "sandfly_assets", "alias": base},
        "template": {
            "settings": {"index": {"mapping": {"total_fields": {"limit": TOTAL_FIELDS_LIMIT}}}},
            "mappings": index_mappings(),
            "aliases": {base: {}},
        },
    }


def ensure_index_template(client: Elasticsearch, base: str) -> None:
    """Create or update the template ``<base>`` (a PUT: idempotent, safe to repeat)."""
    body = index_template(base)
    client.indices.put_index_template(
        name=base,
        index_patterns=body["index_patterns"],
        priority=body["priority"],
        version=body["version"],
        meta=body["_meta"],
        template=body["template"],
    )


def ensure_index(
    client: Elasticsearch,
    base: str,
    suffix: str,
    retry: Callable[[Callable[[], Any]], Any] | None = None,
) -> str:
    """Template first, then the index itself, so it exists even where auto-create is off.

    ``retry`` wraps each call (e.g. ``RetryPolicy.call``); by default each is made once.
    """
    attempt = retry or (lambda call: call())
    attempt(lambda: ensure_index_template(client, base))
    name = index_name(base, suffix)
    if not attempt(lambda: client.indices.exists(index=name)):
        try:
            attempt(lambda: client.indices.create(index=name))
        except ApiError as error:
            # Another run created it between the check and the create (or a retried create
            # had already succeeded): that is fine.
            if "already_exists" not in str(error.message):
                raise
    return name


# Indices prepared by this process, by cluster location and index name: the template PUT
# and the existence check happen once, not once per run step or chunk.
_PREPARED: set[tuple[str, str]] = set()


def _ensure_index_once(
    client: Elasticsearch, location: str, base: str, suffix: str, retry: Callable[[Callable[[], Any]], Any]
) -> str:
    name = index_name(base, suffix)
    if (location, name) not in _PREPARED:
        ensure_index(client, base, suffix, retry)
        _PREPARED.add((location, name))
    return name


# --- bulk writing ---------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentFailure:
    """One document Elasticsearch did not accept, and why."""

    doc_id: str
    status: int
    error_type: str
    reason: str
    # The source's own id of the record, when the document carries one (see LABEL_FIELDS),
    # so a user can look the record up where it came from; "" otherwise.
    label: str = ""

    def describe(self) -> str:
        named = f" ({self.label})" if self.label else ""
        return f"id={self.doc_id}{named} status={self.status} {self.error_type}: {self.reason}"


# ECS fields that name the record a document was built from (results: ``event.id`` is
# Sandfly's external_id; hosts: ``host.id``). Generic ECS, nothing Sandfly-specific.
LABEL_FIELDS = ("event.id", "host.id")


@dataclass
class WriteReport:
    """What happened to the documents of one write; counts come only from ES's answers."""

    index: str
    created: int = 0
    updated: int = 0
    failed: int = 0
    retried: int = 0
    requests: int = 0
    request_retries: int = 0
    failures: list[DocumentFailure] = field(default_factory=list)
    # Documents that cannot be encoded are reported by the encoding thread, ES's rejections
    # by the sending one.
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def written(self) -> int:
        return self.created + self.updated

    def add_failure(self, failure: DocumentFailure) -> None:
        with self._lock:
            self.failed += 1
            if len(self.failures) < FAILURES_KEPT:
                self.failures.append(failure)

    def first_failures(self) -> str:
        shown = "; ".join(failure.describe() for failure in self.failures[:FAILURES_SHOWN])
        more = self.failed - min(self.failed, FAILURES_SHOWN)
        return f"{shown}{f' (and {more} more)' if more else ''}"


class DocumentWriteError(dg.Failure):
    """Some documents were rejected; raised after every other document was written."""

    def __init__(
        self, report: WriteReport, metadata: Mapping[str, Any] | None = None, note: str = ""
    ) -> None:
        self.report = report
        description = (
            f"{report.failed} document(s) could not be written to Elasticsearch index "
            f"'{report.index}'; the other {report.written} document(s) were written. "
            f"First failures: {report.first_failures()}. "
            "Fix the cause and re-run the partition: documents are upserted by id, so a re-run "
            f"is safe.{f' {note}' if note else ''}"
        )
        super().__init__(description=description, metadata=dict(metadata or {}))


class BulkRequestError(dg.Failure):
    """A whole bulk request failed (cluster unreachable or refusing), after retries.

    The write stops there: what came before it was written (and counted in ``report``),
    nothing after it was. ``cause`` is the last error of the request.
    """

    def __init__(
        self, message: str, report: WriteReport | None = None, cause: Exception | None = None
    ) -> None:
        self.report = report
        self.cause = cause
        metadata = (
            {}
            if report is None
            else {
                "index": report.index,
                "documents_written": report.written,
                "documents_failed": report.failed,
                "bulk_requests": report.requests,
            }
        )
        super().__init__(description=message, metadata=metadata)


@dataclass(frozen=True)
class BulkSettings:
    """Chunking and retry policy of a bulk write."""

    chunk_max_docs: int = DEFAULT_CHUNK_MAX_DOCS
    chunk_max_bytes: int = DEFAULT_CHUNK_MAX_BYTES
    max_retries: int = 8
    backoff_base_seconds: float = 0.5
    backoff_max_seconds: float = 30.0
    # Chunks encoded ahead by a background thread while one is sent; 0 encodes in line.
    encode_ahead_chunks: int = DEFAULT_ENCODE_AHEAD_CHUNKS

    def backoff(self, attempt: int) -> float:
        """Exponential: base, 2*base, 4*base, ... capped (attempt counts from 0)."""
        return min(self.backoff_max_seconds, self.backoff_base_seconds * (2**attempt))


def is_transient(error: Exception) -> bool:
    """A request failure worth resending unchanged (every action we send is an upsert)."""
    if isinstance(error, ApiError):
        return error.status_code in RETRYABLE_REQUEST_STATUSES
    return isinstance(error, RETRYABLE_TRANSPORT_ERRORS) and not isinstance(error, TlsError)


def without_client_retries(client: Any) -> Any:
    """The client with its transport's own retries off, so ours (with backoff) are the only ones.

    The transport would otherwise resend 429/502/503/504 answers and dropped connections at
    once, up to three times, before we even see them. Objects without ``options`` (test
    doubles) are used as they are.
    """
    options = getattr(client, "options", None)
    return options(max_retries=0) if callable(options) else client


class RetryPolicy:
    """Calls a request, resending it on transient failures with the settings' backoff."""

    def __init__(self, settings: BulkSettings, sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self.sleep = sleep
        self.retries = 0

    def call(self, request: Callable[[], Any]) -> Any:
        """``request()``'s result; its last error once it is not transient or retries ran out."""
        for attempt in range(self.settings.max_retries + 1):
            try:
                return request()
            except (ApiError, TransportError) as error:
                if not is_transient(error) or attempt == self.settings.max_retries:
                    raise
            self.retries += 1
            self.sleep(self.settings.backoff(attempt))
        raise AssertionError("unreachable")  # the loop either returns or raises


def bulk_payload(doc_id: str, source: Mapping[str, Any]) -> bytes:
    """The two NDJSON lines (action, source) that index one document.

    What counts against ``chunk_max_bytes`` and against the cluster's request size limit.
    Raises ``ValueError``/``TypeError`` for a source JSON cannot carry.
    """
    action = json.dumps({"index": {"_id": doc_id}}, ensure_ascii=False)
    body = json.dumps(source, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return f"{action}\n{body}\n".encode()  # lone surrogates fail here


def document_label(source: Mapping[str, Any]) -> str:
    """``event.id=...`` (or another of LABEL_FIELDS) when the document names its record."""
    for path in LABEL_FIELDS:
        value: Any = source
        for part in path.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return _short(f"{path}={value}", 120)
    return ""


@dataclass
class _Item:
    """One encoded document: its id, the two NDJSON lines (action + source) and its label."""

    doc_id: str
    payload: bytes
    label: str = ""


class BulkWriter:
    """Streams documents into one index with ``_bulk``, chunk by chunk.

    Separate from the IO manager so it can be driven with any client (tests use a fake one
    to provoke 429s) and used by other code that has a client and an iterable.
    """

    def __init__(
        self,
        client: Elasticsearch,
        index: str,
        settings: BulkSettings | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self._bulk_client = without_client_retries(client)
        self.settings = settings or BulkSettings()
        self.sleep = sleep
        self.report = WriteReport(index=index)

    def write(self, documents: Iterable[Mapping[str, Any]]) -> WriteReport:
        """Write every document; if the iterable itself fails, flush what it gave, then re-raise.

        With ``encode_ahead_chunks`` (the default), the next chunks are pulled from the stream
        and encoded in a background thread while this thread waits for ES's answer to the
        last one, so Elasticsearch is never left idle while we serialize (docs/performance.md).
        Chunks are still sent one at a time, in stream order.

        If writing fails for good, the stream is closed (a generator's ``finally`` runs, so a
        stream can release its connections) and the error is raised.
        """
        chunks: Iterator[list[_Item]] = self._chunks(iter(documents))
        if self.settings.encode_ahead_chunks > 0:
            chunks = Prefetcher(chunks, self.settings.encode_ahead_chunks, name="bulk-encode")
        try:
            for chunk in chunks:
                self._send(chunk)
        finally:
            _close_quietly(chunks)
        return self.report

    def _chunks(self, documents: Iterator[Mapping[str, Any]]) -> Iterator[list[_Item]]:
        """Encoded documents, grouped into chunks bounded by count and bytes, in stream order.

        A document larger than ``chunk_max_bytes`` is a chunk of its own, so it can only fail
        itself. If the stream raises, the documents taken from it so far come out first.
        """
        chunk: list[_Item] = []
        chunk_bytes = 0
        try:
            while True:
                try:
                    document = next(documents)
                except StopIteration:
                    break
                except Exception:
                    if chunk:
                        yield chunk  # documents already taken from the stream are written first
                    raise
                item = self._encode(document)
                if item is None:
                    continue
                size = len(item.payload)
                if chunk and chunk_bytes + size > self.settings.chunk_max_bytes:
                    yield chunk  # keep stream order: a later version of an id must land last
                    chunk, chunk_bytes = [], 0
                chunk.append(item)
                chunk_bytes += size
                # Full by count, or one oversized document alone: send it now.
                if len(chunk) >= self.settings.chunk_max_docs or size > self.settings.chunk_max_bytes:
                    yield chunk
                    chunk, chunk_bytes = [], 0
            if chunk:
                yield chunk
        finally:
            _close_quietly(documents)

    def _encode(self, document: object) -> _Item | None:
        doc_id = document.get("_id") if isinstance(document, Mapping) else None
        source = document.get("_source") if isinstance(document, Mapping) else None
        if not isinstance(doc_id, str) or not doc_id or not isinstance(source, Mapping):
            self.report.add_failure(
                DocumentFailure(
                    doc_id if isinstance(doc_id, str) and doc_id else "<missing _id>",
                    0,
                    "invalid_document",
                    "expected {'_id': str, '_source': dict}",
                )
            )
            return None
        label = document_label(source)
        try:
            payload = bulk_payload(doc_id, source)
        except (TypeError, ValueError) as error:
            self.report.add_failure(
                DocumentFailure(doc_id, 0, "serialization_error", _short(str(error)), label)
            )
            return None
        return _Item(doc_id, payload, label)

    def _send(self, items: list[_Item]) -> None:
        """Send one chunk; resend only the items ES asked us to retry."""
        pending = items
        for attempt in range(self.settings.max_retries + 1):
            if not pending:
                return
            results = self._request(pending)
            if results is None:
                return  # the request was split or its document reported (413)
            pending = self._settle(pending, results, final=attempt == self.settings.max_retries)
            if pending:
                self.report.retried += len(pending)
                self.sleep(self.settings.backoff(attempt))

    def _request(self, items: list[_Item]) -> list[dict] | None:
        """One ``_bulk`` call, retried as a whole on transient failures; its per-item answers."""
        for attempt in range(self.settings.max_retries + 1):
            try:
                self.report.requests += 1
                response = self._bulk_client.bulk(
                    index=self.report.index,
                    operations=b"".join(item.payload for item in items),
                    filter_path=_BULK_FILTER_PATH,
                )
                return _answers(response, len(items))
            except ApiError as error:
                if error.status_code == 413:
                    self._too_large(items)
                    return None
                if not is_transient(error) or attempt == self.settings.max_retries:
                    raise self._request_error(error, attempt + 1) from None
            except TransportError as error:
                if not is_transient(error) or attempt == self.settings.max_retries:
                    raise self._request_error(error, attempt + 1) from None
            self.report.request_retries += 1
            self.sleep(self.settings.backoff(attempt))
        raise AssertionError("unreachable")  # the loop either returns or raises

    def _too_large(self, items: list[_Item]) -> None:
        """ES refused the request body as too large: halve the chunk, or report the document."""
        if len(items) > 1:
            middle = len(items) // 2
            self._send(items[:middle])
            self._send(items[middle:])
            return
        size = len(items[0].payload)
        self.report.add_failure(
            DocumentFailure(
                items[0].doc_id,
                413,
                "request_entity_too_large",
                f"the document ({size} bytes) exceeds the cluster's http.max_content_length",
                items[0].label,
            )
        )

    def _settle(self, items: list[_Item], results: list[dict], final: bool) -> list[_Item]:
        """Count ES's answer per item; return the ones to resend (429/503, unless final)."""
        retry: list[_Item] = []
        for item, result in zip(items, results, strict=True):
            outcome = next(iter(result.values()))
            status = int(outcome.get("status", 0))
            if 200 <= status < 300:
                if outcome.get("result") == "created":
                    self.report.created += 1
                else:
                    self.report.updated += 1
            elif status in RETRYABLE_STATUSES and not final:
                retry.append(item)
            else:
                self.report.add_failure(_item_failure(item, status, outcome.get("error")))
        return retry

    def _request_error(self, error: Exception, attempts: int) -> BulkRequestError:
        report = self.report
        rejected = ""
        if report.failed:
            rejected = f" and {report.failed} rejected (first: {report.first_failures()})"
        return BulkRequestError(
            f"Bulk request to Elasticsearch index '{report.index}' failed after "
            f"{attempts} attempt(s): {_describe_request_error(error)}. "
            f"{report.written} document(s) had been written before{rejected}; re-running the "
            "partition is safe (documents are upserted by id).",
            report=report,
            cause=error,
        )


def _answers(response: Any, expected: int) -> list[dict]:
    """The per-item answers of a bulk response; a response that does not have one per action
    is garbled (a broken proxy, a truncated body) and is treated like any other transient
    failure: the whole request is resent."""
    body = getattr(response, "body", response)  # the client's ObjectApiResponse wraps a dict
    items = body.get("items") if isinstance(body, Mapping) else None
    if (
        not isinstance(items, list)
        or len(items) != expected
        or not all(isinstance(item, Mapping) and len(item) == 1 for item in items)
    ):
        found = len(items) if isinstance(items, list) else "no"
        raise SerializationError(f"the bulk response has {found} item answer(s) for {expected} action(s)")
    return items


def _close_quietly(iterator: Iterator[Any]) -> None:
    """Close a generator so its ``finally`` blocks run; its own errors must not hide ours."""
    close = getattr(iterator, "close", None)
    if callable(close):
        with contextlib.suppress(Exception):
            close()


def _item_failure(item: _Item, status: int, error: object) -> DocumentFailure:
    if isinstance(error, Mapping):
        return DocumentFailure(
            item.doc_id,
            status,
            str(error.get("type", "unknown")),
            _short(str(error.get("reason", ""))),
            item.label,
        )
    return DocumentFailure(item.doc_id, status, "unknown", _short(str(error)), item.label)


def _describe_request_error(error: Exception) -> str:
    if isinstance(error, ApiError):
        return f"HTTP {error.status_code} {error.message}"
    return f"{type(error).__name__}: {error}"


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- the IO manager -------------------------------------------------------------------


class ElasticsearchIOManager(dg.ConfigurableIOManager):
    """Writes an asset's document stream to ``<index>-<index_suffix>``; reads it back as a DataFrame."""

    elasticsearch: ElasticsearchResource
    chunk_max_docs: int = Field(default=DEFAULT_CHUNK_MAX_DOCS, description="Documents per bulk request.")
    chunk_max_bytes: int = Field(default=DEFAULT_CHUNK_MAX_BYTES, description="Bytes per bulk request.")
    max_retries: int = Field(default=8, description="Retries for 429/503 and connection errors.")
    backoff_base_seconds: float = Field(default=0.5, description="First retry delay; doubles each time.")
    backoff_max_seconds: float = Field(default=30.0, description="Longest retry delay.")
    refresh_after_write: bool = Field(
        default=False, description="Refresh the index after writing (makes writes searchable at once)."
    )
    encode_ahead_chunks: int = Field(
        default=DEFAULT_ENCODE_AHEAD_CHUNKS,
        description="Chunks encoded by a background thread while one is sent (0 = in line).",
    )

    def bulk_settings(self) -> BulkSettings:
        return BulkSettings(
            chunk_max_docs=self.chunk_max_docs,
            chunk_max_bytes=self.chunk_max_bytes,
            max_retries=self.max_retries,
            backoff_base_seconds=self.backoff_base_seconds,
            backoff_max_seconds=self.backoff_max_seconds,
            encode_ahead_chunks=self.encode_ahead_chunks,
        )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Before the run does anything (the asset bodies run after this): is the cluster there?

        A cluster that is down or refuses the credentials fails the run here, naming its
        location and what to check, before a single record is fetched from the source.
        """
        info = self.elasticsearch.preflight()
        if context.log is not None and info["version"]:
            context.log.info(
                f"Elasticsearch at {self.elasticsearch.location()}: cluster {info['cluster_name']!r}, "
                f"version {info['version']}"
            )

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        _check_iterable(obj)
        suffix = _index_suffix(context.definition_metadata, context.asset_key)
        settings = self.bulk_settings()
        client = without_client_retries(self.elasticsearch.get_client())
        retry = RetryPolicy(settings)
        index = self._prepare_index(client, suffix, retry)
        writer = BulkWriter(client, index, settings)
        started = time.monotonic()
        try:
            writer.write(obj)
        except BulkRequestError as error:
            report = writer.report
            context.log.error(
                f"Writing to {index} stopped: {report.written} document(s) written, {report.failed} failed."
            )
            hint = self.elasticsearch.hint(error.cause) if error.cause is not None else ""
            raise BulkRequestError(
                f"{error.description} Cluster: {self.elasticsearch.location()}. {hint}".rstrip(),
                report=report,
                cause=error.cause,
            ) from None
        except Exception as error:
            report = writer.report
            context.log.error(
                f"Writing to {index} stopped: {report.written} document(s) written, {report.failed} failed."
            )
            if report.failed:
                raise DocumentWriteError(report, note=f"The document stream also failed: {error}") from error
            raise
        if self.refresh_after_write:
            retry.call(lambda: client.indices.refresh(index=index))
        metadata = _output_metadata(context, writer.report, time.monotonic() - started)
        metadata.update(_summary_metadata(obj))
        if writer.report.failed:
            raise DocumentWriteError(writer.report, metadata=metadata)
        context.add_output_metadata(metadata)

    def _prepare_index(self, client: Elasticsearch, suffix: str, retry: RetryPolicy) -> str:
        """The index to write (template and index made if needed), or an error naming the cluster."""
        location = self.elasticsearch.location()
        try:
            return _ensure_index_once(client, location, self.elasticsearch.index, suffix, retry.call)
        except (ApiError, TransportError) as error:
            name = index_name(self.elasticsearch.index, suffix)
            raise ElasticsearchUnavailable(
                f"Could not prepare index '{name}' (index template '{self.elasticsearch.index}', then the "
                f"index) on Elasticsearch at {location}: {self.elasticsearch.explain(error)} Nothing was "
                "written; re-running is safe."
            ) from None

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        upstream = context.upstream_output
        if upstream is None:
            raise dg.DagsterInvariantViolationError("ElasticsearchIOManager only loads asset inputs.")
        suffix = _index_suffix(upstream.definition_metadata, upstream.asset_key)
        index = index_name(self.elasticsearch.index, suffix)
        query = _window_query(context)
        frame = read_documents(self.elasticsearch.get_client(), index, query)
        single = not context.has_asset_partitions or len(context.asset_partition_keys) == 1
        if single:  # add_input_metadata fails on multi-partition loads (dagster#27940)
            context.add_input_metadata({"index": index, "documents_loaded": len(frame)})
        return frame


def read_documents(client: Elasticsearch, index: str, query: Mapping[str, Any]) -> pd.DataFrame:
    """All documents matching ``query``: ``_id`` plus flattened ``_source``, sorted by ``_id``.

    A missing index reads as empty (nothing was written yet), not as an error.
    """
    rows = [
        {"_id": hit["_id"], **hit["_source"]}
        for hit in helpers.scan(
            client,
            index=index,
            query={"query": query, "sort": ["_doc"]},
            size=SCROLL_PAGE_SIZE,
            ignore_unavailable=True,
        )
    ]
    if not rows:
        return pd.DataFrame({"_id": pd.Series(dtype="object")})
    frame = pd.json_normalize(rows)
    return frame.sort_values("_id", kind="stable").reset_index(drop=True)


def _window_query(context: dg.InputContext) -> dict:
    """A ``@timestamp`` range over the loaded partitions' window, or everything."""
    if not context.has_asset_partitions or not isinstance(
        context.asset_partitions_def, dg.TimeWindowPartitionsDefinition
    ):
        return {"match_all": {}}
    window = context.asset_partitions_time_window
    return {"range": {"@timestamp": {"gte": window.start.isoformat(), "lt": window.end.isoformat()}}}


def _check_iterable(obj: Any) -> None:
    if obj is None or isinstance(obj, str | bytes | Mapping) or not isinstance(obj, Iterable):
        raise TypeError(
            "ElasticsearchIOManager expects an iterable of documents {'_id': ..., '_source': {...}}, "
            f"got {type(obj).__name__}."
        )


def _index_suffix(metadata: Mapping[str, Any] | None, asset_key: dg.AssetKey) -> str:
    raw = (metadata or {}).get(INDEX_SUFFIX_METADATA_KEY)
    suffix = getattr(raw, "value", raw)  # a MetadataValue or a plain string
    if not isinstance(suffix, str) or not suffix:
        raise dg.DagsterInvariantViolationError(
            f"Asset {asset_key.to_user_string()} uses ElasticsearchIOManager but has no "
            f"'{INDEX_SUFFIX_METADATA_KEY}' in its definition metadata; add e.g. "
            f"metadata={{'{INDEX_SUFFIX_METADATA_KEY}': 'results'}} to the asset."
        )
    return suffix


def _output_metadata(context: dg.OutputContext, report: WriteReport, seconds: float) -> dict[str, Any]:
    """The figures every materialization records (design invariant 3: counts are visible)."""
    metadata: dict[str, Any] = {
        "index": report.index,
        "documents_written": report.written,
        "documents_created": report.created,
        "documents_updated": report.updated,
        "documents_failed": report.failed,
        "documents_retried": report.retried,
        "bulk_requests": report.requests,
        "bulk_request_retries": report.request_retries,
        "partition_count": len(context.asset_partition_keys) if context.has_asset_partitions else 0,
        "duration_seconds": round(seconds, 3),
        "documents_per_second": round(report.written / seconds, 1) if seconds > 0 else 0.0,
    }
    if context.has_asset_partitions and isinstance(
        context.asset_partitions_def, dg.TimeWindowPartitionsDefinition
    ):
        window = context.asset_partitions_time_window
        metadata["time_window_start"] = window.start.isoformat()
        metadata["time_window_end"] = window.end.isoformat()
    return metadata


def _summary_metadata(obj: Any) -> dict[str, Any]:
    """The stream's own figures (fetched records, counts by status...), asked for after it ran."""
    summary = getattr(obj, "summary_metadata", None)
    return dict(summary()) if callable(summary) else {}
