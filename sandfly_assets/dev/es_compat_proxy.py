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
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import logging
import re
import signal
import sys
import threading
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
        headers = forwardable_request_headers(list(self.headers.items()))
        try:
            response = self._forward_with_one_retry(body, headers)
        except (OSError, http.client.HTTPException) as exc:
            self._close_upstream()
            self._send_error_text(502, f"upstream Elasticsearch did not answer: {exc!r}")
            return
        self._send_upstream_response(response)

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

    def _send_upstream_response(self, response: _UpstreamResponse) -> None:
        self.log_request(response.status)
        self.send_response_only(response.status, response.reason)
        for name, value in forwardable_response_headers(response.headers):
            self.send_header(name, value)
        self.send_header("Content-Length", str(self._content_length(response)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

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
    """A threading server (daemon threads) that knows where to forward to."""

    daemon_threads = True

    def __init__(self, listen_port: int, upstream_host: str, upstream_port: int) -> None:
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        super().__init__((LOOPBACK, listen_port), _ProxyHandler)


class CompatProxy:
    """The proxy, served from a background daemon thread of the current process.

    ``listen_port=0`` picks a free port; read it back from ``port`` or ``url`` after ``start()``.
    """

    def __init__(self, upstream_port: int, listen_port: int = 0, upstream_host: str = LOOPBACK) -> None:
        self._upstream_host = upstream_host
        self._upstream_port = upstream_port
        self._listen_port = listen_port
        self._server: _ProxyServer | None = None
        self._thread: threading.Thread | None = None

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
        self._server = _ProxyServer(self._listen_port, self._upstream_host, self._upstream_port)
        # A short poll interval keeps stop() quick: shutdown() waits for the next poll.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"es-compat-proxy-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting connections and release the port."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
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
    return parser.parse_args(argv)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    """Turn SIGTERM into a normal exit so ``serve_forever`` unwinds and closes the socket."""
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    """Serve in the foreground until SIGTERM or Ctrl-C."""
    args = _parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with _ProxyServer(args.listen_port, args.upstream_host, args.upstream_port) as server:
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
