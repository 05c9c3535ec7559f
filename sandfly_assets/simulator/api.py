"""The v4 endpoints: routing, authentication, faults and response bodies.

Transport-free: `Api.handle()` takes a method, path, headers and body and returns
what to send. The HTTP server only moves bytes, which keeps this testable and
keeps the fault schedule in one place.

Endpoint names in `call_counts` are `METHOD /template` without the `/v4` prefix,
e.g. `POST /auth/login`, `GET /hosts/{host_id}`, `POST /results`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from . import catalog
from .auth import Token
from .faults import Fault
from .filters import QueryError, parse_results_query
from .hosts import host_summary, raw_host
from .payloads import license_body, login_body, standard_response, user_body, version_body
from .sshkeys import host_key_stats, key_detail, key_summary
from .state import SimulatorState
from .timeutil import parse_to_us

API_PREFIX = "/v4"
HOSTS_DEFAULT_SIZE = 10_000
HOSTS_MAX_SIZE = 100_000
SSH_DEFAULT_SIZE = 100
SSH_MAX_SIZE = 10_000
MAX_ADDED_RESULTS = 10_000_000
_ENCODER = json.JSONEncoder(separators=(",", ":"), check_circular=False)


@dataclass
class Response:
    """What to send back: status, body bytes and extra headers."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False


@dataclass
class Request:
    """One parsed request."""

    method: str
    path: str
    query: dict[str, str]
    headers: Mapping[str, str]
    raw_body: bytes
    params: dict[str, str] = field(default_factory=dict)
    username: str = ""
    token: str = ""

    def json_body(self, required: bool) -> object:
        """The body parsed as JSON (None when empty and optional)."""
        if not self.raw_body.strip():
            if required:
                raise QueryError("request body must be a JSON object")
            return None
        try:
            return json.loads(self.raw_body)
        except ValueError as error:
            raise QueryError(f"request body is not valid JSON: {error}") from error


def json_response(status: int, payload: object, headers: dict[str, str] | None = None) -> Response:
    """Encode a JSON payload."""
    return Response(status, _ENCODER.encode(payload).encode(), headers or {})


def error_response(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    """A StandardResponse error."""
    return json_response(status, standard_response(status, detail), headers)


@dataclass(frozen=True)
class Route:
    """One endpoint: how it is matched, authenticated and handled."""

    method: str
    template: str
    handler: Callable[[Request], Response]
    auth: str | None = "access"
    fault_exempt: bool = False

    @property
    def name(self) -> str:
        """The key used in call counts."""
        return f"{self.method} {self.template}"

    @property
    def pattern(self) -> re.Pattern[str]:
        """The template as a regex with named groups for `{params}`."""
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.template)
        return re.compile(f"^{regex}$")


