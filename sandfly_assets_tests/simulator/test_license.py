"""License variants, version, and the 402 of SSH Hunter without its feature."""

from __future__ import annotations

from sandfly_assets.simulator import SandflySimulator

from .conftest import ApiClient

ALL_FEATURES = [
    "ad_hoc_scan",
    "custom_sandflies",
    "elasticsearch_replication",
    "host_tags",
    "sandfly_auto_response",
    "siem_sentinel",
    "splunk_connector",
    "ssh_hunter",
    "sso",
    "threat_feed",
    "user_roles",
]


def test_default_license_is_valid_for_a_year_with_every_feature(client: ApiClient) -> None:
    body = client.get("/license").json()
    assert body["date"] == {
        "issued": "2025-12-10T00:00:00Z",
        "warning": "2027-11-09T23:59:59Z",
        "expiry": "2027-12-09T23:59:59Z",
    }
    assert body["limits"]["features"] == ALL_FEATURES
    assert body["customer"]["name"] == "Example Corp (simulated)"
    assert (body["version"], body["license_level"], body["usage"]["hosts"]) == (3, 8, 20)
    assert (body["online"], body["online_warning"], body["online_status"]) == (False, False, "")


def test_expired_license(fresh_sim: SandflySimulator, fresh_client: ApiClient) -> None:
    fresh_sim.set_faults(license_expired=True)
    body = fresh_client.get("/license").json()
    assert body["date"]["expiry"] == "2026-11-09T23:59:59Z"
    assert body["subscription"]["renewing"] is False


def test_license_without_elasticsearch_replication(
    fresh_sim: SandflySimulator, fresh_client: ApiClient
) -> None:
    fresh_sim.set_faults(no_elasticsearch_replication=True)
    features = fresh_client.get("/license").json()["limits"]["features"]
    assert features == [feature for feature in ALL_FEATURES if feature != "elasticsearch_replication"]


def test_license_without_ssh_hunter_gives_402_on_sshhunter(
    fresh_sim: SandflySimulator, fresh_client: ApiClient
) -> None:
    fresh_sim.set_faults(no_ssh_hunter=True)
    assert "ssh_hunter" not in fresh_client.get("/license").json()["limits"]["features"]
    payment_required = {
        "status": 402,
        "title": "Payment Required",
        "detail": "Product license does not allow SSH Hunter features.",
        "data": "",
    }
    for path in ("/sshhunter/summary", "/sshhunter/key/1"):
        response = fresh_client.get(path)
        assert (response.status_code, response.json()) == (402, payment_required)
    fresh_sim.clear_faults()
    assert fresh_client.get("/sshhunter/summary").status_code == 200


def test_missing_license_is_a_404(fresh_sim: SandflySimulator, fresh_client: ApiClient) -> None:
    fresh_sim.set_faults(license_missing=True)
    response = fresh_client.get("/license")
    assert response.status_code == 404
    assert response.json()["detail"] == "License entry not found."


def test_version(client: ApiClient) -> None:
    body = client.get("/version").json()
    assert body["version"] == "5.8.1"
    assert sorted(body) == [
        "build_date",
        "copyright",
        "node_public_key",
        "server_public_key",
        "version",
        "website",
    ]
