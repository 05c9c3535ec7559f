"""The compat proxy, checked on the wire against a tiny recording upstream (no Elasticsearch needed)."""

from __future__ import annotations

import http.client
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sandfly_assets.dev.es_compat_proxy import CompatProxy, rewrite_media_type
from sandfly_assets.dev.local_elasticsearch import pick_free_ports

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Recorded:
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class Reply:
    """What the upstream answers; ``drop_after_reply`` closes the kept-alive socket silently."""

    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=lambda: [("Content-Type", "application/json")])
    body: bytes = b'{"ok":true}'
    drop_after_reply: bool = False


class RecordingUpstream(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.reply = Reply()
        super().__init__(("127.0.0.1", 0), _RecordingHandler)

    @property
    def port(self) -> int:
        return self.server_address[1]


class _RecordingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: RecordingUpstream

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _record_and_reply(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        self.server.requests.append(Recorded(self.command, self.path, list(self.headers.items()), body))
        reply = self.server.reply
        self.send_response_only(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)
        if reply.drop_after_reply:
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _record_and_reply

    def do_HEAD(self) -> None:
        """Like Elasticsearch: announce the length of a body that a HEAD answer never carries."""
        self.server.requests.append(Recorded("HEAD", self.path, list(self.headers.items()), b""))
        self.send_response_only(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "42")
        self.end_headers()


@pytest.fixture
def upstream() -> Iterator[RecordingUpstream]:
    server = RecordingUpstream()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(upstream: RecordingUpstream) -> Iterator[CompatProxy]:
    with CompatProxy(upstream_port=upstream.port) as running:
        yield running


def _connect(proxy: CompatProxy) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)


def _lowered(headers: list[tuple[str, str]]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("application/vnd.elasticsearch+json; compatible-with=9", "application/json"),
        ("application/vnd.elasticsearch+json;compatible-with=8", "application/json"),
        ("application/vnd.elasticsearch+x-ndjson; compatible-with=9", "application/x-ndjson"),
        ("application/vnd.elasticsearch+json ; compatible-with = 9", "application/json"),
        ("application/json", "application/json"),
        ("text/plain; charset=utf-8", "text/plain; charset=utf-8"),
    ],
)
def test_rewrite_media_type(given: str, expected: str) -> None:
    assert rewrite_media_type(given) == expected


def test_request_media_types_are_rewritten_and_hop_by_hop_headers_dropped(
    upstream: RecordingUpstream, proxy: CompatProxy
) -> None:
    body = b'{"index":{"_id":"1"}}\n{"a":1}\n'
    connection = _connect(proxy)
    connection.request(
        "POST",
        "/_bulk?refresh=true",
        body=body,
        headers={
            "Accept": "application/vnd.elasticsearch+json; compatible-with=9",
            "Content-Type": "application/vnd.elasticsearch+x-ndjson; compatible-with=9",
            "X-Opaque-Id": "trace-7",
            "Keep-Alive": "timeout=5",
            "Proxy-Connection": "keep-alive",
            "TE": "trailers",
            "X-Hop": "only-this-hop",
            "Connection": "keep-alive, X-Hop",
        },
    )
    assert connection.getresponse().read() == b'{"ok":true}'
    connection.close()

    [seen] = upstream.requests
    assert (seen.method, seen.path, seen.body) == ("POST", "/_bulk?refresh=true", body)
    assert len(seen.headers) == 6
    assert _lowered(seen.headers) == {
        "host": f"127.0.0.1:{upstream.port}",
        "accept-encoding": "identity",
        "accept": "application/json",
        "content-type": "application/x-ndjson",
        "x-opaque-id": "trace-7",
        "content-length": str(len(body)),
    }


def test_response_gets_product_header_and_loses_hop_by_hop_headers(
    upstream: RecordingUpstream, proxy: CompatProxy
) -> None:
    upstream.reply = Reply(
        status=201,
        headers=[
            ("Content-Type", "application/json; charset=UTF-8"),
            ("Keep-Alive", "timeout=5"),
            ("Trailer", "X-Checksum"),
            ("Warning", '299 Elasticsearch-7.9.2 "deprecated"'),
        ],
        body=b'{"result":"created"}',
    )
    connection = _connect(proxy)
    connection.request("PUT", "/idx/_doc/1", body=b"{}")
    response = connection.getresponse()

    assert response.status == 201
    assert response.read() == b'{"result":"created"}'
    assert len(response.getheaders()) == 4
    assert _lowered(response.getheaders()) == {
        "content-type": "application/json; charset=UTF-8",
        "warning": '299 Elasticsearch-7.9.2 "deprecated"',
        "x-elastic-product": "Elasticsearch",
        "content-length": "20",
    }
    connection.close()


