"""HTTP client for the Sandfly Security server REST API v4.

The client owns everything about talking to a Sandfly server: login and token refresh,
retries with backoff, paging, the documented filter dialect and the quirks of the API
(404 meaning "no results", 402 meaning "SSH Hunter not licensed", ...). It yields plain
dicts page by page and knows nothing of Dagster or Elasticsearch.

Secrets (the password, access and refresh tokens, the Authorization header) never reach a
log line or an exception message.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import json
import logging
import random
import re
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from urllib3.exceptions import InsecureRequestWarning

logger = logging.getLogger(__name__)

# Statuses worth retrying: rate limiting and the usual transient gateway/server errors.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# Lifetime assumed for an access token whose expiry cannot be read (the server's minimum is 5 min).
DEFAULT_TOKEN_LIFETIME_SECONDS = 300.0
# Refresh this long before expiry at most; short-lived tokens refresh at 80% of their lifetime.
MAX_REFRESH_MARGIN_SECONDS = 60.0
REPLICATION_FEATURE = "elasticsearch_replication"
MAX_DETAIL_CHARS = 300


class SandflyError(Exception):
    """Base class: every message names the server and what to do about the problem."""


class SandflyConfigError(SandflyError):
    """The configuration is wrong; the message names the setting and the fix."""


class SandflyAuthError(SandflyError):
    """The server rejected the credentials or the user lacks permission."""


class SandflyLicenseError(SandflyError):
    """The license has expired or lacks the elasticsearch_replication feature."""


class SandflyFeatureNotLicensed(SandflyError):
    """HTTP 402: the license lacks a feature (SSH Hunter) needed by this endpoint."""


class SandflyRequestError(SandflyError):
    """A call failed for good: a non-retryable status, or retries ran out."""


@dataclass(frozen=True)
class SandflyLicense:
    """The parts of GET /license that decide whether replication may run."""

    customer_name: str | None
    expiry: datetime | None
    features: frozenset[str]


@dataclass(frozen=True)
class _Tokens:
    """The current token pair and the clock time at which to renew the access token.

    The tokens are left out of repr(), so no debug print or traceback renderer shows them.
    """

    access: str = field(repr=False)
    refresh: str | None = field(repr=False)
    refresh_at: float


@dataclass(frozen=True)
class _Reply:
    """The final answer of one logical exchange, and the access token it was sent with."""

    status: int
    body: Any
    bearer: str | None = field(repr=False)


def validate_server_url(server_url: str) -> str:
    """Return the base URL without a trailing slash, or raise SandflyConfigError showing the fix.

    Checked before any network call so that a typo fails fast with a useful message instead of a
    404 or a connection error from somewhere else.
    """
    example = "e.g. https://sandfly.example.com/v4"
    text = (server_url or "").strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SandflyConfigError(
            f"SANDFLY_SERVER_URL must be an http(s) URL ending in /v4, {example} (got {text!r})"
        )
    if parts.username or parts.password:
        raise SandflyConfigError(
            "SANDFLY_SERVER_URL must not contain credentials; set SANDFLY_USERNAME and SANDFLY_PASSWORD "
            f"instead, {example}"
        )
    if parts.query or parts.fragment:
        raise SandflyConfigError(f"SANDFLY_SERVER_URL must not have a query or fragment, {example}")
    base = text.rstrip("/")
    if not base.endswith("/v4"):
        raise SandflyConfigError(f"SANDFLY_SERVER_URL must end in /v4, {example} (got {text!r})")
    return base


def parse_timestamp(value: Any) -> datetime | None:
    """Parse an API timestamp leniently (Z or offset, optional fractions) into aware UTC, or None."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_timestamp(value: datetime) -> str:
    """Format an aware datetime as the API expects: UTC with a literal Z, whole seconds when exact."""
    if value.tzinfo is None:
        raise ValueError(f"timestamps sent to Sandfly must be timezone-aware (got naive {value.isoformat()})")
    utc = value.astimezone(UTC)
    spec = "seconds" if utc.microsecond == 0 else "microseconds"
    return utc.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def jwt_expiry(token: str) -> float | None:
    """Return the `exp` claim (Unix seconds) of a JWT without checking its signature, or None.

    The signature is irrelevant here: the claim only tells us when to refresh, and the server
    remains the judge (a 401 still triggers a refresh).
    """
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        return None
    return float(exp)


