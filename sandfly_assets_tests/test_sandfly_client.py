"""Unit tests of SandflyClient against mocked HTTP (`responses`): payloads, auth, retries, paging."""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from sandfly_assets.sandfly_client import (
    SandflyAuthError,
    SandflyClient,
    SandflyConfigError,
    SandflyError,
    SandflyFeatureNotLicensed,
    SandflyLicense,
    SandflyLicenseError,
    SandflyRequestError,
    format_timestamp,
    jwt_expiry,
    parse_timestamp,
)

SERVER = "https://sandfly.test/v4"
USER = "siem_api"
PASSWORD = "pw-Secret-42!"
NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def make_jwt(exp: float | None, marker: str) -> str:
    """A JWT-shaped token (unsigned) whose payload carries `exp` and a marker to tell tokens apart."""

    def part(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    claims: dict = {"sub": USER, "jti": marker}
    if exp is not None:
        claims["exp"] = exp
    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.sig-{marker}"


ACCESS_1 = make_jwt(NOW + 1800, "access-1")
REFRESH_1 = make_jwt(NOW + 86400, "refresh-1")
ACCESS_2 = make_jwt(NOW + 3600, "access-2")
REFRESH_2 = make_jwt(NOW + 90000, "refresh-2")
ACCESS_3 = make_jwt(NOW + 5400, "access-3")
SECRETS = (PASSWORD, ACCESS_1, REFRESH_1, ACCESS_2, REFRESH_2, ACCESS_3)


class FakeClock:
    """Injected wall clock: tests move time forward explicitly."""

    def __init__(self, start: float = NOW) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


class RecordingSleep:
    """Injected sleep: records the requested delays and returns at once."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


class MaxJitter:
    """Replaces the client's random source so full jitter always picks the ceiling."""

    def uniform(self, low: float, high: float) -> float:
        return high


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleeps() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def make_client(clock: FakeClock, sleeps: RecordingSleep):
    """Factory for clients wired to the fake clock and sleep, with deterministic (max) jitter."""

    def build(server_url: str = SERVER, **kwargs) -> SandflyClient:
        client = SandflyClient(server_url, USER, PASSWORD, sleep=sleeps, clock=clock, **kwargs)
        client._random = MaxJitter()
        return client

    return build


def add_login(rsps, access: str = ACCESS_1, refresh: str = REFRESH_1, status: int = 200, **extra) -> None:
    if status == 200:
        rsps.add(
            responses.POST,
            f"{SERVER}/auth/login",
            json={"access_token": access, "refresh_token": refresh, **extra},
        )
    else:
        rsps.add(
            responses.POST,
            f"{SERVER}/auth/login",
            status=status,
            json={"status": status, "title": "Unauthorized", "detail": "authentication failed", "data": ""},
        )


def add_refresh(rsps, access: str = ACCESS_2, refresh: str = REFRESH_2, status: int = 200) -> None:
    if status == 200:
        rsps.add(
            responses.POST,
            f"{SERVER}/auth/login_refresh",
            json={"access_token": access, "refresh_token": refresh},
        )
    else:
        rsps.add(
            responses.POST,
            f"{SERVER}/auth/login_refresh",
            status=status,
            json={"status": status, "title": "Unauthorized", "detail": "token expired", "data": ""},
        )


def error_body(status: int, detail: str) -> dict:
    return {"status": status, "title": "Error", "detail": detail, "data": ""}


def calls_to(rsps, method: str, path: str) -> list:
    return [
        c for c in rsps.calls if c.request.method == method and urlsplit(c.request.url).path == f"/v4{path}"
    ]


def bearer(call) -> str | None:
    return call.request.headers.get("Authorization")


def body_of(call) -> dict:
    return json.loads(call.request.body)


def query_of(call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def result(seq, status: str = "alert") -> dict:
    return {"id": str(seq), "sequence_id": seq, "data": {"status": status}}


# ---------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    "url",
    [
        "sandfly.example.com/v4",
        "ftp://sandfly.example.com/v4",
        "https://sandfly.example.com",
        "https://sandfly.example.com/v3",
        "https:///v4",
        "",
    ],
)
def test_server_url_must_be_http_and_end_in_v4(url: str, rsps) -> None:
    with pytest.raises(SandflyConfigError) as caught:
        SandflyClient(url, USER, PASSWORD)
    assert "SANDFLY_SERVER_URL must" in str(caught.value)
    assert "e.g. https://sandfly.example.com/v4" in str(caught.value)
    assert len(rsps.calls) == 0


def test_server_url_error_message_shows_the_fix_and_the_value() -> None:
    with pytest.raises(SandflyConfigError) as caught:
        SandflyClient("https://sandfly.example.com/api", USER, PASSWORD)
    assert str(caught.value) == (
        "SANDFLY_SERVER_URL must end in /v4, e.g. https://sandfly.example.com/v4 "
        "(got 'https://sandfly.example.com/api')"
    )


def test_trailing_slash_is_accepted_and_removed() -> None:
    client = SandflyClient("https://sandfly.example.com:8443/v4/", USER, PASSWORD)
    assert client.server_url == "https://sandfly.example.com:8443/v4"


def test_credentials_in_url_are_rejected_without_echoing_them() -> None:
    with pytest.raises(SandflyConfigError) as caught:
        SandflyClient(f"https://{USER}:{PASSWORD}@sandfly.example.com/v4", USER, PASSWORD)
    assert PASSWORD not in str(caught.value)
    assert "SANDFLY_USERNAME and SANDFLY_PASSWORD" in str(caught.value)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"page_size": 0}, "page_size must be at least 1 (got 0)"),
        ({"concurrency": 0}, "concurrency must be at least 1 (got 0)"),
        ({"timeout_seconds": 0}, "timeout_seconds must be positive (got 0)"),
        ({"max_retries": -1}, "max_retries must be 0 or more (got -1)"),
    ],
)
def test_numeric_settings_are_validated(kwargs: dict, expected: str) -> None:
    with pytest.raises(SandflyConfigError) as caught:
        SandflyClient(SERVER, USER, PASSWORD, **kwargs)
    assert str(caught.value) == expected


def test_empty_username_or_password_names_the_variable() -> None:
    with pytest.raises(SandflyConfigError, match="SANDFLY_USERNAME"):
        SandflyClient(SERVER, "", PASSWORD)
    with pytest.raises(SandflyConfigError, match="SANDFLY_PASSWORD"):
        SandflyClient(SERVER, USER, "")


def test_missing_ca_bundle_file_names_the_variable(tmp_path) -> None:
    missing = str(tmp_path / "nope.pem")
    with pytest.raises(SandflyConfigError) as caught:
        SandflyClient(SERVER, USER, PASSWORD, verify=missing)
    assert str(caught.value).startswith(f"SANDFLY_CA_BUNDLE {missing!r} is not a readable file")


