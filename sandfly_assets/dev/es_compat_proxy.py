"""A loopback HTTP proxy that lets the official 8.x/9.x Python client talk to Elasticsearch 7.x.

Development and test support only. The local Elasticsearch (7.9.2 OSS, see
``local_elasticsearch.py``) differs from a production 8.x/9.x cluster in two ways that the
client notices before any real work happens:

* the client sends ``application/vnd.elasticsearch+json; compatible-with=9`` (and the
  ``x-ndjson`` variant for bulk bodies), which 7.9.2 answers with HTTP 406;
* the client insists on the ``X-Elastic-Product: Elasticsearch`` response header, which
  7.9.2 (older than 7.14) never sends.

This proxy fixes both on the wire, so the product code keeps talking to Elasticsearch exactly
as it would to a production cluster: only the URL changes. It buffers whole requests and
responses in memory and supports ``Content-Length`` bodies (what elasticsearch-py sends), not
chunked uploads.

Run it in a thread (``CompatProxy(upstream_port=...).start()``) or as a process::

    python -m sandfly_assets.dev.es_compat_proxy --listen-port 9200 --upstream-port 10200

Fault injection (tests and ``bench/chaos.py``): ``CompatProxy(..., faults=ProxyFaults(...))`` or
``proxy.set_faults(...)`` make the requests whose path matches ``ProxyFaults.paths`` (``_bulk``
by default) fail the way a busy or failing cluster does:

* ``status_429_*`` / ``status_503_*``: the whole request is answered 429 / 503 with an
  Elasticsearch error body, and is not forwarded (nothing is written);
* ``item_429_*``: a bulk request gets per-item ``es_rejected_execution_exception`` 429s for a
  share of its items (``item_429_share``). Those items are taken out of the body before it
  is forwarded, so they are really not written, and their fake answers are spliced back
  into the upstream response in their original positions;
* ``drop_*``: the connection is closed without a complete answer, cycling through three
  variants: before forwarding (nothing written), after forwarding with no answer, and after
  forwarding with the headers and half the body (written, answer lost either way);
* ``down`` / ``down_after``: an outage. Every request (any path) gets its connection closed
  without an answer, at once or after ``down_after`` matching requests were forwarded;
* ``max_content_length``: a request body above this many bytes gets 413 with an empty body,
  as Elasticsearch answers above ``http.max_content_length``.

``*_every=N`` hits every Nth matching request (one counter numbers them from 1, like the
Sandfly simulator's faults); ``*_probability=p`` hits each with probability ``p``, drawn
from a generator seeded with ``seed``. ``proxy.fault_counts`` says what was injected.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gzip
import http.client
import json
import logging
import random
import re
import signal
import socket
import sys
import threading
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"

# Long enough for slow bulk requests and `refresh=wait_for`; the client has its own timeout.
UPSTREAM_TIMEOUT_SECONDS = 600.0

_COMPAT_MEDIA_TYPE = re.compile(r"application/vnd\.elasticsearch\+([\w.-]+)\s*;\s*compatible-with\s*=\s*\d+")

# Headers that describe one hop, not the message (RFC 9110 section 7.6.1), plus the
# ones this proxy sets itself.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
    }
)
_DROPPED_REQUEST_HEADERS = _HOP_BY_HOP | {"host", "content-length", "expect"}
_DROPPED_RESPONSE_HEADERS = _HOP_BY_HOP | {"content-length", "server", "date"}

PRODUCT_HEADER = "X-Elastic-Product"
PRODUCT_VALUE = "Elasticsearch"


def rewrite_media_type(value: str) -> str:
    """Turn the compatibility media type into the plain one that 7.x understands.

    ``application/vnd.elasticsearch+json; compatible-with=9`` becomes ``application/json``;
    anything else is returned unchanged.
    """
    return _COMPAT_MEDIA_TYPE.sub(r"application/\1", value)


def _connection_tokens(headers: list[tuple[str, str]]) -> set[str]:
    """Header names listed in ``Connection``: they are hop-by-hop too (RFC 9110 7.6.1)."""
    tokens: set[str] = set()
    for name, value in headers:
        if name.lower() == "connection":
            tokens.update(token.strip().lower() for token in value.split(",") if token.strip())
    return tokens


def forwardable_request_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The client's headers as they should reach 7.x: end-to-end only, media types rewritten."""
    dropped = _DROPPED_REQUEST_HEADERS | _connection_tokens(headers)
    forwarded: list[tuple[str, str]] = []
    for name, value in headers:
        lowered = name.lower()
        if lowered in dropped:
            continue
        if lowered in ("accept", "content-type"):
            value = rewrite_media_type(value)
        forwarded.append((name, value))
    return forwarded