class Api:
    """All endpoints of the simulated server."""

    def __init__(self, state: SimulatorState) -> None:
        self.state = state
        self.routes = self._routes(state.config.admin)
        self._patterns = [(route, route.pattern) for route in self.routes]

    def _routes(self, admin: bool) -> list[Route]:
        """The routing table; order matters (`getMaxID` before `{result_id}`)."""
        routes = [
            Route("HEAD", "/", self._ping, auth=None, fault_exempt=True),
            Route("POST", "/auth/login", self._login, auth=None, fault_exempt=True),
            Route("POST", "/auth/login_refresh", self._login_refresh, auth="refresh", fault_exempt=True),
            Route("DELETE", "/auth/logout", self._logout, fault_exempt=True),
            Route("GET", "/auth", self._current_user),
            Route("GET", "/version", lambda request: json_response(200, version_body())),
            Route("GET", "/license", self._license),
            Route("GET", "/hosts", self._hosts),
            Route("GET", "/hosts/{host_id}", self._host),
            Route("GET", "/sshhunter/summary", self._ssh_summary),
            Route("GET", "/sshhunter/key/{id}", self._ssh_key),
            Route("POST", "/results", self._results),
            Route("GET", "/results/getMaxID", self._max_id),
            Route("GET", "/results/{result_id}", self._result),
        ]
        if admin:
            routes += [
                Route("POST", "/_sim/results", self._admin_add_results, fault_exempt=True),
                Route("POST", "/_sim/revoke_tokens", self._admin_revoke, fault_exempt=True),
                Route("PUT", "/_sim/faults", self._admin_set_faults, fault_exempt=True),
                Route("DELETE", "/_sim/faults", self._admin_clear_faults, fault_exempt=True),
                Route("GET", "/_sim/stats", self._admin_stats, fault_exempt=True),
            ]
        return routes

    def handle(self, method: str, target: str, headers: Mapping[str, str], raw_body: bytes) -> Response:
        """Route, count, inject faults, authenticate and answer one request."""
        parts = urlsplit(target)
        path = parts.path
        if not (path == API_PREFIX or path.startswith(API_PREFIX + "/")):
            self.state.count_call(f"{method} {path}")
            return error_response(404, f"no such endpoint: {path}")
        relative = path[len(API_PREFIX) :].rstrip("/") or "/"
        route, params, allowed = self._match(method, relative)
        if route is None:
            self.state.count_call(f"{method} {relative}")
            if allowed:
                return error_response(
                    405, f"method {method} not allowed on {relative}", {"Allow": ", ".join(allowed)}
                )
            return error_response(404, f"no such endpoint: {relative}")
        self.state.count_call(route.name)
        query = {key: values[-1] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
        request = Request(method, relative, query, headers, raw_body, params)
        fault = Fault.NONE
        if not route.fault_exempt:
            fault, early = self._next_fault()
            if early is not None:
                return early
        response = self._authenticated(route, request)
        if fault is Fault.MALFORMED:
            response.body = response.body[: len(response.body) // 2] + b"#malformed"
        elif fault is Fault.DROP:
            response.drop = True
        return response

    def _next_fault(self) -> tuple[Fault, Response | None]:
        """Count a data call, apply its delay, and answer it now if its fault is a 429 or 5xx."""
        fault, settings, number = self.state.faults.next_call()
        if settings.delay_seconds:
            time.sleep(settings.delay_seconds)
        if settings.revoke_tokens_at_call and number == settings.revoke_tokens_at_call:
            self.state.tokens.revoke_all()
        if fault is Fault.RATE_LIMIT:
            headers = {"Retry-After": str(settings.retry_after_seconds)}
            return fault, error_response(429, "rate limit exceeded (simulated)", headers)
        if fault is Fault.ERROR:
            return fault, error_response(settings.error_status, "simulated server error")
        return fault, None

    def _match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], list[str]]:
        """The route for (method, path), its parameters, and the methods allowed on the path."""
        allowed = []
        for route, pattern in self._patterns:
            found = pattern.match(path)
            if found is None:
                continue
            if route.method == method:
                return route, found.groupdict(), []
            allowed.append(route.method)
        return None, {}, allowed

    def _authenticated(self, route: Route, request: Request) -> Response:
        """Check the bearer token the route needs, then run it (400 for invalid requests)."""
        if route.auth is not None:
            token = _bearer(request.headers)
            checked = self.state.tokens.check(token, route.auth) if token else None
            if checked is None:
                return error_response(401, "authentication failed")
            request.username = checked.username
            request.token = token
        try:
            return route.handler(request)
        except QueryError as error:
            return error_response(400, str(error))

    # --- authentication -------------------------------------------------------------

    def _ping(self, request: Request) -> Response:
        """`HEAD /v4`: a real server answers 401 (the Elastic connector's ping relies on it)."""
        return error_response(401, "authentication failed")

    def _login(self, request: Request) -> Response:
        """`POST /auth/login`: only the configured credentials succeed."""
        body = request.json_body(required=True)
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("username"), str)
            or not isinstance(body.get("password"), str)
        ):
            return error_response(400, "Error during login: username and password are required")
        config = self.state.config
        if body["username"] != config.username or body["password"] != config.password:
            return error_response(401, "authentication failed")
        access, refresh = self.state.tokens.login(body["username"])
        return self._token_response(access, refresh, body.get("full_details") is True)

    def _login_refresh(self, request: Request) -> Response:
        """`POST /auth/login_refresh` with the refresh token as bearer: a new access token."""
        body = request.json_body(required=False)
        full_details = isinstance(body, dict) and body.get("full_details") is True
        issued = self.state.tokens.refresh(request.token)
        if issued is None:
            return error_response(401, "authentication failed")
        return self._token_response(*issued, full_details)

    def _token_response(self, access: Token, refresh: Token, full_details: bool) -> Response:
        """Login-shaped body (minimal or full)."""
        license_data = license_body(self.state.now_ms(), self.state.faults.settings, len(self.state.hosts))
        return json_response(
            200, login_body(access, refresh, full_details, license_data, self.state.now_ms())
        )

    def _logout(self, request: Request) -> Response:
        """`DELETE /auth/logout`: revokes the caller's session."""
        self.state.tokens.revoke_session(request.token)
        return json_response(200, {})

    def _current_user(self, request: Request) -> Response:
        """`GET /auth`: the logged-in user."""
        now = self.state.now_ms()
        return json_response(200, {"user": user_body(request.username, now, now), "saved_views": []})

    # --- license -----------------------------------------------------------------------

    def _license(self, request: Request) -> Response:
        """`GET /license` (404 when the license-missing fault is on)."""
        settings = self.state.faults.settings
        if settings.license_missing:
            return error_response(404, "License entry not found.")
        return json_response(200, license_body(self.state.now_ms(), settings, len(self.state.hosts)))

    # --- hosts -------------------------------------------------------------------------

    def _hosts(self, request: Request) -> Response:
        """`GET /hosts`: every raw host, or paged summary rows with `summary=true`."""
        state = self.state
        if not _flag(request.query, "summary"):
            data = [
                raw_host(state.config.seed, host, state.store.counters(host.index)) for host in state.hosts
            ]
            return _scrolling(data, more=False)
        size = _int_param(request.query, "size", HOSTS_DEFAULT_SIZE, HOSTS_MAX_SIZE)
        page = _int_param(request.query, "page", 1, 10_000_000)
        hosts = state.hosts
        stats = state.key_stats
        extra: dict = {}
        if "key_filter" in request.query:
            wanted = _id_list(request.query["key_filter"])
            keys = [key for key in state.keys if key.key_id in wanted]
            stats = host_key_stats(keys, len(state.hosts))
            hosts = [host for host in hosts if any(host.index in key.host_indices for key in keys)]
            extra["key_names"] = {str(key.key_id): key.friendly_name for key in keys}
        chunk = hosts[(page - 1) * size : page * size]
        if not chunk:
            return error_response(404, "Hosts not found.")
        data = [
            host_summary(state.config.seed, host, state.store.counters(host.index), stats[host.index])
            for host in chunk
        ]
        return _scrolling(data, more=page * size < len(hosts), extra=extra)

    def _host(self, request: Request) -> Response:
        """`GET /hosts/{host_id}`: by host_id or host_sequence_id; `summary=true` for the flat row."""
        state = self.state
        host = state.host_by_reference(request.params["host_id"])
        if host is None:
            return error_response(404, "Host not found.")
        counters = state.store.counters(host.index)
        if _flag(request.query, "summary"):
            return json_response(
                200, host_summary(state.config.seed, host, counters, state.key_stats[host.index])
            )
        return json_response(200, raw_host(state.config.seed, host, counters))

    # --- SSH Hunter ----------------------------------------------------------------------

    def _ssh_allowed(self) -> Response | None:
        """402 when the license lacks SSH Hunter (or the `ssh_hunter_denied` fault is on)."""
        settings = self.state.faults.settings
        if settings.no_ssh_hunter or settings.ssh_hunter_denied:
            return error_response(402, "Product license does not allow SSH Hunter features.")
        return None

    def _ssh_summary(self, request: Request) -> Response:
        """`GET /sshhunter/summary`: paged key summaries."""
        denied = self._ssh_allowed()
        if denied:
            return denied
        size = _int_param(request.query, "size", SSH_DEFAULT_SIZE, SSH_MAX_SIZE)
        page = _int_param(request.query, "page", 1, 10_000_000)
        keys = self.state.keys
        chunk = keys[(page - 1) * size : page * size]
        data = [key_summary(key, self.state.hosts, self.state.store.counters) for key in chunk]
        return _scrolling(data, more=page * size < len(keys))

    def _ssh_key(self, request: Request) -> Response:
        """`GET /sshhunter/key/{id}`: one key with users, hosts, timeline and zones."""
        denied = self._ssh_allowed()
        if denied:
            return denied
        raw_id = request.params["id"]
        if not raw_id.isdigit():
            return error_response(400, "SSH key id must be an integer")
        key = self.state.key_by_id(int(raw_id))
        if key is None:
            return error_response(404, "SSH key not found.")
        state = self.state
        detail = key_detail(
            state.config.seed, key, state.hosts, state.store.counters, state.key_stats, state.window_start_ms
        )
        return json_response(200, detail)

    # --- results -------------------------------------------------------------------------

    def _results(self, request: Request) -> Response:
        """`POST /results`: filtered, sorted, paged; 404 "No results found" when the page is empty."""
        query = parse_results_query(request.json_body(required=True))
        page = self.state.engine.execute(query)
        if not page.positions:
            return error_response(404, "No results found")
        build = self.state.builder.summary_json if query.summary else self.state.builder.full_json
        records = ",".join(build(position) for position in page.positions)
        more = "true" if page.more_results else "false"
        body = f'{{"more_results":{more},"total":{len(page.positions)},"data":[{records}]}}'
        return Response(200, body.encode())

    def _max_id(self, request: Request) -> Response:
        """`GET /results/getMaxID`: a bare integer."""
        return Response(200, str(self.state.store.max_sequence_id()).encode())

    def _result(self, request: Request) -> Response:
        """`GET /results/{result_id}`: one full result by id (ids are the sequence ids as strings)."""
        raw_id = request.params["result_id"]
        position = self.state.store.index_of(int(raw_id)) if raw_id.isdigit() else None
        if position is None:
            return error_response(404, "Result not found.")
        return Response(200, self.state.builder.full_json(position).encode())

    # --- admin (--admin only) ------------------------------------------------------------

    def _admin_add_results(self, request: Request) -> Response:
        """`POST /_sim/results {"count": N, "end_time": "...", "status": "alert"}`: commit new results."""
        body = request.json_body(required=True)
        if not isinstance(body, dict):
            raise QueryError("body must be an object")
        count = body.get("count")
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_ADDED_RESULTS:
            raise QueryError(f"'count' must be an integer between 1 and {MAX_ADDED_RESULTS}")
        end_time = body.get("end_time")
        status = body.get("status")
        if status is not None and status not in catalog.STATUS_CODES:
            raise QueryError("'status' must be alert, error or pass")
        try:
            end_ms = None if end_time is None else parse_to_us(str(end_time)) // 1000
        except ValueError as error:
            raise QueryError(str(error)) from error
        ids = self.state.add_results(count, end_ms, status)
        return json_response(
            200,
            {
                "count": len(ids),
                "first_sequence_id": ids[0],
                "last_sequence_id": ids[-1],
                "max_id": self.state.store.max_sequence_id(),
            },
        )

    def _admin_revoke(self, request: Request) -> Response:
        """`POST /_sim/revoke_tokens`: invalidate every token, including the caller's."""
        self.state.tokens.revoke_all()
        return json_response(200, {"revoked": True})

    def _admin_set_faults(self, request: Request) -> Response:
        """`PUT /_sim/faults {...}`: change fault settings (merged into the current ones)."""
        body = request.json_body(required=True)
        if not isinstance(body, dict):
            raise QueryError("body must be an object of fault settings")
        try:
            settings = self.state.faults.settings.updated(**body)
        except (TypeError, ValueError) as error:
            raise QueryError(str(error)) from error
        self.state.faults.replace(settings)
        return json_response(200, vars(settings))

    def _admin_clear_faults(self, request: Request) -> Response:
        """`DELETE /_sim/faults`: back to a healthy server."""
        self.state.faults.replace(type(self.state.faults.settings)())
        return json_response(200, vars(self.state.faults.settings))

    def _admin_stats(self, request: Request) -> Response:
        """`GET /_sim/stats`: result count, max id, call counts, fault settings."""
        state = self.state
        return json_response(
            200,
            {
                "results": len(state.store),
                "max_id": state.store.max_sequence_id(),
                "call_counts": state.call_counts(),
                "faults": vars(state.faults.settings),
            },
        )


