"""Fault switches: 429, 5xx, malformed bodies, dropped connections, delay, counting rules."""

from __future__ import annotations

import json

import pytest
import requests

from sandfly_assets.simulator import SandflySimulator

from .conftest import ApiClient


def statuses(api: ApiClient, count: int, path: str = "/version") -> list[int]:
    """Status codes of `count` identical calls."""
    return [api.get(path).status_code for _ in range(count)]


def test_rate_limit_every_second_call_with_retry_after(
    fresh_sim: SandflySimulator, fresh_client: ApiClient
) -> None:
    fresh_sim.set_faults(rate_limit_every=2, retry_after_seconds=7)
    first = fresh_client.get("/version")
    second = fresh_client.get("/version")
    assert (first.status_code, second.status_code) == (200, 429)
    assert second.headers["Retry-After"] == "7"
    assert second.json() == {
        "status": 429,
        "title": "Too Many Requests",
        "detail": "rate limit exceeded (simulated)",
        "data": "",
    }
    assert statuses(fresh_client, 4) == [200, 429, 200, 429]


@pytest.mark.parametrize("status", [500, 503])
def test_server_error_every_third_call(
    fresh_sim: SandflySimulator, fresh_client: ApiClient, status: int
) -> None:
    fresh_sim.set_faults(error_every=3, error_status=status)
    assert statuses(fresh_client, 6, "/results/getMaxID") == [200, 200, status, 200, 200, status]
    fresh_sim.clear_faults()
    assert statuses(fresh_client, 3) == [200, 200, 200]


def test_malformed_body_keeps_status_but_is_not_json(
    fresh_sim: SandflySimulator, fresh_client: ApiClient
) -> None:
    good = fresh_client.get("/results/getMaxID").text
    fresh_sim.set_faults(malformed_every=2)
    assert fresh_client.get("/results/getMaxID").text == good
    broken = fresh_client.get("/results/getMaxID")
    assert broken.status_code == 200
    assert broken.text == good[: len(good) // 2] + "#malformed"
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.text)


def test_dropped_connection_mid_response(fresh_sim: SandflySimulator, fresh_client: ApiClient) -> None:
    fresh_sim.set_faults(drop_every=2)
    assert fresh_client.get("/hosts").status_code == 200
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError)):
        fresh_client.get("/hosts")
    assert fresh_client.get("/hosts").status_code == 200


def test_precedence_when_schedules_coincide(fresh_sim: SandflySimulator, fresh_client: ApiClient) -> None:
    fresh_sim.set_faults(rate_limit_every=4, error_every=2)
    assert statuses(fresh_client, 4) == [200, 500, 200, 429]


def test_login_refresh_and_logout_are_exempt_and_not_counted(
    fresh_sim: SandflySimulator, fresh_client: ApiClient
) -> None:
    fresh_sim.set_faults(error_every=2)
    assert fresh_client.get("/version").status_code == 200
    for _ in range(3):
        assert fresh_client.login().status_code == 200
    refresh = fresh_client.post(
        "/auth/login_refresh", headers={"Authorization": f"Bearer {fresh_client.refresh_token}"}
    )
    assert refresh.status_code == 200
    assert fresh_client.get("/version").status_code == 500
    assert fresh_sim.call_counts["POST /auth/login"] == 4


def test_set_faults_merges_and_restarts_the_counter(
    fresh_sim: SandflySimulator, fresh_client: ApiClient
) -> None:
    fresh_sim.set_faults(error_every=2)
    assert statuses(fresh_client, 1) == [200]
    fresh_sim.set_faults(retry_after_seconds=3)
    assert fresh_sim.faults.error_every == 2
    assert statuses(fresh_client, 2) == [200, 500]


def test_delay_still_answers_normally(fresh_sim: SandflySimulator, fresh_client: ApiClient) -> None:
    fresh_sim.set_faults(delay_seconds=0.01)
    assert fresh_client.get("/version").json()["version"] == "5.8.1"


def test_unknown_fault_names_are_rejected(fresh_sim: SandflySimulator) -> None:
    with pytest.raises(TypeError, match="unknown fault setting"):
        fresh_sim.set_faults(explode=True)
    with pytest.raises(ValueError, match="error_status"):
        fresh_sim.set_faults(error_status=418)


def test_admin_fault_endpoints(fresh_sim: SandflySimulator, fresh_client: ApiClient) -> None:
    response = fresh_client.session.put(f"{fresh_sim.url}/_sim/faults", json={"error_every": 1}, timeout=10)
    assert response.json()["error_every"] == 1
    assert statuses(fresh_client, 2) == [500, 500]
    assert fresh_client.delete("/_sim/faults").json()["error_every"] == 0
    assert statuses(fresh_client, 1) == [200]
    stats = fresh_client.get("/_sim/stats").json()
    assert stats["results"] == 150
    assert stats["call_counts"]["GET /version"] == 3