def forwardable_response_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Upstream's headers as the client should see them: end-to-end only, product header added."""
    dropped = _DROPPED_RESPONSE_HEADERS | _connection_tokens(headers)
    forwarded = [(name, value) for name, value in headers if name.lower() not in dropped]
    if not any(name.lower() == PRODUCT_HEADER.lower() for name, _ in forwarded):
        forwarded.append((PRODUCT_HEADER, PRODUCT_VALUE))
    return forwarded


# --- fault injection (tests and the chaos run) -----------------------------------------

DEFAULT_FAULT_PATHS = r"/_bulk$"
FAULT_NOTE = "fault injected by es_compat_proxy"
DROP_VARIANTS = ("drop_before_forward", "drop_after_forward", "drop_partial_answer")
_EVERY_FIELDS = ("status_429_every", "status_503_every", "item_429_every", "drop_every", "down_after")
_PROBABILITY_FIELDS = (
    "status_429_probability",
    "status_503_probability",
    "item_429_probability",
    "drop_probability",
)


@dataclass(frozen=True)
class ProxyFaults:
    """Fault switches of the proxy (see the module docstring). All off by default."""

    paths: str = DEFAULT_FAULT_PATHS
    seed: int = 0
    status_429_every: int = 0
    status_503_every: int = 0
    item_429_every: int = 0
    drop_every: int = 0
    status_429_probability: float = 0.0
    status_503_probability: float = 0.0
    item_429_probability: float = 0.0
    drop_probability: float = 0.0
    item_429_share: float = 0.1
    down: bool = False
    down_after: int = 0
    max_content_length: int = 0

    def validate(self) -> None:
        """Reject settings that cannot mean anything, naming the switch."""
        try:
            re.compile(self.paths)
        except re.error as error:
            raise ValueError(f"paths must be a regular expression: {error}") from None
        for name in (*_EVERY_FIELDS, "max_content_length"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        for name in _PROBABILITY_FIELDS:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if not 0.0 < self.item_429_share <= 1.0:
            raise ValueError("item_429_share must be above 0 and at most 1")

    def updated(self, **changes: object) -> ProxyFaults:
        """A copy with ``changes`` applied; unknown switches raise ``TypeError``."""
        known = {field.name for field in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise TypeError(f"unknown fault switch(es): {', '.join(unknown)}")
        faults = dataclasses.replace(self, **changes)  # type: ignore[arg-type]
        faults.validate()
        return faults


class FaultInjector:
    """Numbers the matching requests, decides their faults and counts what was injected.

    Thread-safe: the proxy serves each connection in its own thread. Installing new switches
    restarts the numbering and the random generator (so a seeded run repeats), not the counts.
    """

    def __init__(self, faults: ProxyFaults | None = None) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self._install(faults or ProxyFaults())

    def _install(self, faults: ProxyFaults) -> None:
        faults.validate()
        self._faults = faults
        self._pattern = re.compile(faults.paths)
        self._random = random.Random(faults.seed)
        self._numbered = 0
        self._forwarded = 0
        self._drops = 0
        self._down = faults.down

    @property
    def faults(self) -> ProxyFaults:
        with self._lock:
            return self._faults

    def replace(self, faults: ProxyFaults) -> None:
        with self._lock:
            self._install(faults)

    def update(self, **changes: object) -> None:
        with self._lock:
            self._install(self._faults.updated(**changes))

    def matches(self, path: str) -> bool:
        return self._pattern.search(path) is not None

    def is_down(self) -> bool:
        with self._lock:
            return self._down

    def decide(self, path: str) -> str | None:
        """The fault of one request: ``status_429``, ``status_503``, ``drop``, ``item_429`` or None."""
        if not self.matches(path):
            return None
        with self._lock:
            self._numbered += 1
            self.counts["requests"] += 1
            faults = self._faults
            schedule = (
                ("status_429", faults.status_429_every, faults.status_429_probability),
                ("status_503", faults.status_503_every, faults.status_503_probability),
                ("drop", faults.drop_every, faults.drop_probability),
                ("item_429", faults.item_429_every, faults.item_429_probability),
            )
            for kind, every, probability in schedule:
                hit_by_number = bool(every) and self._numbered % every == 0
                # Draw only for switches in use, so one switch does not shift another's sequence.
                hit_by_chance = probability > 0 and self._random.random() < probability
                if hit_by_number or hit_by_chance:
                    return kind
            return None

    def next_drop_variant(self) -> str:
        with self._lock:
            variant = DROP_VARIANTS[self._drops % len(DROP_VARIANTS)]
            self._drops += 1
            return variant

    def choose_rejected(self, count: int) -> set[int]:
        """Positions of the bulk items to answer with a fake 429 (at least one)."""
        with self._lock:
            wanted = min(count, max(1, round(count * self._faults.item_429_share)))
            return set(self._random.sample(range(count), wanted))

    def forwarded(self, path: str) -> None:
        """A matching request reached the upstream; ``down_after`` may start the outage now."""
        if not self.matches(path):
            return
        with self._lock:
            self._forwarded += 1
            if self._faults.down_after and self._forwarded >= self._faults.down_after:
                self._down = True

    def record(self, kind: str, amount: int = 1) -> None:
        with self._lock:
            self.counts[kind] += amount

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)

    def reset_counts(self) -> None:
        with self._lock:
            self.counts.clear()


@dataclass
class _BulkItem:
    """One action of a bulk body: its operation, metadata and raw lines (newline-terminated)."""

    operation: str
    metadata: dict
    raw: bytes


def parse_bulk_body(body: bytes) -> list[_BulkItem] | None:
    """The actions of an NDJSON bulk body, or None if it is not one this proxy can split."""
    lines = body.split(b"\n")
    if lines and not lines[-1].strip():
        lines.pop()
    items: list[_BulkItem] = []
    position = 0
    while position < len(lines):
        try:
            action = json.loads(lines[position])
        except ValueError:
            return None
        if not isinstance(action, dict) or len(action) != 1:
            return None
        [(operation, metadata)] = action.items()
        if operation == "delete":
            raw = lines[position] + b"\n"
            position += 1
        elif operation in ("index", "create", "update") and position + 1 < len(lines):
            raw = lines[position] + b"\n" + lines[position + 1] + b"\n"
            position += 2
        else:
            return None
        items.append(_BulkItem(operation, metadata if isinstance(metadata, dict) else {}, raw))
    return items


def _rejected_item(item: _BulkItem, default_index: str | None) -> dict:
    """The answer Elasticsearch gives an item its write thread pool rejected."""
    answer: dict = {
        "_index": item.metadata.get("_index") or default_index,
        "_id": item.metadata.get("_id"),
        "status": 429,
        "error": {
            "type": "es_rejected_execution_exception",
            "reason": f"rejected execution of coordinating operation [{FAULT_NOTE}]",
        },
    }
    return {item.operation: {key: value for key, value in answer.items() if value is not None}}


def splice_rejections(
    upstream: dict | None, items: list[_BulkItem], rejected: set[int], default_index: str | None
) -> dict | None:
    """Upstream's bulk answer with fake 429 items put back where the withheld items were.

    ``upstream`` answered the forwarded items only (None when every item was withheld).
    Returns None if its items do not line up with what was forwarded.
    """
    forwarded = list((upstream or {}).get("items", []))
    if len(forwarded) != len(items) - len(rejected):
        return None
    answers = iter(forwarded)
    merged = [
        _rejected_item(item, default_index) if position in rejected else next(answers)
        for position, item in enumerate(items)
    ]
    spliced = {key: value for key, value in (upstream or {}).items() if key != "items"}
    spliced["errors"] = True
    spliced["items"] = merged
    return spliced


def _index_of_path(path: str) -> str | None:
    """``logs`` for ``/logs/_bulk``; None for ``/_bulk``."""
    parts = [part for part in path.split("/") if part]
    return parts[0] if len(parts) >= 2 and not parts[0].startswith("_") else None


def _error_body(status: int) -> bytes:
    error_type = "es_rejected_execution_exception" if status == 429 else "unavailable_shards_exception"
    reason = f"{'rejected execution' if status == 429 else 'primary shard is not active'} [{FAULT_NOTE}]"
    error = {"type": error_type, "reason": reason}
    return json.dumps({"error": {"root_cause": [error], **error}, "status": status}).encode()


def _header(headers: list[tuple[str, str]], name: str) -> str:
    return next((value for key, value in headers if key.lower() == name.lower()), "")


class _UpstreamResponse:
    """What the proxy needs from one upstream answer, fully read so the connection is reusable."""

    def __init__(self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body


class _ProxyHandler(BaseHTTPRequestHandler):
    """Forwards each request to the upstream over one persistent connection per client connection.

    ``ThreadingHTTPServer`` serves each client connection in its own thread with its own
    handler instance, so keeping the upstream connection on the instance gives one upstream
    connection per thread without any locking.
    """

    protocol_version = "HTTP/1.1"
    server: _ProxyServer

    def setup(self) -> None:
        super().setup()
        self._upstream: http.client.HTTPConnection | None = None

    def finish(self) -> None:
        self._close_upstream()
        super().finish()

    def log_message(self, format: str, *args: object) -> None:
        """Keep test and CLI output quiet; the access log goes to debug logging."""
        logger.debug("%s - %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._proxy()

    def do_POST(self) -> None:
        self._proxy()

    def do_PUT(self) -> None:
        self._proxy()

    def do_DELETE(self) -> None:
        self._proxy()

    def do_HEAD(self) -> None:
        self._proxy()

    def do_PATCH(self) -> None:
        self._proxy()

    def do_OPTIONS(self) -> None:
        self._proxy()

    def _proxy(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._send_error_text(411, "chunked request bodies are not supported; send Content-Length")
            return
        body = self._read_request_body()
        faults = self.server.faults
        path = self.path.split("?", 1)[0]
        if faults.is_down():
            faults.record("down")
            self._drop_connection()
            return
        limit = faults.faults.max_content_length
        if limit and body is not None and len(body) > limit:
            faults.record("status_413")
            self._send_fault(413, b"")  # what 7.x sends above http.max_content_length
            return
        fault = faults.decide(path)
        if fault in ("status_429", "status_503"):
            faults.record(fault)
            self._send_fault(
                429 if fault == "status_429" else 503, _error_body(429 if fault == "status_429" else 503)
            )
            return
        drop = faults.next_drop_variant() if fault == "drop" else None
        if drop == "drop_before_forward":
            faults.record(drop)
            self._drop_connection()
            return
        headers = forwardable_request_headers(list(self.headers.items()))
        items = parse_bulk_body(body) if fault == "item_429" and body and not self._encoded() else None
        rejected = faults.choose_rejected(len(items)) if items else set()
        if items and len(rejected) == len(items):
            response = None  # every item withheld: nothing to forward
        else:
            if items:
                body = b"".join(item.raw for position, item in enumerate(items) if position not in rejected)
            try:
                response = self._forward_with_one_retry(body, headers)
            except (OSError, http.client.HTTPException) as exc:
                self._close_upstream()
                self._send_error_text(502, f"upstream Elasticsearch did not answer: {exc!r}")
                return
            faults.forwarded(path)
        if items:
            response = self._with_rejections(response, items, rejected, path)
            if response is None:
                return
        assert response is not None
        if drop is not None:
            faults.record(drop)
            if drop == "drop_partial_answer":
                self._send_upstream_response(response, body_bytes=len(response.body) // 2)
            self._drop_connection()
            return
        self._send_upstream_response(response)

    def _encoded(self) -> bool:
        """A compressed request body: left alone by the per-item faults."""
        return bool(self.headers.get("Content-Encoding", "").strip())

    def _with_rejections(
        self, response: _UpstreamResponse | None, items: list[_BulkItem], rejected: set[int], path: str
    ) -> _UpstreamResponse | None:
        """Splice fake 429 items into upstream's answer (or build the answer when nothing went up).

        A non-200 upstream answer is passed on as it is (the client resends the whole request).
        Returns None after answering 502 itself when the answer cannot be spliced.
        """
        faults = self.server.faults
        if response is not None and response.status != 200:
            return response
        gzipped = response is not None and "gzip" in _header(response.headers, "Content-Encoding").lower()
        try:
            upstream = None
            if response is not None:
                raw = gzip.decompress(response.body) if gzipped else response.body
                upstream = json.loads(raw)
        except (OSError, ValueError):
            upstream = None
        spliced = splice_rejections(upstream, items, rejected, _index_of_path(path))
        if spliced is None or (response is not None and upstream is None):
            self._send_error_text(502, "es_compat_proxy could not splice fake rejections into the answer")
            return None
        faults.record("item_429_requests")
        faults.record("item_429_items", len(rejected))
        payload = json.dumps(spliced).encode()
        if response is None:
            headers = [("Content-Type", "application/json; charset=UTF-8")]
            return _UpstreamResponse(200, "OK", headers, payload)
        return _UpstreamResponse(
            response.status, response.reason, response.headers, gzip.compress(payload) if gzipped else payload
        )

    def _drop_connection(self) -> None:
        """Close the client connection without (the rest of) an answer."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _send_fault(self, status: int, payload: bytes) -> None:
        """An Elasticsearch-like error answer (JSON body, or none)."""
        self.log_request(status)
        self.send_response_only(status)
        if payload:
            self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header(PRODUCT_HEADER, PRODUCT_VALUE)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _read_request_body(self) -> bytes | None:
        length = self.headers.get("Content-Length")
        if length is None:
            return None
        return self.rfile.read(int(length))

    def _forward_with_one_retry(
        self, body: bytes | None, headers: list[tuple[str, str]]
    ) -> _UpstreamResponse:
        """Retry once on a dropped connection: a kept-alive upstream socket may have gone stale."""
        try:
            return self._forward(body, headers)
        except ConnectionError:
            self._close_upstream()
            return self._forward(body, headers)

    def _forward(self, body: bytes | None, headers: list[tuple[str, str]]) -> _UpstreamResponse:
        connection = self._upstream_connection()
        connection.putrequest(self.command, self.path, skip_accept_encoding=True)
        for name, value in headers:
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        upstream = connection.getresponse()
        payload = upstream.read()
        if upstream.will_close:
            self._close_upstream()
        return _UpstreamResponse(upstream.status, upstream.reason, upstream.getheaders(), payload)

    def _upstream_connection(self) -> http.client.HTTPConnection:
        if self._upstream is None:
            self._upstream = http.client.HTTPConnection(
                self.server.upstream_host, self.server.upstream_port, timeout=UPSTREAM_TIMEOUT_SECONDS
            )
        return self._upstream

    def _close_upstream(self) -> None:
        if self._upstream is not None:
            self._upstream.close()
            self._upstream = None

    def _send_upstream_response(self, response: _UpstreamResponse, body_bytes: int | None = None) -> None:
        """Send the answer; ``body_bytes`` cuts the body short (the headers still announce all of it)."""
        self.log_request(response.status)
        self.send_response_only(response.status, response.reason)
        for name, value in forwardable_response_headers(response.headers):
            self.send_header(name, value)
        self.send_header("Content-Length", str(self._content_length(response)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body if body_bytes is None else response.body[:body_bytes])

    def _content_length(self, response: _UpstreamResponse) -> int:
        """The body's length; for HEAD, the length upstream announced for the body it did not send."""
        if self.command == "HEAD":
            for name, value in response.headers:
                if name.lower() == "content-length":
                    return int(value)
            return 0
        return len(response.body)

    def _send_error_text(self, status: int, message: str) -> None:
        payload = (message + "\n").encode()
        self.log_request(status)
        self.send_response_only(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


class _ProxyServer(ThreadingHTTPServer):
    """A threading server (daemon threads) that knows where to forward to and which faults to inject.

    It keeps track of its open client connections so that stopping the proxy also cuts the
    kept-alive ones, as a stopped server would.
    """

    daemon_threads = True

    def __init__(
        self,
        listen_port: int,
        upstream_host: str,
        upstream_port: int,
        faults: FaultInjector | None = None,
    ) -> None:
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.faults = faults or FaultInjector()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__((LOOPBACK, listen_port), _ProxyHandler)

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Cut every open client connection (their handler threads then end)."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class CompatProxy:
    """The proxy, served from a background daemon thread of the current process.

    ``listen_port=0`` picks a free port; read it back from ``port`` or ``url`` after ``start()``.
    ``faults`` (or ``set_faults()`` at any time) injects failures; see the module docstring.
    """

    def __init__(
        self,
        upstream_port: int,
        listen_port: int = 0,
        upstream_host: str = LOOPBACK,
        faults: ProxyFaults | None = None,
    ) -> None:
        self._upstream_host = upstream_host
        self._upstream_port = upstream_port
        self._listen_port = listen_port
        self._injector = FaultInjector(faults)
        self._server: _ProxyServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def faults(self) -> ProxyFaults:
        """The current fault switches."""
        return self._injector.faults

    def set_faults(self, **changes: object) -> None:
        """Change fault switches (merged into the current ones); restarts the numbering."""
        self._injector.update(**changes)

    def clear_faults(self) -> None:
        """Every fault off (an outage ends); the counts are kept."""
        self._injector.replace(ProxyFaults())

    @property
    def fault_counts(self) -> dict[str, int]:
        """What was injected so far, by kind, plus ``requests``: the matching requests seen."""
        return self._injector.snapshot()

    def reset_fault_counts(self) -> None:
        self._injector.reset_counts()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the proxy is not started")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> None:
        """Bind now (so a taken port fails here, not later) and serve in a daemon thread."""
        self._server = _ProxyServer(
            self._listen_port, self._upstream_host, self._upstream_port, self._injector
        )
        # A short poll interval keeps stop() quick: shutdown() waits for the next poll.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"es-compat-proxy-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting connections, cut the open ones and release the port."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()
        if self._thread is not None:
            self._thread.join()
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sandfly_assets.dev.es_compat_proxy",
        description="Loopback proxy letting the 8.x/9.x Elasticsearch client talk to a 7.x server.",
    )
    parser.add_argument("--listen-port", type=int, required=True, help="port to serve on 127.0.0.1")
    parser.add_argument("--upstream-port", type=int, required=True, help="the Elasticsearch HTTP port")
    parser.add_argument(
        "--upstream-host", default=LOOPBACK, help="the Elasticsearch host (default: %(default)s)"
    )
    parser.add_argument(
        "--faults",
        default="{}",
        help="fault switches as JSON, e.g. '{\"status_429_probability\": 0.05}' (see the module docstring)",
    )
    return parser.parse_args(argv)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    """Turn SIGTERM into a normal exit so ``serve_forever`` unwinds and closes the socket."""
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    """Serve in the foreground until SIGTERM or Ctrl-C."""
    args = _parse_args(argv)
    try:
        faults = ProxyFaults().updated(**json.loads(args.faults))
    except (ValueError, TypeError) as error:
        print(f"es_compat_proxy: invalid --faults: {error}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    injector = FaultInjector(faults)
    with _ProxyServer(args.listen_port, args.upstream_host, args.upstream_port, injector) as server:
        print(
            f"es_compat_proxy: http://{LOOPBACK}:{server.server_address[1]} -> "
            f"http://{args.upstream_host}:{args.upstream_port}",
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