def _as_int(value: Any) -> int | None:
    """Accept an int or a numeric string (the Elastic fixture sends strings); anything else is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _server_detail(body: Any, text: str = "") -> str:
    """The human part of an error reply: StandardResponse's `detail`/`title`, else the raw text."""
    if isinstance(body, dict):
        for key in ("detail", "title"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()[:MAX_DETAIL_CHARS]
    return text.strip()[:MAX_DETAIL_CHARS]


class SandflyClient:
    """A thread-safe client for one Sandfly server and one API user.

    One login is reused for every call; the access token is refreshed shortly before it expires
    or when the server answers 401. Transient failures are retried with capped exponential
    backoff and full jitter. Lists are streamed page by page; details are fetched concurrently
    with a bounded number of requests in flight.
    """

    def __init__(
        self,
        server_url: str,
        username: str,
        password: str,
        *,
        verify: bool | str = True,
        page_size: int = 999,
        timeout_seconds: float = 30.0,
        max_retries: int = 6,
        backoff_base_seconds: float = 0.5,
        backoff_max_seconds: float = 60.0,
        concurrency: int = 8,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._base_url = validate_server_url(server_url)
        _require(bool(username), "the Sandfly username is empty: set SANDFLY_USERNAME")
        _require(bool(password), "the Sandfly password is empty: set SANDFLY_PASSWORD")
        _require(page_size >= 1, f"page_size must be at least 1 (got {page_size})")
        _require(timeout_seconds > 0, f"timeout_seconds must be positive (got {timeout_seconds})")
        _require(max_retries >= 0, f"max_retries must be 0 or more (got {max_retries})")
        _require(concurrency >= 1, f"concurrency must be at least 1 (got {concurrency})")
        _require(
            backoff_base_seconds >= 0, f"backoff_base_seconds must be 0 or more (got {backoff_base_seconds})"
        )
        _require(
            backoff_max_seconds >= 0, f"backoff_max_seconds must be 0 or more (got {backoff_max_seconds})"
        )
        self._username = username
        self._password = password
        self._verify = self._checked_verify(verify)
        self._page_size = page_size
        self._timeout = timeout_seconds
        self._max_retries = max_retries
        self._backoff_base = backoff_base_seconds
        self._backoff_max = backoff_max_seconds
        self._concurrency = concurrency
        self._sleep = sleep
        self._clock = clock
        self._random = random.Random()
        self._lock = threading.Lock()
        self._tokens: _Tokens | None = None
        self._auth_failure: str | None = None
        self._local = threading.local()
        self._sessions_lock = threading.Lock()  # separate: sessions are created while _lock is held
        self._sessions: list[requests.Session] = []
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False

    # ----------------------------------------------------------------- lifecycle

    @property
    def server_url(self) -> str:
        """The validated base URL (no trailing slash); safe to show, it holds no credentials."""
        return self._base_url

    @property
    def closed(self) -> bool:
        """True once close() was called."""
        with self._lock:
            return self._closed

    @property
    def auth_failure(self) -> str | None:
        """Why the server rejected our credentials, once it has (then no call logs in again)."""
        with self._lock:
            return self._auth_failure

    def close(self) -> None:
        """Log out (best effort), stop the detail workers and close every HTTP session."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            tokens, self._tokens = self._tokens, None
            executor, self._executor = self._executor, None
        if tokens is not None:
            self._logout(tokens.access)
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()

    def __enter__(self) -> SandflyClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ----------------------------------------------------------------- license

    def get_license(self) -> SandflyLicense:
        """Read GET /license; tolerant of missing blocks and unknown feature names."""
        body = self._api("GET", "/license", not_found_ok=True)
        if body is None:
            raise SandflyLicenseError(
                f"Sandfly server {self._base_url} has no license installed (GET /license answered 404); "
                "install a license on the server"
            )
        if not isinstance(body, dict):
            raise self._shape_error("GET", "/license", "a JSON object")
        customer = body.get("customer") if isinstance(body.get("customer"), dict) else {}
        dates = body.get("date") if isinstance(body.get("date"), dict) else {}
        limits = body.get("limits") if isinstance(body.get("limits"), dict) else {}
        raw_features = limits.get("features") if isinstance(limits.get("features"), list) else []
        expiry_text = dates.get("expiry")
        expiry = parse_timestamp(expiry_text)
        if expiry_text and expiry is None:
            logger.warning(
                "Sandfly server %s: license expiry %r is not a timestamp", self._base_url, expiry_text
            )
        name = customer.get("name")
        return SandflyLicense(
            customer_name=name if isinstance(name, str) else None,
            expiry=expiry,
            features=frozenset(str(feature) for feature in raw_features),
        )

    def check_license(self, now: datetime | None = None) -> SandflyLicense:
        """Return the license if it allows replication; raise SandflyLicenseError otherwise."""
        license_ = self.get_license()
        moment = now or datetime.now(UTC)
        if license_.expiry is not None and license_.expiry < moment:
            raise SandflyLicenseError(
                f"The license of Sandfly server {self._base_url} expired on "
                f"{format_timestamp(license_.expiry)}; renew the license on the server"
            )
        if license_.expiry is None:
            logger.warning("Sandfly server %s: license has no readable expiry date", self._base_url)
        if REPLICATION_FEATURE not in license_.features:
            have = ", ".join(sorted(license_.features)) or "none"
            raise SandflyLicenseError(
                f"The license of Sandfly server {self._base_url} does not include the {REPLICATION_FEATURE} "
                f"feature (features: {have}); ask Sandfly for a license with {REPLICATION_FEATURE}"
            )
        return license_

    # ----------------------------------------------------------------- results

    def get_max_result_id(self) -> int:
        """GET /results/getMaxID: the highest sequence_id that is safe to replicate up to."""
        body = self._api("GET", "/results/getMaxID")
        value = _as_int(body)
        if value is None:
            raise self._shape_error("GET", "/results/getMaxID", "an integer")
        return value

    def iter_result_pages(
        self,
        *,
        include_pass: bool,
        after_sequence_id: int = 0,
        max_sequence_id: int | None = None,
        end_time_from: datetime | None = None,
        end_time_before: datetime | None = None,
        summary: bool = False,
    ) -> Iterator[list[dict]]:
        """Yield pages of results with sequence_id in (after, max], sorted ascending (keyset paging).

        Each page's ids must rise strictly past the cursor and stay within the bounds; a server
        that ignores the filter would otherwise make us loop forever or skip data silently.
        """
        cursor = after_sequence_id
        while True:
            payload = self.results_payload(
                include_pass=include_pass,
                after_sequence_id=cursor,
                max_sequence_id=max_sequence_id,
                end_time_from=end_time_from,
                end_time_before=end_time_before,
                summary=summary,
            )
            body = self._api("POST", "/results", json_body=payload, not_found_ok=True)
            if body is None:
                return
            records = self._page_records("POST", "/results", body)
            if not records:
                return
            cursor = self._checked_sequence_ids(records, cursor, max_sequence_id)
            yield records
            if not self._has_more(body, len(records)):
                return

    def results_payload(
        self,
        *,
        include_pass: bool,
        after_sequence_id: int,
        max_sequence_id: int | None = None,
        end_time_from: datetime | None = None,
        end_time_before: datetime | None = None,
        summary: bool = False,
    ) -> dict[str, Any]:
        """Build the POST /results body in the documented dialect (never the deprecated time_since)."""
        items: list[dict[str, Any]] = [{"field": "sequence_id", "operator": ">", "value": after_sequence_id}]
        if max_sequence_id is not None:
            items.append({"field": "sequence_id", "operator": "<=", "value": max_sequence_id})
        if end_time_from is not None:
            items.append(
                {"field": "data.end_time", "operator": "onOrAfter", "value": format_timestamp(end_time_from)}
            )
        if end_time_before is not None:
            items.append(
                {"field": "data.end_time", "operator": "before", "value": format_timestamp(end_time_before)}
            )
        if not include_pass:
            items.append({"field": "data.status", "operator": "notEquals", "value": "pass"})
        return {
            "size": self._page_size,
            "filter": {"items": items, "logicOperator": "and"},
            "sort": [{"field": "sequence_id", "sort": "asc"}],
            "summary": summary,
        }

    def _checked_sequence_ids(self, records: list[dict], cursor: int, max_sequence_id: int | None) -> int:
        """Return the page's last sequence_id after checking the ids rise past the cursor within bounds."""
        previous = cursor
        for record in records:
            value = _as_int(record.get("sequence_id")) if isinstance(record, dict) else None
            if value is None:
                raise self._shape_error("POST", "/results", "records with an integer sequence_id")
            if value <= previous or (max_sequence_id is not None and value > max_sequence_id):
                bound = "" if max_sequence_id is None else f" and <= {max_sequence_id}"
                raise SandflyRequestError(
                    f"Sandfly server {self._base_url} ignored the sequence_id filter on POST /results: "
                    f"got sequence_id {value} after {previous} (asked for > {cursor}{bound}, ascending); "
                    "the server may not understand the documented filter dialect. Stopping instead of "
                    "looping or skipping results; check the server version"
                )
            previous = value
        return previous

    # ----------------------------------------------------------------- hosts and SSH keys

    def iter_host_summary_pages(self) -> Iterator[list[dict]]:
        """Yield pages of GET /hosts?summary=true (never the unpaged raw form)."""
        yield from self._iter_numbered_pages("/hosts", {"summary": "true"}, identity="host_id")

    def iter_host_details(self, host_ids: Iterable[str]) -> Iterator[dict]:
        """Yield GET /hosts/{host_id} for each id, fetched concurrently, in completion order.

        A host deleted between the listing and its detail fetch (404) is skipped with a warning.
        """
        paths = ((f"/hosts/{quote(str(host_id), safe='')}", f"host {host_id}") for host_id in host_ids)
        yield from self._iter_details(paths)

    def iter_ssh_key_summary_pages(self) -> Iterator[list[dict]]:
        """Yield pages of GET /sshhunter/summary; raises SandflyFeatureNotLicensed on 402."""
        yield from self._iter_numbered_pages("/sshhunter/summary", {}, identity="id")

    def iter_ssh_key_details(self, key_ids: Iterable[int]) -> Iterator[dict]:
        """Yield GET /sshhunter/key/{id} for each id, fetched concurrently, in completion order."""
        paths = ((f"/sshhunter/key/{quote(str(key_id), safe='')}", f"SSH key {key_id}") for key_id in key_ids)
        yield from self._iter_details(paths)

    def _iter_numbered_pages(
        self, path: str, params: dict[str, str], *, identity: str
    ) -> Iterator[list[dict]]:
        """Page with size/page until more_results is false or a page is empty (404 = nothing)."""
        page = 1
        previous_ids: list[Any] | None = None
        while True:
            query = {**params, "size": str(self._page_size), "page": str(page)}
            body = self._api("GET", path, params=query, not_found_ok=True)
            if body is None:
                return
            records = self._page_records("GET", path, body)
            if not records:
                return
            ids = [record.get(identity) if isinstance(record, dict) else None for record in records]
            if ids == previous_ids:
                raise SandflyRequestError(
                    f"Sandfly server {self._base_url} returned the same page twice for GET {path} "
                    f"(page {page - 1} and {page}); it seems to ignore the page parameter. Stopping instead "
                    "of looping; check the server version"
                )
            previous_ids = ids
            yield records
            if not self._has_more(body, len(records)):
                return
            page += 1

    def _iter_details(self, paths: Iterable[tuple[str, str]]) -> Iterator[dict]:
        """Fetch detail objects on the worker pool, keeping at most 2 x concurrency in flight."""
        executor = self._detail_executor()
        limit = 2 * self._concurrency
        in_flight: set[Future[dict | None]] = set()
        try:
            for path, label in paths:
                in_flight.add(executor.submit(self._get_detail, path, label))
                if len(in_flight) >= limit:
                    done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                    yield from _finished_details(done)
            while in_flight:
                done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                yield from _finished_details(done)
        finally:
            for future in in_flight:
                future.cancel()

    def _get_detail(self, path: str, label: str) -> dict | None:
        """One detail fetch; None (with a warning) when the object vanished after being listed."""
        body = self._api("GET", path, not_found_ok=True)
        if body is None:
            logger.warning(
                "Sandfly server %s: %s no longer exists (GET %s answered 404); skipping it",
                self._base_url,
                label,
                path,
            )
            return None
        if not isinstance(body, dict):
            raise self._shape_error("GET", path, "a JSON object")
        return body

    def _detail_executor(self) -> ThreadPoolExecutor:
        """The shared worker pool, created on first use so threads (and their sessions) are reused."""
        with self._lock:
            if self._closed:
                raise SandflyError(
                    f"the client for Sandfly server {self._base_url} is closed; create a new one"
                )
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self._concurrency, thread_name_prefix="sandfly"
                )
            return self._executor

    # ----------------------------------------------------------------- paging helpers

    def _page_records(self, method: str, path: str, body: Any) -> list[dict]:
        """The `data` list of a ScrollingResponse, or a clear error if the reply has another shape."""
        records = body.get("data") if isinstance(body, dict) else None
        if not isinstance(records, list):
            raise self._shape_error(method, path, "a JSON object with a 'data' list")
        return records

    def _has_more(self, body: dict, count: int) -> bool:
        """Follow more_results; if a server omits it, a full page means there may be more."""
        more = body.get("more_results")
        if isinstance(more, bool):
            return more
        return count >= self._page_size

    def _shape_error(self, method: str, path: str, expected: str) -> SandflyRequestError:
        return SandflyRequestError(
            f"Sandfly server {self._base_url} answered {method} {path} with an unexpected body "
            f"(expected {expected}); check that SANDFLY_SERVER_URL points at a Sandfly v4 API"
        )

    # ----------------------------------------------------------------- authentication

    def _api(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json_body: Any = None,
        not_found_ok: bool = False,
    ) -> Any:
        """One authenticated call: renew the token and retry once on 401, then map the status."""
        reply = self._exchange(method, path, params=params, json_body=json_body, bearer=self._access_token)
        if reply.status == 401:
            logger.info(
                "Sandfly server %s rejected the access token on %s %s; renewing it",
                self._base_url,
                method,
                path,
            )
            self._renew_after_401(reply.bearer)
            reply = self._exchange(
                method, path, params=params, json_body=json_body, bearer=self._access_token
            )
            if reply.status == 401:
                raise SandflyAuthError(
                    f"Sandfly server {self._base_url} keeps rejecting user {self._username!r} on "
                    f"{method} {path} even after a fresh login (HTTP 401: "
                    f"{_server_detail(reply.body) or 'no detail'}); check SANDFLY_USERNAME / "
                    "SANDFLY_PASSWORD and the user's roles"
                )
        return self._interpret(method, path, reply, not_found_ok=not_found_ok)

    def _interpret(self, method: str, path: str, reply: _Reply, *, not_found_ok: bool) -> Any:
        """Map a final status to a value or to the matching SandflyError."""
        status = reply.status
        if 200 <= status < 300:
            return reply.body
        detail = _server_detail(reply.body) or "no detail"
        if status == 404 and not_found_ok:
            return None
        if status == 403:
            raise SandflyAuthError(
                f"Sandfly server {self._base_url} does not permit user {self._username!r} to call "
                f"{method} {path} (HTTP 403: {detail}); give the user a role that may read it "
                "(e.g. api_result_read), or check SANDFLY_USERNAME / SANDFLY_PASSWORD"
            )
        if status == 402:
            raise SandflyFeatureNotLicensed(
                f"The license of Sandfly server {self._base_url} does not allow {method} {path} "
                f"(HTTP 402: {detail}); add the ssh_hunter feature to the license or skip the SSH key assets"
            )
        raise SandflyRequestError(
            f"Sandfly server {self._base_url} refused {method} {path} (HTTP {status}: {detail}); "
            "this is not retried, fix the request or the server"
        )

    def _access_token(self) -> str:
        """A valid access token: log in on first use, refresh shortly before expiry."""
        with self._lock:
            if self._auth_failure is not None:
                raise SandflyAuthError(self._auth_failure)
            if self._tokens is None:
                self._login_locked()
            elif self._clock() >= self._tokens.refresh_at:
                logger.debug("Sandfly access token for %s is about to expire; refreshing", self._base_url)
                self._refresh_or_login_locked()
            assert self._tokens is not None
            return self._tokens.access

    def _renew_after_401(self, rejected: str | None) -> None:
        """Refresh (or log in again) unless another thread already replaced the rejected token."""
        with self._lock:
            if self._auth_failure is not None:
                raise SandflyAuthError(self._auth_failure)
            if self._tokens is not None and self._tokens.access != rejected:
                return
            self._refresh_or_login_locked()

    def _refresh_or_login_locked(self) -> None:
        """Try the refresh token first (cheaper, no password on the wire); fall back to a login."""
        if self._tokens is not None and self._tokens.refresh:
            tokens = self._refresh_locked(self._tokens.refresh)
            if tokens is not None:
                self._tokens = tokens
                return
        self._tokens = None
        self._login_locked()

    def _refresh_locked(self, refresh_token: str) -> _Tokens | None:
        """POST /auth/login_refresh with the refresh token as Bearer; None on any failure."""
        try:
            reply = self._exchange(
                "POST", "/auth/login_refresh", json_body={"full_details": True}, bearer=lambda: refresh_token
            )
        except SandflyRequestError as exc:
            logger.info("Sandfly token refresh at %s failed (%s); logging in again", self._base_url, exc)
            return None
        if reply.status == 200:
            tokens = self._tokens_from(reply.body)
            if tokens is not None:
                return tokens
        logger.info(
            "Sandfly token refresh at %s failed (HTTP %s); logging in again", self._base_url, reply.status
        )
        return None

    def _login_locked(self) -> None:
        """POST /auth/login; a rejection is remembered so no thread retries a wrong password."""
        body = {"username": self._username, "password": self._password, "full_details": True}
        reply = self._exchange("POST", "/auth/login", json_body=body, bearer=None)
        if reply.status in (400, 401, 403):
            detail = _server_detail(reply.body) or "no detail"
            self._auth_failure = (
                f"Sandfly server {self._base_url} rejected the login of user {self._username!r} "
                f"(HTTP {reply.status}: {detail}); check SANDFLY_USERNAME / SANDFLY_PASSWORD"
            )
            raise SandflyAuthError(self._auth_failure)
        tokens = self._tokens_from(reply.body) if reply.status == 200 else None
        if tokens is None:
            raise SandflyRequestError(
                f"Sandfly server {self._base_url} answered POST /auth/login with HTTP {reply.status} and no "
                f"access token ({_server_detail(reply.body) or 'no detail'}); check that SANDFLY_SERVER_URL "
                "points at a Sandfly v4 API"
            )
        logger.info("Logged in to Sandfly server %s as %r", self._base_url, self._username)
        self._tokens = tokens

    def _tokens_from(self, body: Any) -> _Tokens | None:
        """Read the token pair and decide when to refresh: JWT exp, else the expire date, else 5 min."""
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("access_token"), str)
            or not body["access_token"]
        ):
            return None
        access = body["access_token"]
        refresh = body.get("refresh_token") if isinstance(body.get("refresh_token"), str) else None
        now = self._clock()
        expires_at = jwt_expiry(access)
        if expires_at is None:
            expire_date = parse_timestamp(body.get("access_token_expire_date"))
            expires_at = expire_date.timestamp() if expire_date is not None else None
        if expires_at is None or expires_at <= now:
            # Unknown, or "already expired" at issue time (clock skew): assume a conservative
            # lifetime instead of refreshing on every call; a 401 still triggers a renewal.
            expires_at = now + DEFAULT_TOKEN_LIFETIME_SECONDS
        lifetime = max(0.0, expires_at - now)
        refresh_at = expires_at - min(MAX_REFRESH_MARGIN_SECONDS, 0.2 * lifetime)
        return _Tokens(access=access, refresh=refresh or None, refresh_at=refresh_at)

    def _logout(self, access_token: str) -> None:
        """DELETE /auth/logout once, so the session does not linger on the server; errors are ignored."""
        try:
            self._session().delete(
                self._base_url + "/auth/logout",
                headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
                timeout=min(self._timeout, 5.0),
                verify=self._verify,
            )
        except requests.exceptions.RequestException as exc:
            logger.debug("Sandfly logout at %s failed (%s); ignoring", self._base_url, type(exc).__name__)

    # ----------------------------------------------------------------- transport and retries

    def _exchange(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json_body: Any = None,
        bearer: Callable[[], str] | None,
    ) -> _Reply:
        """Send a request, retrying transient failures; return the first non-retryable reply.

        Retried: connection errors and drops mid-body, timeouts, 429 (honouring Retry-After),
        500/502/503/504 and 2xx bodies that are not valid JSON. The bearer is fetched per attempt
        so a long backoff cannot leave us sending an expired token.
        """
        attempts = self._max_retries + 1
        problem = "no attempt made"
        for attempt in range(attempts):
            token = bearer() if bearer is not None else None
            delay: float
            try:
                response = self._send(method, path, params=params, json_body=json_body, token=token)
            except requests.exceptions.SSLError as exc:
                if _is_certificate_failure(exc):
                    raise self._tls_error(exc) from None
                problem, delay = f"TLS error ({type(exc).__name__})", self._backoff(attempt)
            except (
                requests.exceptions.Timeout,
                requests.exceptions.ConnectionError,
                requests.exceptions.ChunkedEncodingError,
            ) as exc:
                problem, delay = _transport_problem(exc), self._backoff(attempt)
            else:
                status = response.status_code
                if status in RETRYABLE_STATUSES:
                    body = _json_or_none(response)
                    problem = f"HTTP {status}: {_server_detail(body, response.text) or 'no detail'}"
                    delay = self._retry_after(response)
                    if delay is None:
                        delay = self._backoff(attempt)
                elif 200 <= status < 300:
                    try:
                        return _Reply(status, response.json(), token)
                    except ValueError:
                        problem, delay = f"HTTP {status} with a malformed JSON body", self._backoff(attempt)
                else:
                    return _Reply(status, _json_or_none(response), token)
            if attempt + 1 < attempts:
                logger.warning(
                    "Sandfly server %s: %s %s failed (%s); retry %d of %d in %.2fs",
                    self._base_url,
                    method,
                    path,
                    problem,
                    attempt + 1,
                    self._max_retries,
                    delay,
                )
                self._sleep(delay)
        raise SandflyRequestError(
            f"Sandfly server {self._base_url}: {method} {path} failed after {attempts} attempts; last error: "
            f"{problem}. Check that the server is up and reachable (SANDFLY_SERVER_URL)"
        )

    def _send(
        self, method: str, path: str, *, params: dict[str, str] | None, json_body: Any, token: str | None
    ) -> requests.Response:
        """One HTTP request on this thread's session; the body is read fully (no streaming)."""
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self._session().request(
            method,
            self._base_url + path,
            params=params,
            json=json_body,
            headers=headers,
            timeout=self._timeout,
            verify=self._verify,
        )

    def _session(self) -> requests.Session:
        """This thread's Session: Sessions are not guaranteed thread-safe, but each keeps its pool."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = True
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter: uniform(0, min(max, base * 2**attempt))."""
        ceiling = min(self._backoff_max, self._backoff_base * (2**attempt))
        return self._random.uniform(0.0, ceiling)

    def _retry_after(self, response: requests.Response) -> float | None:
        """Seconds to wait from a Retry-After header (seconds or HTTP date), capped at backoff_max."""
        value = response.headers.get("Retry-After")
        if not value:
            return None
        value = value.strip()
        try:
            seconds = float(value)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            seconds = when.timestamp() - self._clock()
        return min(max(0.0, seconds), self._backoff_max)

    def _checked_verify(self, verify: bool | str) -> bool | str:
        """Validate the TLS setting and warn once when verification is off."""
        if isinstance(verify, str):
            if not Path(verify).is_file():
                raise SandflyConfigError(
                    f"SANDFLY_CA_BUNDLE {verify!r} is not a readable file; point it at the PEM certificate "
                    f"(or CA) of the Sandfly server {self._base_url}"
                )
            return verify
        if not verify and self._base_url.startswith("https://"):
            logger.warning(
                "TLS certificate verification is OFF for Sandfly server %s (SANDFLY_VERIFY_SSL=false); "
                "set SANDFLY_CA_BUNDLE to the server's certificate instead",
                self._base_url,
            )
            host = urlsplit(self._base_url).hostname or ""
            warnings.filterwarnings(
                "ignore",
                message=re.escape(f"Unverified HTTPS request is being made to host '{host}'"),
                category=InsecureRequestWarning,
            )
        return bool(verify)

    def _tls_error(self, exc: requests.exceptions.SSLError) -> SandflyConfigError:
        """A trust failure is a configuration problem: say which settings fix it."""
        return SandflyConfigError(
            f"TLS certificate verification failed for Sandfly server {self._base_url} "
            f"({_short_reason(exc)}); set SANDFLY_CA_BUNDLE to the server's certificate (PEM), "
            "or as a last resort SANDFLY_VERIFY_SSL=false"
        )


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise SandflyConfigError(message)


def _transport_problem(exc: requests.exceptions.RequestException) -> str:
    """What went wrong on the wire, in words (never the exception text: it may quote the request)."""
    name = type(exc).__name__
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return f"the connection dropped in the middle of the response ({name})"
    if isinstance(exc, requests.exceptions.Timeout):
        return f"no answer within the request timeout ({name})"
    return f"the connection failed or was closed ({name})"


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _finished_details(done: set[Future[dict | None]]) -> Iterator[dict]:
    for future in done:
        detail = future.result()
        if detail is not None:
            yield detail


def _is_certificate_failure(exc: requests.exceptions.SSLError) -> bool:
    """True for trust problems (unknown CA, hostname mismatch), which no retry can fix."""
    text = str(exc).lower()
    return "certificate" in text or "hostname" in text


def _short_reason(exc: Exception) -> str:
    text = str(exc)
    marker = "certificate verify failed"
    index = text.lower().find(marker)
    if index >= 0:
        end = text.find(")", index)
        return text[index : end if end > 0 else index + 120]
    return text[:200]