def _bearer(headers: Mapping[str, str]) -> str:
    """The token of an `Authorization: Bearer <token>` header ("" if absent)."""
    value = headers.get("Authorization") or ""
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _scrolling(data: list, more: bool, extra: dict | None = None) -> Response:
    """The `ScrollingResponse` envelope: `total` is the number of items on this page."""
    payload = {"more_results": more, "total": len(data), "data": data}
    payload.update(extra or {})
    return json_response(200, payload)


def _flag(query: dict[str, str], name: str) -> bool:
    """A boolean query parameter (`true`/`false`, default false)."""
    value = query.get(name, "false").strip().lower()
    if value not in ("true", "false", "1", "0", ""):
        raise QueryError(f"'{name}' must be true or false")
    return value in ("true", "1")


def _int_param(query: dict[str, str], name: str, default: int, maximum: int) -> int:
    """An integer query parameter within [1, maximum]."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise QueryError(f"'{name}' must be an integer between 1 and {maximum}")
    return int(raw)


def _id_list(raw: str) -> set[int]:
    """A comma-separated list of integer ids."""
    ids = set()
    for part in raw.split(","):
        part = part.strip()
        if not part.isdigit():
            raise QueryError("'key_filter' must be a comma-separated list of key ids")
        ids.add(int(part))
    return ids
