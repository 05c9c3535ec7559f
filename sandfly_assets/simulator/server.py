"""HTTP(S) transport and the public `SandflySimulator` object.

Standard library only: a ThreadingHTTPServer with HTTP/1.1 keep-alive, optional
TLS (handshake done in the connection's own thread so a slow client cannot stall
the accept loop), and tracking of open connections so `stop()` really closes them.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import sys
import tempfile
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .api import Api, Response, error_response
from .config import FaultSettings, SimulatorConfig
from .state import SimulatorState
from .timeutil import instant_to_ms
from .tls import make_self_signed


class _Handler(BaseHTTPRequestHandler):
    """Moves bytes between a connection and `Api.handle()`."""

    protocol_version = "HTTP/1.1"
    server_version = "SandflySimulator/1.0"
    sys_version = ""
    timeout = 60
    server: _HttpServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without TCP_NODELAY, Nagle plus
        # the client's delayed ACK would stall every keep-alive response by ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_HEAD(self) -> None:
        self._serve("HEAD")

    def log_message(self, format: str, *args: object) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def _serve(self, method: str) -> None:
        """Read the body, let the API answer, write the response (or a simulated drop)."""
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length > 0 else b""
        try:
            response = self.server.api.handle(method, self.path, self.headers, raw_body)
        except Exception as error:  # a simulator bug must not look like a network fault
            print(f"sandfly simulator: internal error on {method} {self.path}: {error!r}", file=sys.stderr)
            response = error_response(500, f"internal simulator error: {error}")
        self._send(response, head_only=method == "HEAD")

    def _send(self, response: Response, head_only: bool) -> None:
        """Write status, headers and body; a DROP writes half the body and closes the socket."""
        self.send_response(response.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if head_only:
            return
        if response.drop:
            self.wfile.write(response.body[: len(response.body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(response.body)


class _HttpServer(ThreadingHTTPServer):
    """Threaded server that knows its API, its TLS context and its open connections."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], api: Api, tls: ssl.SSLContext | None, verbose: bool) -> None:
        self.api = api
        self.tls = tls
        self.verbose = verbose
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[socket.socket, object]:
        connection, address = super().get_request()
        if self.tls is not None:
            connection = self.tls.wrap_socket(connection, server_side=True, do_handshake_on_connect=False)
        return connection, address

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients that hang up or reject the certificate are normal here, not errors to print."""
        if isinstance(sys.exc_info()[1], (OSError, ssl.SSLError)):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        """Shut down every open keep-alive connection (used by stop())."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class SandflySimulator:
    """A Sandfly v4 server on a local port, for tests, demos and benchmarks.

    Data is generated when the object is built (so the ground-truth helpers work
    before `start()`); `start()` binds the port and serves in a background thread.
    """

    def __init__(self, config: SimulatorConfig | None = None, verbose: bool = False) -> None:
        self.config = config or SimulatorConfig()
        self.verbose = verbose
        self._state = SimulatorState(self.config)
        self._api = Api(self._state)
        self._server: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        self._tempdir: tempfile.TemporaryDirectory | None = None
        self.ca_cert_path: str | None = None

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> SandflySimulator:
        """Bind and serve in a background thread (idempotent)."""
        if self._server is not None:
            return self
        tls_context = self._tls_context() if self.config.tls else None
        self._server = _HttpServer((self.config.host, self.config.port), self._api, tls_context, self.verbose)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="sandfly-simulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close open connections and remove temporary files (idempotent)."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.close_connections()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None

    def __enter__(self) -> SandflySimulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _tls_context(self) -> ssl.SSLContext:
        """Make a self-signed certificate and a server context using it."""
        self._tempdir = tempfile.TemporaryDirectory(prefix="sandfly-sim-tls-")
        key_path = Path(self._tempdir.name) / "server.key"
        cert_path = (
            Path(self.config.cert_file) if self.config.cert_file else Path(self._tempdir.name) / "server.pem"
        )
        make_self_signed(cert_path, key_path)
        self.ca_cert_path = str(cert_path)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert_path), str(key_path))
        return context

    # --- addresses ---------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        if self._server is None:
            raise RuntimeError("the simulator is not running: call start() first")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL ending in /v4, e.g. `http://127.0.0.1:PORT/v4`."""
        scheme = "https" if self.config.tls else "http"
        host = self.config.host
        if ":" in host:
            host = f"[{host}]"
        return f"{scheme}://{host}:{self.port}/v4"

    # --- data and switches ---------------------------------------------------------------

    @property
    def now(self) -> datetime:
        """The simulator's current time (fixed by config, or the wall clock)."""
        return datetime.fromtimestamp(self._state.now_ms() / 1000, tz=UTC)

    def add_results(
        self, count: int, end_time: datetime | str | None = None, status: str | None = None
    ) -> list[int]:
        """Commit `count` new results ending at `end_time` (default now; may be days ago: a late commit)."""
        end_ms = None if end_time is None else instant_to_ms(end_time)
        return self._state.add_results(count, end_ms, status)

    def revoke_all_tokens(self) -> None:
        """Invalidate every issued token; the next data call with an old token gets 401."""
        self._state.tokens.revoke_all()

    def issued_tokens(self) -> list[str]:
        """Every access and refresh token issued so far, revoked or expired ones included."""
        return self._state.tokens.issued()

    def set_faults(self, **changes: object) -> None:
        """Change fault switches (merged into the current ones) and restart the fault call counter."""
        self._state.faults.replace(self._state.faults.settings.updated(**changes))

    def clear_faults(self) -> None:
        """Turn every fault off (license faults included) and restart the counter."""
        self._state.faults.replace(FaultSettings())

    @property
    def faults(self) -> FaultSettings:
        """The current fault settings."""
        return self._state.faults.settings

    def max_result_id(self) -> int:
        """Highest sequence id (what getMaxID returns)."""
        return self._state.store.max_sequence_id()

    def count_results(
        self,
        end_time_from: datetime | str | None = None,
        end_time_before: datetime | str | None = None,
        include_pass: bool = False,
        after_sequence_id: int = 0,
        max_sequence_id: int | None = None,
    ) -> int:
        """How many results have end_time_from <= data.end_time < end_time_before, etc. (ground truth)."""
        return len(
            self.result_sequence_ids(
                end_time_from, end_time_before, include_pass, after_sequence_id, max_sequence_id
            )
        )

    def result_sequence_ids(
        self,
        end_time_from: datetime | str | None = None,
        end_time_before: datetime | str | None = None,
        include_pass: bool = False,
        after_sequence_id: int = 0,
        max_sequence_id: int | None = None,
    ) -> list[int]:
        """Sequence ids (ascending) of the results `count_results` counts."""
        return self._state.result_ids(
            None if end_time_from is None else instant_to_ms(end_time_from),
            None if end_time_before is None else instant_to_ms(end_time_before),
            include_pass,
            after_sequence_id,
            max_sequence_id,
        )

    def hosts_last_seen_between(self, start: datetime | str, end: datetime | str) -> list[str]:
        """host_ids with start <= date_last_seen < end (never-seen hosts never match)."""
        low, high = instant_to_ms(start), instant_to_ms(end)
        return [
            host.host_id
            for host in self._state.hosts
            if host.last_seen_ms is not None and low <= host.last_seen_ms < high
        ]

    def ssh_keys_last_seen_between(self, start: datetime | str, end: datetime | str) -> list[int]:
        """SSH key ids with start <= last_seen < end (keys never seen never match)."""
        low, high = instant_to_ms(start), instant_to_ms(end)
        return [
            key.key_id
            for key in self._state.keys
            if key.last_seen_ms is not None and low <= key.last_seen_ms < high
        ]

    def hosts_never_seen(self) -> list[str]:
        """host_ids whose date_last_seen is null (a sync assigns them to the day it runs)."""
        return [host.host_id for host in self._state.hosts if host.last_seen_ms is None]

    def ssh_keys_never_seen(self) -> list[int]:
        """SSH key ids whose last_seen is null."""
        return [key.key_id for key in self._state.keys if key.last_seen_ms is None]

    @property
    def call_counts(self) -> dict[str, int]:
        """Calls per endpoint, e.g. {"POST /auth/login": 1, "POST /results": 12} (a copy)."""
        return self._state.call_counts()

    def reset_call_counts(self) -> None:
        """Forget all call counts."""
        self._state.reset_call_counts()
