"""SandflyClient over real HTTP(S) against the local simulator: auth, TLS, faults, exact walks.

Every walk is compared with the simulator's own ground truth (`result_sequence_ids`), so a
gap, a duplicate or a stray record fails the test.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

from sandfly_assets.sandfly_client import (
    SandflyAuthError,
    SandflyClient,
    SandflyConfigError,
    SandflyFeatureNotLicensed,
    SandflyLicenseError,
    SandflyRequestError,
    format_timestamp,
)
from sandfly_assets.simulator import SandflySimulator, SimulatorConfig

USER = "replicator"
PASSWORD = "sim-Passw0rd-for-tests"


class CountingSleep:
    """Really sleeps (the simulator's Retry-After is 0 here) but records every delay."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        time.sleep(seconds)


def config(**overrides) -> SimulatorConfig:
    settings = {
        "username": USER,
        "password": PASSWORD,
        "seed": 11,
        "hosts": 12,
        "ssh_keys": 9,
        "days": 3,
        "results_per_day": 300,
    }
    settings.update(overrides)
    return SimulatorConfig(**settings)


@pytest.fixture
def sim() -> Iterator[SandflySimulator]:
    with SandflySimulator(config()) as simulator:
        yield simulator


def walk(client: SandflyClient, **kwargs) -> list[int]:
    return [int(record["sequence_id"]) for page in client.iter_result_pages(**kwargs) for record in page]


def detail_calls(counts: dict[str, int], prefix: str) -> int:
    """Calls to a templated detail route, whatever the simulator names its path parameter."""
    return sum(count for route, count in counts.items() if route.startswith(prefix))


def client_for(sim: SandflySimulator, **kwargs) -> SandflyClient:
    kwargs.setdefault("backoff_base_seconds", 0.01)
    return SandflyClient(sim.url, USER, PASSWORD, **kwargs)


# ---------------------------------------------------------------------------- plain HTTP


def test_walks_match_the_simulator_exactly(sim) -> None:
    with client_for(sim, page_size=97) as client:
        assert walk(client, include_pass=False) == sim.result_sequence_ids(include_pass=False)
        assert walk(client, include_pass=True) == sim.result_sequence_ids(include_pass=True)
    assert sim.count_results(include_pass=True) == 900
    assert sim.call_counts["POST /auth/login"] == 1


def test_bounded_walk_by_sequence_and_end_time(sim) -> None:
    day_start = sim.now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    day_end = day_start + timedelta(days=1)
    all_ids = sim.result_sequence_ids(include_pass=True)
    after, upper = all_ids[100], all_ids[700]
    bounds = {
        "include_pass": False,
        "after_sequence_id": after,
        "max_sequence_id": upper,
        "end_time_from": day_start,
        "end_time_before": day_end,
    }
    expected = sim.result_sequence_ids(day_start, day_end, False, after, upper)
    assert expected  # the window is not trivially empty
    with client_for(sim, page_size=50) as client:
        assert walk(client, **bounds) == expected
        assert client.get_max_result_id() == sim.max_result_id()


def test_summary_rows_walk(sim) -> None:
    with client_for(sim, page_size=200) as client:
        pages = list(client.iter_result_pages(include_pass=True, summary=True))
    assert [int(r["sequence_id"]) for page in pages for r in page] == sim.result_sequence_ids(
        include_pass=True
    )
    assert "data.status" in pages[0][0]


def test_empty_window_is_an_empty_stream(sim) -> None:
    with client_for(sim) as client:
        assert walk(client, include_pass=True, after_sequence_id=sim.max_result_id()) == []


def test_hosts_and_ssh_keys_page_and_details(sim) -> None:
    with client_for(sim, page_size=5, concurrency=3) as client:
        host_pages = list(client.iter_host_summary_pages())
        host_ids = [row["host_id"] for page in host_pages for row in page]
        details = list(client.iter_host_details(host_ids))
        key_pages = list(client.iter_ssh_key_summary_pages())
        key_ids = [row["id"] for page in key_pages for row in page]
        keys = list(client.iter_ssh_key_details(key_ids))
    assert [len(page) for page in host_pages] == [5, 5, 2]
    assert len(set(host_ids)) == 12
    assert sorted(d["host_id"] for d in details) == sorted(host_ids)
    assert [len(page) for page in key_pages] == [5, 4]
    assert sorted(k["id"] for k in keys) == sorted(key_ids)
    assert all("key_hosts" in key for key in keys)
    counts = sim.call_counts
    assert counts["GET /hosts"] == 3
    assert detail_calls(counts, "GET /hosts/") == 12
    assert counts["GET /sshhunter/summary"] == 2
    assert detail_calls(counts, "GET /sshhunter/key/") == 9


def test_logout_on_close(sim) -> None:
    client = client_for(sim)
    client.get_max_result_id()
    client.close()
    assert sim.call_counts["DELETE /auth/logout"] == 1


# ---------------------------------------------------------------------------- auth and license


def test_wrong_password_is_one_login_and_a_clear_error(sim) -> None:
    client = SandflyClient(sim.url, USER, "not-the-password")
    with pytest.raises(SandflyAuthError) as caught:
        list(client.iter_result_pages(include_pass=True))
    assert str(caught.value) == (
        f"Sandfly server {sim.url} rejected the login of user 'replicator' (HTTP 401: authentication "
        "failed); check SANDFLY_USERNAME / SANDFLY_PASSWORD"
    )
    with pytest.raises(SandflyAuthError):
        client.get_max_result_id()
    assert sim.call_counts == {"POST /auth/login": 1}


def test_license_checks(sim) -> None:
    with client_for(sim) as client:
        license_ = client.check_license()
        assert "elasticsearch_replication" in license_.features
        sim.set_faults(license_expired=True)
        expired = client.get_license().expiry
        assert expired is not None and expired < sim.now
        with pytest.raises(SandflyLicenseError) as caught:
            client.check_license()
        assert f"expired on {format_timestamp(expired)}" in str(caught.value)
        sim.set_faults(license_expired=False, no_elasticsearch_replication=True)
        with pytest.raises(
            SandflyLicenseError, match="does not include the elasticsearch_replication feature"
        ):
            client.check_license()


def test_ssh_hunter_not_licensed_is_402(sim) -> None:
    sim.set_faults(no_ssh_hunter=True)
    with client_for(sim) as client, pytest.raises(SandflyFeatureNotLicensed, match="HTTP 402"):
        list(client.iter_ssh_key_summary_pages())
    assert sim.call_counts["GET /sshhunter/summary"] == 1


def test_token_expiry_mid_walk_is_refreshed() -> None:
    # 2 s tokens; the server-side delay makes the walk last at least 40 x 0.1 = 4 s.
    with SandflySimulator(config(days=2, results_per_day=500, token_ttl_seconds=2)) as sim:
        sim.set_faults(delay_seconds=0.1)
        with client_for(sim, page_size=25) as client:
            assert walk(client, include_pass=True) == sim.result_sequence_ids(include_pass=True)
        counts = sim.call_counts
    assert counts["POST /auth/login"] == 1
    assert counts["POST /auth/login_refresh"] >= 1


def test_revoked_tokens_mid_walk_log_in_again(sim) -> None:
    seen: list[int] = []
    with client_for(sim, page_size=100) as client:
        for number, page in enumerate(client.iter_result_pages(include_pass=True), start=1):
            seen.extend(int(r["sequence_id"]) for r in page)
            if number == 2:
                sim.revoke_all_tokens()
    assert seen == sim.result_sequence_ids(include_pass=True)
    counts = sim.call_counts
    assert counts["POST /auth/login"] == 2  # the refresh token was revoked too
    assert counts["POST /auth/login_refresh"] == 1


# ---------------------------------------------------------------------------- faults


def test_rate_limit_storm_honours_retry_after(sim) -> None:
    sim.set_faults(rate_limit_every=3, retry_after_seconds=0)
    sim.reset_call_counts()
    sleep = CountingSleep()
    with client_for(sim, page_size=60, sleep=sleep) as client:
        assert walk(client, include_pass=True) == sim.result_sequence_ids(include_pass=True)
    data_calls = sim.call_counts["POST /results"]
    assert sleep.calls == [0.0] * (data_calls // 3)


@pytest.mark.parametrize("status", [500, 503])
def test_server_error_storm_is_retried(sim, status: int) -> None:
    sim.set_faults(error_every=2, error_status=status)
    sim.reset_call_counts()
    sleep = CountingSleep()
    with client_for(sim, page_size=60, sleep=sleep) as client:
        assert walk(client, include_pass=False) == sim.result_sequence_ids(include_pass=False)
    assert len(sleep.calls) == sim.call_counts["POST /results"] // 2


def test_dropped_connections_and_malformed_bodies_are_retried(sim) -> None:
    sim.set_faults(drop_every=4, malformed_every=5)
    with client_for(sim, page_size=45) as client:
        assert walk(client, include_pass=True) == sim.result_sequence_ids(include_pass=True)
        host_ids = [row["host_id"] for page in client.iter_host_summary_pages() for row in page]
        assert len(list(client.iter_host_details(host_ids))) == 12


def test_exhausted_retries_report_the_last_status(sim) -> None:
    sim.set_faults(error_every=1, error_status=503)
    sim.reset_call_counts()
    with client_for(sim, max_retries=3) as client, pytest.raises(SandflyRequestError) as caught:
        list(client.iter_result_pages(include_pass=True))
    assert str(caught.value) == (
        f"Sandfly server {sim.url}: POST /results failed after 4 attempts; last error: HTTP 503: simulated "
        "server error. Check that the server is up and reachable (SANDFLY_SERVER_URL)"
    )
    assert sim.call_counts["POST /results"] == 4


# ---------------------------------------------------------------------------- TLS


@pytest.fixture
def tls_sim() -> Iterator[SandflySimulator]:
    with SandflySimulator(config(tls=True)) as simulator:
        yield simulator


def test_https_with_the_ca_bundle(tls_sim) -> None:
    assert tls_sim.url.startswith("https://")
    with client_for(tls_sim, verify=tls_sim.ca_cert_path, page_size=250) as client:
        assert client.check_license().customer_name
        assert walk(client, include_pass=False) == tls_sim.result_sequence_ids(include_pass=False)


def test_https_with_verification_off_warns_once(tls_sim, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="sandfly_assets.sandfly_client")
    with client_for(tls_sim, verify=False) as client:
        assert walk(client, include_pass=True) == tls_sim.result_sequence_ids(include_pass=True)
    assert [r.getMessage() for r in caplog.records] == [
        f"TLS certificate verification is OFF for Sandfly server {tls_sim.url} (SANDFLY_VERIFY_SSL=false); "
        "set SANDFLY_CA_BUNDLE to the server's certificate instead"
    ]


def test_https_without_the_bundle_is_a_clear_tls_error(tls_sim) -> None:
    sleep = CountingSleep()
    client = client_for(tls_sim, sleep=sleep)
    with pytest.raises(SandflyConfigError) as caught:
        client.get_max_result_id()
    message = str(caught.value)
    assert message.startswith(
        f"TLS certificate verification failed for Sandfly server {tls_sim.url} (certificate verify failed: "
    )
    assert message.endswith(
        "; set SANDFLY_CA_BUNDLE to the server's certificate (PEM), "
        "or as a last resort SANDFLY_VERIFY_SSL=false"
    )
    assert sleep.calls == []  # not retried
    assert tls_sim.call_counts == {}  # no request got through the handshake


# ---------------------------------------------------------------------------- the long walk


@pytest.mark.slow
def test_twenty_thousand_results_with_short_tokens_and_rate_limits() -> None:
    """20,000 results, 2 s access tokens, a 429 every 50 data calls: no gap, no duplicate."""
    simulator = SandflySimulator(config(days=20, results_per_day=1000, hosts=20, token_ttl_seconds=2))
    with simulator as sim:
        expected = sim.result_sequence_ids(include_pass=True)
        assert len(expected) == 20_000
        # 200 pages of 100; the 0.015 s server delay makes the walk outlast several token lifetimes.
        sim.set_faults(rate_limit_every=50, retry_after_seconds=0, delay_seconds=0.015)
        sim.reset_call_counts()
        sleep = CountingSleep()
        started = time.monotonic()
        with client_for(sim, page_size=100, sleep=sleep) as client:
            seen = walk(client, include_pass=True)
        elapsed = time.monotonic() - started
        counts = sim.call_counts
    assert len(seen) == 20_000
    assert len(set(seen)) == 20_000
    assert seen == expected
    assert counts["POST /auth/login"] == 1
    assert counts["POST /auth/login_refresh"] >= 1
    assert sleep.calls == [0.0] * (counts["POST /results"] // 50)
    print(f"20,000 results in {elapsed:.2f}s; calls: {counts}")
