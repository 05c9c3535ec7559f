"""HTTPS with the generated certificate as CA bundle, and the command line."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from sandfly_assets.simulator import SandflySimulator

from .conftest import ApiClient, make_config


def test_tls_with_the_generated_cert_as_ca_bundle(tmp_path: Path) -> None:
    cert_file = tmp_path / "sim-ca.pem"
    with SandflySimulator(make_config(days=1, results_per_day=10, tls=True, cert_file=str(cert_file))) as sim:
        assert sim.url.startswith("https://127.0.0.1:")
        assert sim.ca_cert_path == str(cert_file)
        assert cert_file.read_text().startswith("-----BEGIN CERTIFICATE-----")
        api = ApiClient(sim.url, verify=sim.ca_cert_path)
        assert api.login().status_code == 200
        assert api.get("/results/getMaxID").json() == sim.max_result_id()
        by_name = requests.get(
            sim.url.replace("127.0.0.1", "localhost") + "/version", verify=sim.ca_cert_path
        )
        assert by_name.status_code == 401
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(sim.url + "/version", verify=True, timeout=10)
    assert cert_file.exists()


def test_generated_cert_lives_in_a_temp_dir_removed_on_stop() -> None:
    sim = SandflySimulator(make_config(days=1, results_per_day=1, tls=True)).start()
    cert = Path(sim.ca_cert_path or "")
    assert cert.is_file()
    sim.stop()
    assert not cert.exists()


def _run_cli(*args: str) -> subprocess.Popen:
    """Start the CLI with a free port."""
    command = [
        sys.executable,
        "-m",
        "sandfly_assets.simulator",
        "--port",
        "0",
        "--username",
        "u",
        "--password",
        "p",
    ]
    return subprocess.Popen([*command, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_cli_help_documents_the_flags() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "sandfly_assets.simulator", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert completed.returncode == 0
    for flag in (
        "--results-per-day",
        "--token-ttl-seconds",
        "--rate-limit-every",
        "--drop-every",
        "--tls",
        "--cert-file",
        "--admin",
        "/v4/_sim/results",
    ):
        assert flag in completed.stdout


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_cli_prints_the_url_serves_and_stops_cleanly(stop_signal: signal.Signals) -> None:
    process = _run_cli("--days", "2", "--results-per-day", "20", "--admin", "--error-every", "2")
    try:
        url = (process.stdout.readline() if process.stdout else "").strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v4")
        api = ApiClient(url)
        assert api.login("u", "p").status_code == 200
        assert [api.get("/version").status_code for _ in range(2)] == [200, 500]
        assert api.get("/results/getMaxID").json() >= 1039
    finally:
        process.send_signal(stop_signal)
        return_code = process.wait(timeout=15)
    assert return_code == 0


def test_cli_rejects_invalid_settings() -> None:
    process = _run_cli("--pass-share", "0.9", "--error-share", "0.2")
    assert process.wait(timeout=30) == 2
    assert "pass_share + error_share must be <= 1" in (process.stderr.read() if process.stderr else "")


def test_cli_reports_a_port_in_use(shared_sim: SandflySimulator) -> None:
    command = [sys.executable, "-m", "sandfly_assets.simulator", "--username", "u", "--password", "p"]
    completed = subprocess.run(
        [*command, "--port", str(shared_sim.port), "--days", "1", "--results-per-day", "1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert completed.returncode == 1
    assert completed.stderr.startswith("cannot start the simulator: ")
    assert completed.stdout == ""
