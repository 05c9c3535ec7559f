"""Fixtures for the simulator tests: a fixed clock, simulators and a tiny HTTP client.

The client here is deliberately minimal and separate from `sandfly_assets`'s own
client: these tests check the simulator against the API contract, not one reader
of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests

from sandfly_assets.simulator import SandflySimulator, SimulatorConfig

NOW = datetime(2026, 12, 10, 12, 0, 0, tzinfo=UTC)
USER = "admin"
PASSWORD = "secret"


def make_config(**overrides: object) -> SimulatorConfig:
    """The standard test configuration: 30 days x 100 results, 20 hosts, 30 keys, fixed clock."""
    settings: dict = {
        "username": USER,
        "password": PASSWORD,
        "seed": 7,
        "hosts": 20,
        "ssh_keys": 30,
        "days": 30,
        "results_per_day": 100,
        "now": NOW,
    }
    settings.update(overrides)
    return SimulatorConfig(**settings)


class ApiClient:
    """requests.Session bound to a simulator's base URL."""

    def __init__(self, base_url: str, verify: bool | str = True) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        # Passed on every call: a session-level `verify` loses to REQUESTS_CA_BUNDLE
        # when that variable is set (a long-standing requests behaviour).
        self.verify = verify
        self.access_token = ""
        self.refresh_token = ""

    def login(self, username: str = USER, password: str = PASSWORD, **extra: object) -> requests.Response:
        """Log in and, on success, use the access token for later calls."""
        response = self.post("/auth/login", json={"username": username, "password": password, **extra})
        if response.status_code == 200:
            self.use_token(response.json()["access_token"])
            self.refresh_token = response.json()["refresh_token"]
        return response

    def use_token(self, token: str) -> None:
        """Send `token` as the bearer token from now on."""
        self.access_token = token
        self.session.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str, **kwargs: object) -> requests.Response:
        return self.session.get(f"{self.base_url}{path}", timeout=10, verify=self.verify, **kwargs)

    def post(self, path: str, **kwargs: object) -> requests.Response:
        return self.session.post(f"{self.base_url}{path}", timeout=10, verify=self.verify, **kwargs)

    def delete(self, path: str, **kwargs: object) -> requests.Response:
        return self.session.delete(f"{self.base_url}{path}", timeout=10, verify=self.verify, **kwargs)

    def search(self, body: dict) -> requests.Response:
        """`POST /results` with a search body."""
        return self.post("/results", json=body)

    def search_ok(self, body: dict) -> dict:
        """`POST /results` that must succeed; returns the parsed envelope."""
        response = self.search(body)
        assert response.status_code == 200, response.text
        return response.json()

    def search_ids(self, body: dict) -> list[int]:
        """Sequence ids of every match (one big page of summary rows; 404 means none)."""
        response = self.search({"size": 100_000, "summary": True, **body})
        if response.status_code == 404:
            return []
        assert response.status_code == 200, response.text
        payload = response.json()
        assert payload["more_results"] is False
        return [record["sequence_id"] for record in payload["data"]]

    def close(self) -> None:
        self.session.close()


@pytest.fixture(scope="module")
def shared_sim() -> Iterator[SandflySimulator]:
    """One read-only simulator per test module (tests that change state use `fresh_sim`)."""
    with SandflySimulator(make_config()) as simulator:
        yield simulator


@pytest.fixture
def client(shared_sim: SandflySimulator) -> Iterator[ApiClient]:
    """A logged-in client of the shared simulator."""
    api = ApiClient(shared_sim.url)
    assert api.login().status_code == 200
    yield api
    api.close()


@pytest.fixture
def fresh_sim() -> Iterator[SandflySimulator]:
    """A small simulator of its own, for tests that add results, revoke tokens or set faults."""
    with SandflySimulator(make_config(days=3, results_per_day=50, admin=True)) as simulator:
        yield simulator


@pytest.fixture
def fresh_client(fresh_sim: SandflySimulator) -> Iterator[ApiClient]:
    """A logged-in client of `fresh_sim`."""
    api = ApiClient(fresh_sim.url)
    assert api.login().status_code == 200
    yield api
    api.close()