def test_ca_bundle_path_is_passed_as_verify(rsps, make_client, tmp_path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not parsed by responses")
    add_login(rsps)
    rsps.add(responses.GET, f"{SERVER}/results/getMaxID", json=5)
    client = make_client(verify=str(bundle))
    assert client.get_max_result_id() == 5
    assert [c.request.req_kwargs["verify"] for c in rsps.calls] == [str(bundle), str(bundle)]


def test_verify_off_logs_exactly_one_warning(caplog, rsps, make_client) -> None:
    caplog.set_level(logging.WARNING, logger="sandfly_assets.sandfly_client")
    add_login(rsps)
    rsps.add(responses.GET, f"{SERVER}/results/getMaxID", json=1)
    client = make_client(verify=False)
    client.get_max_result_id()
    client.get_max_result_id()
    warnings_ = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings_ == [
        f"TLS certificate verification is OFF for Sandfly server {SERVER} (SANDFLY_VERIFY_SSL=false); "
        "set SANDFLY_CA_BUNDLE to the server's certificate instead"
    ]
    assert {c.request.req_kwargs["verify"] for c in rsps.calls} == {False}


def test_verify_off_on_plain_http_logs_nothing(caplog) -> None:
    caplog.set_level(logging.WARNING, logger="sandfly_assets.sandfly_client")
    SandflyClient("http://127.0.0.1:8080/v4", USER, PASSWORD, verify=False)
    assert caplog.records == []


def test_certificate_failure_is_a_clear_config_error_without_retry(rsps, make_client, sleeps) -> None:
    failure = requests.exceptions.SSLError(
        "HTTPSConnectionPool(host='sandfly.test', port=443): Max retries exceeded (Caused by "
        "SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
        "self-signed certificate (_ssl.c:1006)')))"
    )
    rsps.add(responses.POST, f"{SERVER}/auth/login", body=failure)
    with pytest.raises(SandflyConfigError) as caught:
        make_client().get_max_result_id()
    assert str(caught.value) == (
        f"TLS certificate verification failed for Sandfly server {SERVER} (certificate verify failed: "
        "self-signed certificate (_ssl.c:1006); set SANDFLY_CA_BUNDLE to the server's certificate (PEM), "
        "or as a last resort SANDFLY_VERIFY_SSL=false"
    )
    assert len(rsps.calls) == 1
    assert sleeps.calls == []


# ---------------------------------------------------------------------------- authentication


def test_login_payload_and_bearer_header(rsps, make_client) -> None:
    add_login(rsps)
    rsps.add(responses.GET, f"{SERVER}/results/getMaxID", json=88497)
    assert make_client().get_max_result_id() == 88497
    login, data = rsps.calls
    assert body_of(login) == {"username": USER, "password": PASSWORD, "full_details": True}
    assert bearer(login) is None
    assert login.request.headers["Content-Type"] == "application/json"
    assert bearer(data) == f"Bearer {ACCESS_1}"
    assert data.request.headers["Accept"] == "application/json"


def test_one_login_is_reused_for_many_calls(rsps, make_client) -> None:
    add_login(rsps)
    rsps.add(responses.GET, f"{SERVER}/results/getMaxID", json=7)
    client = make_client()
    assert [client.get_max_result_id() for _ in range(5)] == [7, 7, 7, 7, 7]
    assert len(calls_to(rsps, "POST", "/auth/login")) == 1
    assert [bearer(c) for c in calls_to(rsps, "GET", "/results/getMaxID")] == [f"Bearer {ACCESS_1}"] * 5


def test_refreshes_shortly_before_jwt_expiry(rsps, make_client, clock) -> None:
    add_login(rsps)  # ACCESS_1 expires at NOW + 1800: refresh from NOW + 1740 (60 s margin)
    add_refresh(rsps)
    rsps.add(responses.GET, f"{SERVER}/results/getMaxID", json=1)
    client = make_client()
    client.get_max_result_id()
    clock.now = NOW + 1739
    client.get_max_result_id()
    assert calls_to(rsps, "POST", "/auth/login_refresh") == []
    clock.now = NOW + 1740
    client.get_max_result_id()
    (refresh,) = calls_to(rsps, "POST", "/auth/login_refresh")
    assert bearer(refresh) == f"Bearer {REFRESH_1}"
    assert body_of(refresh) == {"full_details": True}
    assert [bearer(c) for c in calls_to(rsps, "GET", "/results/getMaxID")] == [
        f"Bearer {ACCESS_1}",
        f"Bearer {ACCESS_1}",
        f"Bearer {ACCESS_2}",
    ]
    assert len(calls_to(rsps, "POST", "/auth/login")) == 1


def test_refresh_when_clock_is_far_past_exp(rsps, make_client, clock) -> None:
    add_login(rsps)
    add_refresh(rsps)
    rsps.add(responses.GET, f"{SERVER}/results/getMaxID", json=1)
    client = make_client()
    client.get_max_result_id()
    clock.now = NOW + 5000  # ACCESS_1 expired at NOW + 1800
    client.get_max_result_id()
    assert [(urlsplit(c.request.url).path, bearer(c)) for c in rsps.calls] == [
        ("/v4/auth/login", None),
        ("/v4/results/getMaxID", f"Bearer {ACCESS_1}"),
        ("/v4/auth/login_refresh", f"Bearer {REFRESH_1}"),
        ("/v4/results/getMaxID", f"Bearer {ACCESS_2}"),
    ]


def test_token_expired_at_issue_time_is_not_refreshed_in_a_loop(rsps, make_client, clock) -> None:
    # A client clock ahead of the server's makes a fresh token look expired: assume 5 minutes.
    add_login(rsps, access=make_jwt(NOW - 10, "skewed"))
    add_refresh(rsps)
    rsps.add(responses.GET, f"{SERVER}/results/getMaxID", json=1)
    client = make_client()
    client.get_max_result_id()
    client.get_max_result_id()
    assert calls_to(rsps, "POST", "/auth/login_refresh") == []
    clock.now = NOW + 240
    client.get_max_result_id()
    assert len(calls_to(rsps, "POST", "/auth/login_refresh")) == 1


def test_short_lived_token_refreshes_at_80_percent(rsps, make_client, clock) -> None:
    add_login(rsps, access=make_jwt(NOW + 10, "short"))
    add_refresh(rsps)
    rsps.add(responses.GET, f"{SERVER}/results/getMaxID", json=1)
    client = make_client()
    client.get_max_result_id()
    clock.now = NOW + 7.9
    client.get_max_result_id()
    assert calls_to(rsps, "POST", "/auth/login_refresh") == []
    clock.now = NOW + 8.0
    client.get_max_result_id()
    assert len(calls_to(rsps, "POST", "/auth/login_refresh")) == 1


def test_opaque_token_uses_access_token_expire_date(rsps, make_client, clock) -> None:
    add_login(rsps, access="opaque-1", access_token_expire_date="2027-01-15T08:30:00Z")  # NOW + 1800
    add_refresh(rsps, access="opaque-2")
    rsps.add(responses.GET, f"{SERVER}/results/getMaxID", json=1)
    client = make_client()
    client.get_max_result_id()
    clock.now = NOW + 1739
    client.get_max_result_id()
    clock.now = NOW + 1740
    client.get_max_result_id()
    assert [bearer(c) for c in calls_to(rsps, "GET", "/results/getMaxID")] == [
        "Bearer opaque-1",
        "Bearer opaque-1",
        "Bearer opaque-2",
    ]


def test_opaque_token_without_expiry_assumes_five_minutes(rsps, make_client, clock) -> None:
    add_login(rsps, access="opaque-1")
    add_refresh(rsps, access="opaque-2")
    rsps.add(responses.GET, f"{SERVER}/results/getMaxID", json=1)
    client = make_client()
    client.get_max_result_id()
    clock.now = NOW + 239
    client.get_max_result_id()
    clock.now = NOW + 240
    client.get_max_result_id()
    assert [bearer(c) for c in calls_to(rsps, "GET", "/results/getMaxID")] == [
        "Bearer opaque-1",
        "Bearer opaque-1",
        "Bearer opaque-2",
    ]


def test_401_refreshes_and_retries_once(rsps, make_client, sleeps) -> None:
    add_login(rsps)
    add_refresh(rsps)
    rsps.add(
        responses.GET, f"{SERVER}/results/getMaxID", status=401, json=error_body(401, "authentication failed")
    )
    rsps.add(responses.GET, f"{SERVER}/results/getMaxID", json=42)
    assert make_client().get_max_result_id() == 42
    assert [(c.request.method, urlsplit(c.request.url).path, bearer(c)) for c in rsps.calls] == [
        ("POST", "/v4/auth/login", None),
        ("GET", "/v4/results/getMaxID", f"Bearer {ACCESS_1}"),
        ("POST", "/v4/auth/login_refresh", f"Bearer {REFRESH_1}"),
        ("GET", "/v4/results/getMaxID", f"Bearer {ACCESS_2}"),
    ]
    assert sleeps.calls == []


def test_failed_refresh_falls_back_to_login(rsps, make_client) -> None:
    add_login(rsps)
    add_login(rsps, access=ACCESS_3)
    add_refresh(rsps, status=401)
    rsps.add(responses.GET, f"{SERVER}/results/getMaxID", status=401, json=error_body(401, "token revoked"))
    rsps.add(responses.GET, f"{SERVER}/results/getMaxID", json=9)
    assert make_client().get_max_result_id() == 9
    assert [(urlsplit(c.request.url).path, bearer(c)) for c in rsps.calls] == [
        ("/v4/auth/login", None),
        ("/v4/results/getMaxID", f"Bearer {ACCESS_1}"),
        ("/v4/auth/login_refresh", f"Bearer {REFRESH_1}"),
        ("/v4/auth/login", None),
        ("/v4/results/getMaxID", f"Bearer {ACCESS_3}"),
    ]


def test_persistent_401_raises_auth_error_after_one_renewal(rsps, make_client) -> None:
    add_login(rsps)
    add_refresh(rsps)
    rsps.add(
        responses.GET, f"{SERVER}/results/getMaxID", status=401, json=error_body(401, "authentication failed")
    )
    with pytest.raises(SandflyAuthError) as caught:
        make_client().get_max_result_id()
    assert str(caught.value) == (
        f"Sandfly server {SERVER} keeps rejecting user 'siem_api' on GET /results/getMaxID even after a "
        "fresh login (HTTP 401: authentication failed); check SANDFLY_USERNAME / SANDFLY_PASSWORD and the "
        "user's roles"
    )
    assert len(calls_to(rsps, "GET", "/results/getMaxID")) == 2


def test_wrong_password_fails_fast_with_one_login(rsps, make_client, sleeps) -> None:
    add_login(rsps, status=401)
    client = make_client()
    with pytest.raises(SandflyAuthError) as caught:
        client.get_max_result_id()
    message = str(caught.value)
    assert message == (
        f"Sandfly server {SERVER} rejected the login of user 'siem_api' (HTTP 401: authentication failed); "
        "check SANDFLY_USERNAME / SANDFLY_PASSWORD"
    )
    assert PASSWORD not in message
    # Later calls (any thread) fail the same way without hammering the login endpoint.
    with pytest.raises(SandflyAuthError):
        list(client.iter_result_pages(include_pass=True))
    assert len(calls_to(rsps, "POST", "/auth/login")) == 1
    assert sleeps.calls == []


def test_password_changed_mid_run_makes_at_most_two_logins(rsps, make_client) -> None:
    add_login(rsps)
    add_login(rsps, status=401)
    add_refresh(rsps, status=401)
    rsps.add(responses.GET, f"{SERVER}/results/getMaxID", status=401, json=error_body(401, "session revoked"))
    client = make_client()
    with pytest.raises(SandflyAuthError, match="rejected the login of user 'siem_api'"):
        client.get_max_result_id()
    with pytest.raises(SandflyAuthError):
        client.get_max_result_id()
    assert len(calls_to(rsps, "POST", "/auth/login")) == 2
    assert len(calls_to(rsps, "GET", "/results/getMaxID")) == 1


def test_403_on_login_is_an_auth_error(rsps, make_client) -> None:
    rsps.add(
        responses.POST, f"{SERVER}/auth/login", status=403, json=error_body(403, "authentication failed")
    )
    with pytest.raises(SandflyAuthError) as caught:
        make_client().get_license()
    assert str(caught.value) == (
        f"Sandfly server {SERVER} rejected the login of user 'siem_api' (HTTP 403: authentication failed); "
        "check SANDFLY_USERNAME / SANDFLY_PASSWORD"
    )


def test_403_on_data_call_is_an_auth_error_without_retry(rsps, make_client, sleeps) -> None:
    add_login(rsps)
    rsps.add(responses.GET, f"{SERVER}/license", status=403, json=error_body(403, "User is not permitted"))
    with pytest.raises(SandflyAuthError) as caught:
        make_client().get_license()
    assert str(caught.value) == (
        f"Sandfly server {SERVER} does not permit user 'siem_api' to call GET /license (HTTP 403: User is "
        "not permitted); give the user a role that may read it (e.g. api_result_read), or check "
        "SANDFLY_USERNAME / SANDFLY_PASSWORD"
    )
    assert len(calls_to(rsps, "GET", "/license")) == 1
    assert sleeps.calls == []


def test_login_without_token_is_a_request_error(rsps, make_client) -> None:
    rsps.add(responses.POST, f"{SERVER}/auth/login", json={"message": "welcome"})
    with pytest.raises(SandflyRequestError) as caught:
        make_client().get_max_result_id()
    assert str(caught.value) == (
        f"Sandfly server {SERVER} answered POST /auth/login with HTTP 200 and no access token (no detail); "
        "check that SANDFLY_SERVER_URL points at a Sandfly v4 API"
    )


def test_concurrent_401s_trigger_a_single_refresh(rsps, make_client) -> None:
    add_login(rsps)
    add_refresh(rsps)

    def host_detail(request):
        if request.headers["Authorization"] == f"Bearer {ACCESS_1}":
            return 401, {}, json.dumps(error_body(401, "authentication failed"))
        host_id = request.url.rsplit("/", 1)[1]
        return 200, {}, json.dumps({"host_id": host_id})

    rsps.add_callback(responses.GET, f"{SERVER}/hosts/h1", callback=host_detail)
    for index in range(2, 9):
        rsps.add_callback(responses.GET, f"{SERVER}/hosts/h{index}", callback=host_detail)
    client = make_client(concurrency=4)
    got = sorted(d["host_id"] for d in client.iter_host_details([f"h{i}" for i in range(1, 9)]))
    assert got == [f"h{i}" for i in range(1, 9)]
    assert len(calls_to(rsps, "POST", "/auth/login_refresh")) == 1
    assert len(calls_to(rsps, "POST", "/auth/login")) == 1


def test_close_logs_out_and_refuses_further_detail_fetches(rsps, make_client) -> None:
    add_login(rsps)
    rsps.add(responses.GET, f"{SERVER}/results/getMaxID", json=3)
    rsps.add(responses.DELETE, f"{SERVER}/auth/logout", json={})
    with make_client() as client:
        client.get_max_result_id()
    (logout,) = calls_to(rsps, "DELETE", "/auth/logout")
    assert bearer(logout) == f"Bearer {ACCESS_1}"
    client.close()  # idempotent
    assert len(calls_to(rsps, "DELETE", "/auth/logout")) == 1
    with pytest.raises(SandflyError, match="is closed"):
        list(client.iter_host_details(["h1"]))


def test_close_without_login_makes_no_call(rsps, make_client) -> None:
    make_client().close()
    assert len(rsps.calls) == 0


# ---------------------------------------------------------------------------- retries


def test_429_honours_retry_after_seconds(rsps, make_client, sleeps) -> None:
    add_login(rsps)
    rsps.add(responses.GET, f"{SERVER}/results/getMaxID", status=429, headers={"Retry-After": "7"})
    rsps.add(responses.GET, f"{SERVER}/results/getMaxID", status=429, headers={"Retry-After": "0"})
    rsps.add(responses.GET, f"{SERVER}/results/getMaxID", json=11)
    assert make_client().get_max_result_id() == 11
    assert sleeps.calls == [7.0, 0.0]


def test_429_honours_retry_after_http_date(rsps, make_client, sleeps) -> None:
    add_login(rsps)
    # NOW is 2027-01-15T08:00:00Z; the server asks to wait until 08:00:12.
    rsps.add(
        responses.GET,
        f"{SERVER}/results/getMaxID",
        status=429,
        headers={"Retry-After": "Fri, 15 Jan 2027 08:00:12 GMT"},
    )
    rsps.add(responses.GET, f"{SERVER}/results/getMaxID", json=1)
    make_client().get_max_result_id()
    assert sleeps.calls == [12.0]


def test_retry_after_is_capped_at_backoff_max(rsps, make_client, sleeps) -> None:
    add_login(rsps)
    rsps.add(responses.GET, f"{SERVER}/results/getMaxID", status=429, headers={"Retry-After": "3600"})
    rsps.add(responses.GET, f"{SERVER}/results/getMaxID", json=1)
    make_client(backoff_max_seconds=20).get_max_result_id()
    assert sleeps.calls == [20.0]


def test_429_without_retry_after_uses_backoff(rsps, make_client, sleeps) -> None:
    add_login(rsps)
    rsps.add(responses.GET, f"{SERVER}/results/getMaxID", status=429)
    rsps.add(responses.GET, f"{SERVER}/results/getMaxID", json=1)
    make_client().get_max_result_id()
    assert sleeps.calls == [0.5]


def test_5xx_statuses_are_retried_with_exponential_backoff(rsps, make_client, sleeps) -> None:
    add_login(rsps)
    for status in (500, 502, 503, 504):
        rsps.add(responses.GET, f"{SERVER}/results/getMaxID", status=status, json=error_body(status, "busy"))
    rsps.add(responses.GET, f"{SERVER}/results/getMaxID", json=5)
    assert make_client().get_max_result_id() == 5
    assert sleeps.calls == [0.5, 1.0, 2.0, 4.0]


def test_backoff_is_capped_and_jittered_within_the_ceiling(rsps, make_client, sleeps) -> None:
    add_login(rsps)
    rsps.add(responses.GET, f"{SERVER}/results/getMaxID", status=503)
    client = make_client(max_retries=5, backoff_base_seconds=1.0, backoff_max_seconds=4.0)
    with pytest.raises(SandflyRequestError):
        client.get_max_result_id()
    assert sleeps.calls == [1.0, 2.0, 4.0, 4.0, 4.0]

    jittered = RecordingSleep()
    real = SandflyClient(SERVER, USER, PASSWORD, sleep=jittered, clock=FakeClock(), max_retries=5)
    with pytest.raises(SandflyRequestError):
        real.get_max_result_id()
    ceilings = [0.5, 1.0, 2.0, 4.0, 8.0]
    assert len(jittered.calls) == 5
    assert all(0.0 <= got <= ceiling for got, ceiling in zip(jittered.calls, ceilings, strict=True))


def test_exhausted_retries_name_method_path_status_and_detail(rsps, make_client, sleeps) -> None:
    add_login(rsps)
    rsps.add(responses.POST, f"{SERVER}/results", status=503, json=error_body(503, "database is restarting"))
    client = make_client(max_retries=2)
    with pytest.raises(SandflyRequestError) as caught:
        list(client.iter_result_pages(include_pass=True))
    assert str(caught.value) == (
        f"Sandfly server {SERVER}: POST /results failed after 3 attempts; last error: HTTP 503: database "
        "is restarting. Check that the server is up and reachable (SANDFLY_SERVER_URL)"
    )
    assert len(calls_to(rsps, "POST", "/results")) == 3
    assert sleeps.calls == [0.5, 1.0]


def test_dropped_connections_and_timeouts_are_retried(rsps, make_client, sleeps) -> None:
    add_login(rsps)
    url = f"{SERVER}/results/getMaxID"
    rsps.add(responses.GET, url, body=requests.exceptions.ChunkedEncodingError("connection broken mid-body"))
    rsps.add(responses.GET, url, body=requests.exceptions.ConnectionError("connection reset by peer"))
    rsps.add(responses.GET, url, body=requests.exceptions.ReadTimeout("read timed out"))
    rsps.add(responses.GET, url, json=77)
    assert make_client().get_max_result_id() == 77
    assert sleeps.calls == [0.5, 1.0, 2.0]


def test_malformed_json_body_is_retried(rsps, make_client, sleeps) -> None:
    add_login(rsps)
    rsps.add(responses.POST, f"{SERVER}/results", body='{"more_results": false, "data": [{"sequ', status=200)
    rsps.add(
        responses.POST, f"{SERVER}/results", json={"more_results": False, "total": 1, "data": [result(1)]}
    )
    pages = list(make_client().iter_result_pages(include_pass=True))
    assert pages == [[result(1)]]
    assert sleeps.calls == [0.5]


def test_malformed_login_body_is_retried(rsps, make_client, sleeps) -> None:
    rsps.add(responses.POST, f"{SERVER}/auth/login", body="<html>gateway</html>", status=200)
    add_login(rsps)
    rsps.add(responses.GET, f"{SERVER}/results/getMaxID", json=2)
    assert make_client().get_max_result_id() == 2
    assert len(calls_to(rsps, "POST", "/auth/login")) == 2
    assert sleeps.calls == [0.5]


def test_400_is_not_retried_and_shows_server_detail(rsps, make_client, sleeps) -> None:
    add_login(rsps)
    rsps.add(
        responses.POST, f"{SERVER}/results", status=400, json=error_body(400, "unknown sort field 'Field'")
    )
    with pytest.raises(SandflyRequestError) as caught:
        list(make_client().iter_result_pages(include_pass=False))
    assert str(caught.value) == (
        f"Sandfly server {SERVER} refused POST /results (HTTP 400: unknown sort field 'Field'); "
        "this is not retried, fix the request or the server"
    )
    assert len(calls_to(rsps, "POST", "/results")) == 1
    assert sleeps.calls == []


def test_unexpected_body_shape_is_reported(rsps, make_client) -> None:
    add_login(rsps)
    rsps.add(responses.GET, f"{SERVER}/results/getMaxID", json={"max": 5})
    with pytest.raises(SandflyRequestError) as caught:
        make_client().get_max_result_id()
    assert str(caught.value) == (
        f"Sandfly server {SERVER} answered GET /results/getMaxID with an unexpected body (expected an "
        "integer); check that SANDFLY_SERVER_URL points at a Sandfly v4 API"
    )


@pytest.mark.parametrize(("body", "expected"), [(88497, 88497), ("88497", 88497), (0, 0)])
def test_max_result_id_accepts_int_or_numeric_string(rsps, make_client, body, expected) -> None:
    add_login(rsps)
    rsps.add(responses.GET, f"{SERVER}/results/getMaxID", json=body)
    assert make_client().get_max_result_id() == expected


# ---------------------------------------------------------------------------- results


def test_results_payload_without_pass_and_with_all_bounds(rsps, make_client) -> None:
    add_login(rsps)
    rsps.add(responses.POST, f"{SERVER}/results", json={"more_results": False, "total": 0, "data": []})
    client = make_client(page_size=500)
    pages = list(
        client.iter_result_pages(
            include_pass=False,
            after_sequence_id=88000,
            max_sequence_id=88497,
            end_time_from=datetime(2026, 12, 1, tzinfo=UTC),
            end_time_before=datetime(2026, 12, 2, tzinfo=UTC),
        )
    )
    assert pages == []
    (call,) = calls_to(rsps, "POST", "/results")
    assert body_of(call) == {
        "size": 500,
        "filter": {
            "items": [
                {"field": "sequence_id", "operator": ">", "value": 88000},
                {"field": "sequence_id", "operator": "<=", "value": 88497},
                {"field": "data.end_time", "operator": "onOrAfter", "value": "2026-12-01T00:00:00Z"},
                {"field": "data.end_time", "operator": "before", "value": "2026-12-02T00:00:00Z"},
                {"field": "data.status", "operator": "notEquals", "value": "pass"},
            ],
            "logicOperator": "and",
        },
        "sort": [{"field": "sequence_id", "sort": "asc"}],
        "summary": False,
    }
    assert bearer(call) == f"Bearer {ACCESS_1}"


def test_results_payload_with_pass_and_defaults(rsps, make_client) -> None:
    add_login(rsps)
    rsps.add(responses.POST, f"{SERVER}/results", json={"more_results": False, "total": 0, "data": []})
    list(make_client().iter_result_pages(include_pass=True, summary=True))
    (call,) = calls_to(rsps, "POST", "/results")
    assert body_of(call) == {
        "size": 999,
        "filter": {"items": [{"field": "sequence_id", "operator": ">", "value": 0}], "logicOperator": "and"},
        "sort": [{"field": "sequence_id", "sort": "asc"}],
        "summary": True,
    }
    assert "time_since" not in body_of(call)


def test_end_time_bounds_are_sent_in_utc(rsps, make_client) -> None:
    from datetime import timedelta, timezone

    add_login(rsps)
    rsps.add(responses.POST, f"{SERVER}/results", json={"more_results": False, "data": []})
    plus_two = timezone(timedelta(hours=2))
    list(
        make_client().iter_result_pages(
            include_pass=True,
            end_time_from=datetime(2026, 12, 1, 2, 0, tzinfo=plus_two),
            end_time_before=datetime(2026, 12, 1, 12, 30, 15, 250000, tzinfo=UTC),
        )
    )
    items = body_of(calls_to(rsps, "POST", "/results")[0])["filter"]["items"]
    assert items[1:] == [
        {"field": "data.end_time", "operator": "onOrAfter", "value": "2026-12-01T00:00:00Z"},
        {"field": "data.end_time", "operator": "before", "value": "2026-12-01T12:30:15.250000Z"},
    ]


def test_naive_end_time_is_refused(rsps, make_client) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        list(make_client().iter_result_pages(include_pass=True, end_time_from=datetime(2026, 12, 1)))
    assert len(rsps.calls) == 0


def test_keyset_paging_moves_the_cursor_and_stops_when_no_more(rsps, make_client) -> None:
    add_login(rsps)
    page_1 = [result(101), result("102"), result(105)]
    page_2 = [result(106), result(110)]
    rsps.add(responses.POST, f"{SERVER}/results", json={"more_results": True, "total": 3, "data": page_1})
    rsps.add(responses.POST, f"{SERVER}/results", json={"more_results": False, "total": 2, "data": page_2})
    pages = list(make_client(page_size=3).iter_result_pages(include_pass=False, after_sequence_id=100))
    assert pages == [page_1, page_2]  # records are yielded untouched ("102" stays a string)
    first, second = (body_of(c) for c in calls_to(rsps, "POST", "/results"))
    assert first["filter"]["items"] == [
        {"field": "sequence_id", "operator": ">", "value": 100},
        {"field": "data.status", "operator": "notEquals", "value": "pass"},
    ]
    assert second["filter"]["items"] == [
        {"field": "sequence_id", "operator": ">", "value": 105},
        {"field": "data.status", "operator": "notEquals", "value": "pass"},
    ]
    assert first["size"] == second["size"] == 3


def test_max_sequence_id_is_kept_on_every_page(rsps, make_client) -> None:
    add_login(rsps)
    rsps.add(responses.POST, f"{SERVER}/results", json={"more_results": True, "data": [result(1), result(2)]})
    rsps.add(responses.POST, f"{SERVER}/results", json={"more_results": False, "data": [result(3)]})
    pages = list(make_client(page_size=2).iter_result_pages(include_pass=True, max_sequence_id=3))
    assert [[r["sequence_id"] for r in page] for page in pages] == [[1, 2], [3]]
    assert [body_of(c)["filter"]["items"] for c in calls_to(rsps, "POST", "/results")] == [
        [
            {"field": "sequence_id", "operator": ">", "value": 0},
            {"field": "sequence_id", "operator": "<=", "value": 3},
        ],
        [
            {"field": "sequence_id", "operator": ">", "value": 2},
            {"field": "sequence_id", "operator": "<=", "value": 3},
        ],
    ]


def test_404_no_results_found_is_an_empty_stream(rsps, make_client, sleeps) -> None:
    add_login(rsps)
    rsps.add(responses.POST, f"{SERVER}/results", status=404, json=error_body(404, "No results found"))
    assert list(make_client().iter_result_pages(include_pass=False)) == []
    assert len(calls_to(rsps, "POST", "/results")) == 1
    assert sleeps.calls == []


def test_404_after_a_page_ends_the_stream(rsps, make_client) -> None:
    add_login(rsps)
    rsps.add(responses.POST, f"{SERVER}/results", json={"more_results": True, "data": [result(1)]})
    rsps.add(responses.POST, f"{SERVER}/results", status=404, json=error_body(404, "No results found"))
    assert list(make_client().iter_result_pages(include_pass=True)) == [[result(1)]]


def test_empty_page_stops_even_if_more_results_claims_more(rsps, make_client) -> None:
    add_login(rsps)
    rsps.add(responses.POST, f"{SERVER}/results", json={"more_results": True, "data": [result(1)]})
    rsps.add(responses.POST, f"{SERVER}/results", json={"more_results": True, "data": []})
    assert list(make_client().iter_result_pages(include_pass=True)) == [[result(1)]]
    assert len(calls_to(rsps, "POST", "/results")) == 2


def test_missing_more_results_continues_only_after_a_full_page(rsps, make_client) -> None:
    add_login(rsps)
    rsps.add(responses.POST, f"{SERVER}/results", json={"data": [result(1), result(2)]})
    rsps.add(responses.POST, f"{SERVER}/results", json={"data": [result(3)]})
    pages = list(make_client(page_size=2).iter_result_pages(include_pass=True))
    assert [[r["sequence_id"] for r in page] for page in pages] == [[1, 2], [3]]
    assert len(calls_to(rsps, "POST", "/results")) == 2


def test_server_ignoring_the_filter_is_detected_instead_of_looping(rsps, make_client) -> None:
    add_login(rsps)
    same_page = {"more_results": True, "data": [result(1), result(2)]}
    rsps.add(responses.POST, f"{SERVER}/results", json=same_page)
    with pytest.raises(SandflyRequestError) as caught:
        list(make_client(page_size=2).iter_result_pages(include_pass=True))
    assert str(caught.value) == (
        f"Sandfly server {SERVER} ignored the sequence_id filter on POST /results: got sequence_id 1 after 2 "
        "(asked for > 2, ascending); the server may not understand the documented filter dialect. Stopping "
        "instead of looping or skipping results; check the server version"
    )
    assert len(calls_to(rsps, "POST", "/results")) == 2


@pytest.mark.parametrize(
    ("records", "after", "maximum", "bad", "previous"),
    [
        ([result(5), result(4)], 0, None, 4, 5),  # descending inside a page
        ([result(5), result(5)], 0, None, 5, 5),  # duplicate
        ([result(3)], 3, None, 3, 3),  # not past the cursor
        ([result(8), result(12)], 7, 10, 12, 8),  # beyond the upper bound
    ],
)
def test_sequence_guard_rejects_bad_pages(rsps, make_client, records, after, maximum, bad, previous) -> None:
    add_login(rsps)
    rsps.add(responses.POST, f"{SERVER}/results", json={"more_results": False, "data": records})
    with pytest.raises(SandflyRequestError, match=f"got sequence_id {bad} after {previous} "):
        list(
            make_client().iter_result_pages(
                include_pass=True, after_sequence_id=after, max_sequence_id=maximum
            )
        )


def test_record_without_numeric_sequence_id_is_rejected(rsps, make_client) -> None:
    add_login(rsps)
    rsps.add(responses.POST, f"{SERVER}/results", json={"more_results": False, "data": [{"id": "x"}]})
    with pytest.raises(SandflyRequestError, match="records with an integer sequence_id"):
        list(make_client().iter_result_pages(include_pass=True))


def test_pages_stream_lazily(rsps, make_client) -> None:
    add_login(rsps)
    rsps.add(responses.POST, f"{SERVER}/results", json={"more_results": True, "data": [result(1)]})
    rsps.add(responses.POST, f"{SERVER}/results", json={"more_results": False, "data": [result(2)]})
    pages = make_client().iter_result_pages(include_pass=True)
    assert next(pages) == [result(1)]
    assert len(calls_to(rsps, "POST", "/results")) == 1
    assert next(pages) == [result(2)]
    assert len(calls_to(rsps, "POST", "/results")) == 2


# ---------------------------------------------------------------------------- hosts and SSH keys


def test_host_summary_pages_use_summary_size_and_page(rsps, make_client) -> None:
    add_login(rsps)
    rsps.add(
        responses.GET,
        f"{SERVER}/hosts",
        json={"more_results": True, "total": 2, "data": [{"host_id": "a"}, {"host_id": "b"}]},
    )
    rsps.add(
        responses.GET, f"{SERVER}/hosts", json={"more_results": False, "total": 1, "data": [{"host_id": "c"}]}
    )
    pages = list(make_client(page_size=2).iter_host_summary_pages())
    assert pages == [[{"host_id": "a"}, {"host_id": "b"}], [{"host_id": "c"}]]
    assert [query_of(c) for c in calls_to(rsps, "GET", "/hosts")] == [
        {"summary": ["true"], "size": ["2"], "page": ["1"]},
        {"summary": ["true"], "size": ["2"], "page": ["2"]},
    ]


def test_host_pages_stop_on_empty_page_and_404(rsps, make_client) -> None:
    add_login(rsps)
    rsps.add(responses.GET, f"{SERVER}/hosts", json={"more_results": True, "data": [{"host_id": "a"}]})
    rsps.add(responses.GET, f"{SERVER}/hosts", json={"more_results": True, "data": []})
    client = make_client()
    assert list(client.iter_host_summary_pages()) == [[{"host_id": "a"}]]
    rsps.replace(responses.GET, f"{SERVER}/hosts", status=404, json=error_body(404, "Hosts not found."))
    assert list(client.iter_host_summary_pages()) == []


def test_host_pages_detect_a_server_ignoring_page(rsps, make_client) -> None:
    add_login(rsps)
    rsps.add(responses.GET, f"{SERVER}/hosts", json={"more_results": True, "data": [{"host_id": "a"}]})
    with pytest.raises(
        SandflyRequestError, match=r"returned the same page twice for GET /hosts \(page 1 and 2\)"
    ):
        list(make_client().iter_host_summary_pages())


def test_host_details_are_fetched_and_deleted_hosts_skipped(rsps, make_client, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="sandfly_assets.sandfly_client")
    add_login(rsps)
    rsps.add(responses.GET, f"{SERVER}/hosts/aa11", json={"host_id": "aa11", "hostname": "192.0.2.1"})
    rsps.add(responses.GET, f"{SERVER}/hosts/gone", status=404, json=error_body(404, "Host not found."))
    rsps.add(responses.GET, f"{SERVER}/hosts/web%2001", json={"host_id": "web 01", "hostname": "192.0.2.3"})
    details = list(make_client().iter_host_details(["aa11", "gone", "web 01"]))
    assert sorted(d["host_id"] for d in details) == ["aa11", "web 01"]
    assert [r.getMessage() for r in caplog.records] == [
        f"Sandfly server {SERVER}: host gone no longer exists (GET /hosts/gone answered 404); skipping it"
    ]


def test_detail_fetches_run_concurrently_and_stay_bounded(rsps, make_client) -> None:
    add_login(rsps)
    concurrency = 4
    barrier = threading.Barrier(concurrency, timeout=10)
    lock = threading.Lock()
    active = {"now": 0, "peak": 0}

    def key_detail(request):
        with lock:
            active["now"] += 1
            active["peak"] = max(active["peak"], active["now"])
        barrier.wait()  # only passes when `concurrency` fetches run at the same time
        with lock:
            active["now"] -= 1
        key_id = int(request.url.rsplit("/", 1)[1])
        return 200, {}, json.dumps({"id": key_id})

    for key_id in range(1, 13):
        rsps.add_callback(responses.GET, f"{SERVER}/sshhunter/key/{key_id}", callback=key_detail)
    details = list(make_client(concurrency=concurrency).iter_ssh_key_details(range(1, 13)))
    assert sorted(d["id"] for d in details) == list(range(1, 13))
    assert active["peak"] == concurrency


def test_detail_ids_are_consumed_lazily(rsps, make_client) -> None:
    add_login(rsps)
    rsps.add(responses.GET, f"{SERVER}/sshhunter/key/1", json={"id": 1})
    for key_id in range(2, 101):
        rsps.add(responses.GET, f"{SERVER}/sshhunter/key/{key_id}", json={"id": key_id})
    consumed: list[int] = []

    def ids() -> Iterator[int]:
        for key_id in range(1, 101):
            consumed.append(key_id)
            yield key_id

    stream = make_client(concurrency=2).iter_ssh_key_details(ids())
    next(stream)
    assert len(consumed) == 4  # at most 2 x concurrency submitted before the first result
    assert len(list(stream)) == 99
    assert len(consumed) == 100


def test_detail_failure_propagates(rsps, make_client) -> None:
    add_login(rsps)
    rsps.add(responses.GET, f"{SERVER}/hosts/bad", status=500, json=error_body(500, "boom"))
    with pytest.raises(
        SandflyRequestError, match=r"GET /hosts/bad failed after 2 attempts; last error: HTTP 500: boom"
    ):
        list(make_client(max_retries=1).iter_host_details(["bad"]))


def test_ssh_key_summary_pages(rsps, make_client) -> None:
    add_login(rsps)
    rsps.add(
        responses.GET,
        f"{SERVER}/sshhunter/summary",
        json={"more_results": True, "data": [{"id": 1}, {"id": 2}]},
    )
    rsps.add(responses.GET, f"{SERVER}/sshhunter/summary", json={"more_results": False, "data": [{"id": 3}]})
    pages = list(make_client(page_size=2).iter_ssh_key_summary_pages())
    assert pages == [[{"id": 1}, {"id": 2}], [{"id": 3}]]
    assert [query_of(c) for c in calls_to(rsps, "GET", "/sshhunter/summary")] == [
        {"size": ["2"], "page": ["1"]},
        {"size": ["2"], "page": ["2"]},
    ]


def test_402_on_ssh_hunter_is_feature_not_licensed(rsps, make_client, sleeps) -> None:
    add_login(rsps)
    rsps.add(
        responses.GET,
        f"{SERVER}/sshhunter/summary",
        status=402,
        json=error_body(402, "Product license does not allow SSH Hunter features."),
    )
    with pytest.raises(SandflyFeatureNotLicensed) as caught:
        list(make_client().iter_ssh_key_summary_pages())
    assert str(caught.value) == (
        f"The license of Sandfly server {SERVER} does not allow GET /sshhunter/summary (HTTP 402: Product "
        "license does not allow SSH Hunter features.); add the ssh_hunter feature to the license or skip "
        "the SSH key assets"
    )
    assert len(calls_to(rsps, "GET", "/sshhunter/summary")) == 1
    assert sleeps.calls == []


def test_deleted_ssh_key_is_skipped(rsps, make_client) -> None:
    add_login(rsps)
    rsps.add(responses.GET, f"{SERVER}/sshhunter/key/17", json={"id": 17, "friendly_name": "amber"})
    rsps.add(responses.GET, f"{SERVER}/sshhunter/key/18", status=404, json=error_body(404, "not found"))
    assert list(make_client().iter_ssh_key_details([17, 18])) == [{"id": 17, "friendly_name": "amber"}]


# ---------------------------------------------------------------------------- license


def license_body(expiry: str = "2027-12-31T23:59:59Z", features=("elasticsearch_replication",)) -> dict:
    return {
        "version": 3,
        "customer": {"name": "Example Corp", "email": "secops@example.com", "website": "https://example.com"},
        "date": {"issued": "2025-01-15T00:00:00Z", "warning": "2027-12-01T00:00:00Z", "expiry": expiry},
        "limits": {"hosts": 500, "features": list(features)},
    }


def test_get_license_parses_fields(rsps, make_client) -> None:
    add_login(rsps)
    rsps.add(responses.GET, f"{SERVER}/license", json=license_body(features=("ssh_hunter", "demo")))
    assert make_client().get_license() == SandflyLicense(
        customer_name="Example Corp",
        expiry=datetime(2027, 12, 31, 23, 59, 59, tzinfo=UTC),
        features=frozenset({"ssh_hunter", "demo"}),
    )


def test_check_license_accepts_valid_license_with_unknown_features(rsps, make_client) -> None:
    add_login(rsps)
    features = ("demo", "elasticsearch_replication", "brand_new_feature")
    rsps.add(responses.GET, f"{SERVER}/license", json=license_body(features=features))
    license_ = make_client().check_license(now=datetime(2027, 6, 1, tzinfo=UTC))
    assert license_.features == frozenset(features)


def test_expired_license_names_the_expiry_date(rsps, make_client) -> None:
    add_login(rsps)
    rsps.add(responses.GET, f"{SERVER}/license", json=license_body(expiry="2025-04-30T19:30:45Z"))
    with pytest.raises(SandflyLicenseError) as caught:
        make_client().check_license(now=datetime(2026, 12, 1, tzinfo=UTC))
    assert str(caught.value) == (
        f"The license of Sandfly server {SERVER} expired on 2025-04-30T19:30:45Z; "
        "renew the license on the server"
    )


def test_license_without_replication_feature_is_refused(rsps, make_client) -> None:
    add_login(rsps)
    rsps.add(responses.GET, f"{SERVER}/license", json=license_body(features=("demo", "ssh_hunter")))
    with pytest.raises(SandflyLicenseError) as caught:
        make_client().check_license(now=datetime(2026, 12, 1, tzinfo=UTC))
    assert str(caught.value) == (
        f"The license of Sandfly server {SERVER} does not include the elasticsearch_replication feature "
        "(features: demo, ssh_hunter); ask Sandfly for a license with elasticsearch_replication"
    )


def test_license_without_limits_has_no_features(rsps, make_client) -> None:
    add_login(rsps)
    body = license_body()
    del body["limits"]
    rsps.add(responses.GET, f"{SERVER}/license", json=body)
    client = make_client()
    assert client.get_license().features == frozenset()
    with pytest.raises(SandflyLicenseError, match=r"\(features: none\)"):
        client.check_license(now=datetime(2026, 12, 1, tzinfo=UTC))


def test_license_with_fractional_offset_expiry_and_no_customer(rsps, make_client) -> None:
    add_login(rsps)
    body = license_body(expiry="2027-12-31T21:59:59.123+00:00")
    del body["customer"]
    rsps.add(responses.GET, f"{SERVER}/license", json=body)
    license_ = make_client().get_license()
    assert license_.customer_name is None
    assert license_.expiry == datetime(2027, 12, 31, 21, 59, 59, 123000, tzinfo=UTC)


def test_missing_license_is_a_license_error(rsps, make_client) -> None:
    add_login(rsps)
    rsps.add(responses.GET, f"{SERVER}/license", status=404, json=error_body(404, "License entry not found."))
    with pytest.raises(SandflyLicenseError) as caught:
        make_client().check_license()
    assert str(caught.value) == (
        f"Sandfly server {SERVER} has no license installed (GET /license answered 404); "
        "install a license on the server"
    )


# ---------------------------------------------------------------------------- secrets


def test_secrets_never_reach_logs_or_exceptions(rsps, make_client, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    add_login(rsps)
    add_refresh(rsps, status=401)
    add_login(rsps, access=ACCESS_3)
    rsps.add(responses.GET, f"{SERVER}/results/getMaxID", status=401, json=error_body(401, "expired"))
    rsps.add(responses.GET, f"{SERVER}/results/getMaxID", status=503, json=error_body(503, "busy"))
    rsps.add(responses.GET, f"{SERVER}/results/getMaxID", status=403, json=error_body(403, "forbidden"))
    rsps.add(responses.DELETE, f"{SERVER}/auth/logout", json={})
    messages: list[str] = []
    client = make_client(verify=False)
    with pytest.raises(SandflyAuthError) as caught:
        client.get_max_result_id()
    messages.append(str(caught.value))
    client.close()

    failing = make_client()
    rsps.replace(responses.POST, f"{SERVER}/auth/login", status=401, json=error_body(401, "bad"))
    with pytest.raises(SandflyAuthError) as caught:
        failing.get_license()
    messages.append(str(caught.value))

    text = caplog.text + "\n".join(messages) + "\n".join(repr(r.args) for r in caplog.records)
    assert caplog.records  # the flow did log (warnings, retries, refresh fallback)
    for secret in SECRETS:
        assert secret not in text
    assert "Authorization" not in text
    assert "Bearer" not in text


# ---------------------------------------------------------------------------- helpers


def test_jwt_expiry_reads_exp_and_tolerates_garbage() -> None:
    assert jwt_expiry(ACCESS_1) == NOW + 1800
    assert jwt_expiry(make_jwt(None, "no-exp")) is None
    assert jwt_expiry("opaque-token") is None
    assert jwt_expiry("a.!!!.c") is None


def test_timestamp_helpers() -> None:
    assert parse_timestamp("2025-06-23T17:35:23Z") == datetime(2025, 6, 23, 17, 35, 23, tzinfo=UTC)
    assert parse_timestamp("2025-06-23T19:35:23.5+02:00") == datetime(
        2025, 6, 23, 17, 35, 23, 500000, tzinfo=UTC
    )
    assert parse_timestamp("2025-06-23T17:35:23") == datetime(2025, 6, 23, 17, 35, 23, tzinfo=UTC)
    assert parse_timestamp("not a date") is None
    assert parse_timestamp(None) is None
    assert format_timestamp(datetime(2026, 12, 1, tzinfo=UTC)) == "2026-12-01T00:00:00Z"