def test_existing_product_header_is_kept_once(upstream: RecordingUpstream, proxy: CompatProxy) -> None:
    upstream.reply = Reply(headers=[("X-Elastic-Product", "Elasticsearch")], body=b"{}")
    connection = _connect(proxy)
    connection.request("GET", "/")
    response = connection.getresponse()
    response.read()

    assert [value for name, value in response.getheaders() if name.lower() == "x-elastic-product"] == [
        "Elasticsearch"
    ]
    connection.close()


def test_head_has_no_body_and_keeps_the_connection_usable(
    upstream: RecordingUpstream, proxy: CompatProxy
) -> None:
    connection = _connect(proxy)
    connection.request("HEAD", "/some-index")
    head = connection.getresponse()
    assert (head.status, head.getheader("Content-Length"), head.read()) == (200, "42", b"")

    # Stray body bytes after the HEAD answer would corrupt this second answer on the same socket.
    connection.request("GET", "/some-index")
    get = connection.getresponse()
    assert (get.status, get.read()) == (200, b'{"ok":true}')
    connection.close()
    assert [(seen.method, seen.path) for seen in upstream.requests] == [
        ("HEAD", "/some-index"),
        ("GET", "/some-index"),
    ]


def test_every_method_is_forwarded_with_its_body(upstream: RecordingUpstream, proxy: CompatProxy) -> None:
    methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
    connection = _connect(proxy)
    for method in methods:
        connection.request(method, f"/path-{method.lower()}", body=method.encode())
        assert connection.getresponse().read() == b'{"ok":true}'
    connection.close()

    assert [(seen.method, seen.path, seen.body) for seen in upstream.requests] == [
        (method, f"/path-{method.lower()}", method.encode()) for method in methods
    ]


def test_a_dropped_upstream_connection_is_retried_once(
    upstream: RecordingUpstream, proxy: CompatProxy
) -> None:
    upstream.reply = Reply(body=b"{}", drop_after_reply=True)
    connection = _connect(proxy)
    statuses = []
    for _ in range(3):
        connection.request("GET", "/_cluster/health")
        response = connection.getresponse()
        response.read()
        statuses.append(response.status)
    connection.close()

    assert statuses == [200, 200, 200]
    assert len(upstream.requests) == 3


def test_unreachable_upstream_gives_502() -> None:
    [unused_port] = pick_free_ports(1)
    with CompatProxy(upstream_port=unused_port) as proxy:
        connection = _connect(proxy)
        connection.request("GET", "/")
        response = connection.getresponse()
        body = response.read()
        connection.close()

    assert response.status == 502
    assert response.getheader("Content-Type") == "text/plain; charset=utf-8"
    assert body.startswith(b"upstream Elasticsearch did not answer: ConnectionRefusedError(")


def test_runs_as_a_process_and_exits_cleanly_on_sigterm(upstream: RecordingUpstream) -> None:
    [listen_port] = pick_free_ports(1)
    command = [sys.executable, "-m", "sandfly_assets.dev.es_compat_proxy"]
    command += ["--listen-port", str(listen_port), "--upstream-port", str(upstream.port)]
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert banner == (
            f"es_compat_proxy: http://127.0.0.1:{listen_port} -> http://127.0.0.1:{upstream.port}\n"
        )
        connection = http.client.HTTPConnection("127.0.0.1", listen_port, timeout=10)
        accept = {"Accept": "application/vnd.elasticsearch+json; compatible-with=9"}
        connection.request("GET", "/", headers=accept)
        response = connection.getresponse()
        assert (response.status, response.getheader("X-Elastic-Product")) == (200, "Elasticsearch")
        response.read()
        connection.close()
    finally:
        process.terminate()
        returncode = process.wait(timeout=30)
        assert process.stdout is not None
        process.stdout.close()

    assert returncode == 0
    assert _lowered(upstream.requests[0].headers)["accept"] == "application/json"
