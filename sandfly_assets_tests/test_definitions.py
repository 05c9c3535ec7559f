"""The definitions load, validate with the CLI, and `dagster dev` serves them."""

from __future__ import annotations

import importlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]
ENV = {
    "SANDFLY_SERVER_URL": "https://sandfly.example.com/v4",
    "SANDFLY_USERNAME": "u",
    "SANDFLY_PASSWORD": "p",
    "ELASTICSEARCH_URL": "http://127.0.0.1:9",
}


@pytest.fixture
def definitions_module(monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    import sandfly_assets.definitions as module

    return importlib.reload(module)


def test_definitions_hold_three_assets_their_checks_the_sensor_and_the_full_sync_job(definitions_module):
    defs = definitions_module.defs
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    assert {key.to_user_string() for key in graph.get_all_asset_keys()} == {
        "sandfly_results",
        "sandfly_hosts",
        "sandfly_ssh_keys",
    }
    assert {key.name for key in graph.asset_check_keys} == {
        "written_equals_fetched",
        "no_failed_documents",
        "ssh_hunter_licensed",
    }
    assert defs.resolve_sensor_def("sandfly_sync_sensor").minimum_interval_seconds == 60
    assert defs.resolve_job_def("sandfly_full_sync") is not None


def test_a_malformed_setting_fails_at_load_naming_the_variable(monkeypatch, definitions_module):
    monkeypatch.setenv("SANDFLY_FETCH_DAYS", "thirty")
    with pytest.raises(Exception, match="SANDFLY_FETCH_DAYS"):
        importlib.reload(definitions_module)


def _cli_env() -> dict[str, str]:
    return {**os.environ, **ENV, "DAGSTER_HOME": ""}


def test_dagster_definitions_validate_passes():
    env = _cli_env()
    env.pop("DAGSTER_HOME")
    completed = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


QUERY = """
{
  assetNodes { assetKey { path } isPartitioned }
  repositoriesOrError { ... on RepositoryConnection { nodes { sensors { name } } } }
}
"""


def _graphql(port: int, deadline: float) -> dict:
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            response = requests.post(f"http://127.0.0.1:{port}/graphql", json={"query": QUERY}, timeout=5)
            if response.ok and response.json().get("data", {}).get("assetNodes"):
                return response.json()["data"]
        except requests.RequestException as error:
            last_error = error
        time.sleep(1)
    raise AssertionError(f"dagster dev did not serve GraphQL in time: {last_error}")


def test_dagster_dev_serves_the_assets_and_the_sensor(tmp_path):
    port = _free_port()
    env = _cli_env()
    env["DAGSTER_HOME"] = str(tmp_path)
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    log = (tmp_path / "dagster-dev.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml", "-p", str(port), "-h", "127.0.0.1"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        data = _graphql(port, time.monotonic() + 120)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
    assets = {"/".join(node["assetKey"]["path"]): node["isPartitioned"] for node in data["assetNodes"]}
    assert assets == {"sandfly_results": True, "sandfly_hosts": True, "sandfly_ssh_keys": True}
    sensors = [s["name"] for repo in data["repositoriesOrError"]["nodes"] for s in repo["sensors"]]
    assert sensors == ["sandfly_sync_sensor"]
