"""Tests for sandfly_assets.es_resource: configuration parsing, client building, connection check."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import pytest
from elasticsearch import Elasticsearch

from sandfly_assets.es_resource import (
    DEFAULT_URL,
    ElasticsearchConfigError,
    ElasticsearchResource,
    ElasticsearchUnavailable,
    elasticsearch_resource_from_env,
    redact_url,
    validate_index_name,
)

# --- elasticsearch_resource_from_env --------------------------------------------------


def test_from_env_defaults() -> None:
    resource = elasticsearch_resource_from_env({})
    assert resource.url == DEFAULT_URL == "http://127.0.0.1:9200"
    assert resource.cloud_id == ""
    assert resource.api_key == ""
    assert resource.username == ""
    assert resource.password == ""
    assert resource.ca_certs == ""
    assert resource.verify_certs is True
    assert resource.request_timeout_seconds == 60.0
    assert resource.index == "sandfly"


def test_from_env_reads_every_plain_setting(tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text("not really a certificate")
    resource = elasticsearch_resource_from_env(
        {
            "ELASTICSEARCH_URL": " https://es1.example.internal:9200, https://es2.example.internal:9200 ",
            "ELASTICSEARCH_CA_CERTS": str(ca_file),
            "ELASTICSEARCH_VERIFY_CERTS": "No",
            "ELASTICSEARCH_INDEX": "soc-sandfly",
            "ELASTICSEARCH_REQUEST_TIMEOUT_SECONDS": "12.5",
        }
    )
    assert resource.url == "https://es1.example.internal:9200, https://es2.example.internal:9200"
    assert resource.ca_certs == str(ca_file)
    assert resource.verify_certs is False
    assert resource.index == "soc-sandfly"
    assert resource.request_timeout_seconds == 12.5


def test_from_env_passes_secrets_as_env_vars_only_when_set() -> None:
    with_key = elasticsearch_resource_from_env({"ELASTICSEARCH_API_KEY": "c2VjcmV0OmtleQ=="})
    assert isinstance(with_key.api_key, dg.EnvVar)
    assert with_key.api_key == "ELASTICSEARCH_API_KEY"  # the name, never the value
    assert with_key.username == ""

    with_user = elasticsearch_resource_from_env(
        {"ELASTICSEARCH_USERNAME": "elastic", "ELASTICSEARCH_PASSWORD": "hunter2"}
    )
    assert isinstance(with_user.username, dg.EnvVar)
    assert isinstance(with_user.password, dg.EnvVar)
    assert (with_user.username, with_user.password) == ("ELASTICSEARCH_USERNAME", "ELASTICSEARCH_PASSWORD")
    assert with_user.api_key == ""


def test_from_env_hides_a_url_with_embedded_credentials() -> None:
    resource = elasticsearch_resource_from_env(
        {"ELASTICSEARCH_URL": "https://elastic:hunter2@es.example:9200"}
    )
    assert isinstance(resource.url, dg.EnvVar)
    assert resource.url == "ELASTICSEARCH_URL"


def test_from_env_cloud_id_replaces_the_default_url() -> None:
    resource = elasticsearch_resource_from_env(
        {"ELASTICSEARCH_CLOUD_ID": "prod:ZXhhbXBsZS5jb20kYWJjJGRlZg=="}
    )
    assert resource.url == ""
    assert resource.cloud_id == "prod:ZXhhbXBsZS5jb20kYWJjJGRlZg=="


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"ELASTICSEARCH_URL": "http://a:9200", "ELASTICSEARCH_CLOUD_ID": "x:eA=="},
            "Set ELASTICSEARCH_URL or ELASTICSEARCH_CLOUD_ID, not both.",
        ),
        (
            {"ELASTICSEARCH_URL": "es.example:9200"},
            "ELASTICSEARCH_URL must be http(s)://host[:port] (comma-separated for several nodes); "
            "got 'es.example:9200'.",
        ),
        (
            {"ELASTICSEARCH_URL": "ftp://user:pw@es.example"},
            "ELASTICSEARCH_URL must be http(s)://host[:port] (comma-separated for several nodes); "
            "got 'ftp://***@es.example'.",
        ),
        (
            {"ELASTICSEARCH_VERIFY_CERTS": "maybe"},
            "ELASTICSEARCH_VERIFY_CERTS must be true or false, got 'maybe'.",
        ),
        (
            {"ELASTICSEARCH_INDEX": "Sandfly"},
            "ELASTICSEARCH_INDEX='Sandfly' is not a valid index name: it must be lowercase",
        ),
        (
            {"ELASTICSEARCH_REQUEST_TIMEOUT_SECONDS": "soon"},
            "ELASTICSEARCH_REQUEST_TIMEOUT_SECONDS must be a positive number of seconds, got 'soon'.",
        ),
        (
            {"ELASTICSEARCH_REQUEST_TIMEOUT_SECONDS": "0"},
            "ELASTICSEARCH_REQUEST_TIMEOUT_SECONDS must be a positive number of seconds, got '0'.",
        ),
        (
            {"ELASTICSEARCH_API_KEY": "k", "ELASTICSEARCH_USERNAME": "elastic"},
            "Set either ELASTICSEARCH_API_KEY or ELASTICSEARCH_USERNAME/ELASTICSEARCH_PASSWORD, not both.",
        ),
        (
            {"ELASTICSEARCH_USERNAME": "elastic"},
            "ELASTICSEARCH_USERNAME and ELASTICSEARCH_PASSWORD go together; "
            "ELASTICSEARCH_PASSWORD is not set.",
        ),
        (
            {"ELASTICSEARCH_PASSWORD": "hunter2"},
            "ELASTICSEARCH_USERNAME and ELASTICSEARCH_PASSWORD go together; "
            "ELASTICSEARCH_USERNAME is not set.",
        ),
    ],
)
def test_from_env_rejects_bad_settings_naming_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ElasticsearchConfigError) as raised:
        elasticsearch_resource_from_env(environ)
    assert str(raised.value) == message
    assert "hunter2" not in str(raised.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        ("on", True),
        ("false", False),
        ("0", False),
    ],
)
def test_verify_certs_words(raw: str, expected: bool) -> None:
    assert elasticsearch_resource_from_env({"ELASTICSEARCH_VERIFY_CERTS": raw}).verify_certs is expected


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "it is empty"),
        ("sand fly", "it contains ' '"),
        ("sand/fly*", "it contains '*' '/'"),
        ("a:b", "it contains ':'"),
        ("-sandfly", "it must not start with '-', '_', '+' or '.'"),
        (".sandfly", "it must not start with '-', '_', '+' or '.'"),
        ("x" * 256, "it is longer than 255 bytes"),
    ],
)
def test_validate_index_name_explains_the_problem(name: str, problem: str) -> None:
    with pytest.raises(ElasticsearchConfigError) as raised:
        validate_index_name(name)
    assert str(raised.value) == f"ELASTICSEARCH_INDEX={name!r} is not a valid index name: {problem}"


def test_validate_index_name_accepts_legal_names() -> None:
    assert validate_index_name("sandfly") == "sandfly"
    assert validate_index_name("soc_sandfly-2.v1") == "soc_sandfly-2.v1"


NEITHER_SET = (
    "Set exactly one of ELASTICSEARCH_URL (url) or ELASTICSEARCH_CLOUD_ID (cloud_id); neither is set."
)

# --- building the client --------------------------------------------------------------


def test_client_arguments_for_several_urls_and_an_api_key() -> None:
    resource = ElasticsearchResource(
        url="https://es1:9200,https://es2:9200", api_key="a2V5", verify_certs=False, request_timeout_seconds=5
    )
    assert resource.client_arguments() == {
        "hosts": ["https://es1:9200", "https://es2:9200"],
        "api_key": "a2V5",
        "verify_certs": False,
        "request_timeout": 5.0,
    }


def test_client_arguments_for_cloud_and_basic_auth(tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text("x")
    resource = ElasticsearchResource(
        cloud_id="prod:abc", username="elastic", password="hunter2", ca_certs=str(ca_file)
    )
    assert resource.client_arguments() == {
        "cloud_id": "prod:abc",
        "basic_auth": ("elastic", "hunter2"),
        "ca_certs": str(ca_file),
        "verify_certs": True,
        "request_timeout": 60.0,
    }


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {},
            NEITHER_SET,
        ),
        (
            {"url": "http://a:9200", "cloud_id": "x:y"},
            "Set exactly one of ELASTICSEARCH_URL (url) or ELASTICSEARCH_CLOUD_ID (cloud_id); both are set.",
        ),
        (
            {"url": " , "},
            NEITHER_SET,
        ),
        (
            {"url": "http://a:9200", "ca_certs": "/nonexistent/ca.pem"},
            "ELASTICSEARCH_CA_CERTS='/nonexistent/ca.pem' is not a readable file.",
        ),
        (
            {"url": "http://a:9200", "request_timeout_seconds": 0},
            "ELASTICSEARCH_REQUEST_TIMEOUT_SECONDS must be a positive number, got 0.0.",
        ),
        (
            {"url": "http://a:9200", "api_key": "k", "password": "p"},
            "Set either ELASTICSEARCH_API_KEY or ELASTICSEARCH_USERNAME/ELASTICSEARCH_PASSWORD, not both.",
        ),
    ],
)
def test_client_arguments_reject_contradictions(settings: dict, message: str) -> None:
    with pytest.raises(ElasticsearchConfigError) as raised:
        ElasticsearchResource(**settings).get_client()
    assert str(raised.value) == message


def test_env_vars_are_resolved_on_an_unbound_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_ES_API_KEY_FOR_RESOURCE", "resolved-key")
    resource = ElasticsearchResource(url="http://a:9200", api_key=dg.EnvVar("TEST_ES_API_KEY_FOR_RESOURCE"))
    assert resource.client_arguments()["api_key"] == "resolved-key"


def test_get_client_is_a_plain_client_built_once() -> None:
    resource = ElasticsearchResource(url="http://127.0.0.1:9")
    client = resource.get_client()
    assert type(client) is Elasticsearch
    assert resource.get_client() is client
    assert ElasticsearchResource(url="http://127.0.0.1:9").get_client() is not client


def test_location_never_shows_credentials() -> None:
    assert ElasticsearchResource(url="https://elastic:hunter2@es1:9200,http://es2:9200").location() == (
        "https://***@es1:9200, http://es2:9200"
    )
    assert ElasticsearchResource(cloud_id="prod:ZXhhbXBsZQ==").location() == "Elastic Cloud deployment 'prod'"
    assert redact_url("http://es:9200/path") == "http://es:9200/path"


# --- check_connection -----------------------------------------------------------------


def test_check_connection_reports_the_cluster(es_url: str, es_client: Elasticsearch) -> None:
    info = es_client.info()
    assert ElasticsearchResource(url=es_url).check_connection() == {
        "cluster_name": info["cluster_name"],
        "version": info["version"]["number"],
    }


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_check_connection_unreachable_names_the_url_and_hides_the_password() -> None:
    port = _closed_port()
    resource = ElasticsearchResource(
        url=f"http://elastic:hunter2@127.0.0.1:{port}", request_timeout_seconds=2
    )
    with pytest.raises(ElasticsearchUnavailable) as raised:
        resource.check_connection()
    message = str(raised.value)
    assert message.startswith(
        f"Elasticsearch at http://***@127.0.0.1:{port} is not reachable: ConnectionError"
    )
    assert message.endswith(
        "Check ELASTICSEARCH_URL (or ELASTICSEARCH_CLOUD_ID), that the cluster is running and reachable "
        "from here, and for TLS ELASTICSEARCH_CA_CERTS/ELASTICSEARCH_VERIFY_CERTS."
    )
    assert "hunter2" not in message


class _Unauthorized(BaseHTTPRequestHandler):
    """Answers every request like a secured cluster given a wrong password."""

    def do_GET(self) -> None:
        body = json.dumps(
            {
                "error": {"type": "security_exception", "reason": "unable to authenticate user [elastic]"},
                "status": 401,
            }
        ).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def unauthorized_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Unauthorized)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_check_connection_rejected_credentials_point_at_the_credentials(unauthorized_url: str) -> None:
    resource = ElasticsearchResource(url=unauthorized_url, username="elastic", password="hunter2")
    with pytest.raises(ElasticsearchUnavailable) as raised:
        resource.check_connection()
    assert str(raised.value) == (
        f"Elasticsearch at {unauthorized_url} refused the request: HTTP 401 security_exception. "
        "Check ELASTICSEARCH_API_KEY or ELASTICSEARCH_USERNAME/ELASTICSEARCH_PASSWORD and the user's "
        "privileges on the sandfly indices."
    )
