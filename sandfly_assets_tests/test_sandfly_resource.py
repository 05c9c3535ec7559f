"""Unit tests of SandflyResource: validation naming env vars, strict env parsing, EnvVar wiring."""

from __future__ import annotations

import logging

import dagster as dg
import pytest
import responses

from sandfly_assets.sandfly_client import SandflyClient, SandflyConfigError
from sandfly_assets.sandfly_resource import SandflyResource, sandfly_resource_from_env

SERVER = "https://sandfly.test/v4"
PASSWORD = "resource-Secret-99"


def resource(**overrides) -> SandflyResource:
    settings = {"server_url": SERVER, "username": "siem_api", "password": PASSWORD, **overrides}
    return SandflyResource(**settings)


def test_defaults() -> None:
    r = resource()
    assert (r.verify_ssl, r.ca_bundle, r.enable_pass, r.fetch_days) == (True, "", False, 30)
    assert (r.page_size, r.request_timeout_seconds, r.max_retries, r.concurrency) == (999, 30, 6, 8)


def test_get_client_passes_every_setting(monkeypatch) -> None:
    # requests would swap verify=True for these bundles; keep the assertion about our own setting.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with responses.RequestsMock() as rsps:
        rsps.add(
            responses.POST, f"{SERVER}/auth/login", json={"access_token": "opaque-a", "refresh_token": "r"}
        )
        rsps.add(responses.POST, f"{SERVER}/results", json={"more_results": False, "data": []})
        client = resource(server_url=f"{SERVER}/", page_size=250, request_timeout_seconds=12.5).get_client()
        assert isinstance(client, SandflyClient)
        assert client.server_url == SERVER
        assert list(client.iter_result_pages(include_pass=True)) == []
        login, results = rsps.calls
        assert login.request.req_kwargs["timeout"] == 12.5
        assert results.request.req_kwargs["verify"] is True
        assert login.request.body and b'"username": "siem_api"' in login.request.body
        assert results.request.body.count(b'"size": 250') == 1


def test_ca_bundle_is_used_as_verify(tmp_path, caplog) -> None:
    caplog.set_level(logging.WARNING)
    bundle = tmp_path / "sandfly-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    assert resource(ca_bundle=str(bundle)).tls_verify() == str(bundle)
    assert resource(ca_bundle=f"  {bundle}  ").tls_verify() == str(bundle)
    assert caplog.records == []
    assert resource(ca_bundle=str(bundle), verify_ssl=False).tls_verify() == str(bundle)
    assert [r.getMessage() for r in caplog.records] == [
        "SANDFLY_CA_BUNDLE is set, so TLS verification stays ON despite SANDFLY_VERIFY_SSL=false"
    ]
    assert resource(verify_ssl=False).tls_verify() is False
    assert resource().tls_verify() is True


def test_missing_ca_bundle_names_the_variable(tmp_path) -> None:
    with pytest.raises(
        SandflyConfigError, match=r"^SANDFLY_CA_BUNDLE '.*missing\.pem' is not a readable file"
    ):
        resource(ca_bundle=str(tmp_path / "missing.pem")).get_client()


EXAMPLE = "e.g. https://sandfly.example.com/v4"
NOT_URL = "must be an http(s) URL ending in /v4"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"server_url": "https://sandfly.test"}, f"SANDFLY_SERVER_URL must end in /v4, {EXAMPLE} (got 'https://sandfly.test')"),
        ({"server_url": "sandfly.test/v4"}, f"SANDFLY_SERVER_URL {NOT_URL}, {EXAMPLE} (got 'sandfly.test/v4')"),  # noqa: E501
        ({"username": "  "}, "SANDFLY_USERNAME is empty; set it to the Sandfly API user's name"),
        ({"password": ""}, "SANDFLY_PASSWORD is empty; set it to the Sandfly API user's password"),
        ({"fetch_days": 0}, "SANDFLY_FETCH_DAYS must be a positive integer (got 0)"),
        ({"page_size": 0}, "SANDFLY_PAGE_SIZE must be between 1 and 10000 (got 0)"),
        ({"page_size": 10001}, "SANDFLY_PAGE_SIZE must be between 1 and 10000 (got 10001)"),
        ({"concurrency": 0}, "SANDFLY_CONCURRENCY must be a positive integer (got 0)"),
        ({"request_timeout_seconds": 0}, "SANDFLY_REQUEST_TIMEOUT_SECONDS must be positive (got 0.0)"),
        ({"max_retries": -1}, "max_retries must be 0 or more (got -1)"),
    ],
)  # fmt: skip
def test_get_client_validates_and_names_the_variable(overrides: dict, message: str) -> None:
    with responses.RequestsMock() as rsps:
        with pytest.raises(SandflyConfigError) as caught:
            resource(**overrides).get_client()
        assert str(caught.value) == message
        assert len(rsps.calls) == 0
    assert PASSWORD not in str(caught.value)


def test_page_size_limits_are_inclusive() -> None:
    assert isinstance(resource(page_size=1).get_client(), SandflyClient)
    assert isinstance(resource(page_size=10000).get_client(), SandflyClient)


# ---------------------------------------------------------------------------- environment


def test_from_env_defaults_and_env_vars() -> None:
    r = sandfly_resource_from_env({})
    assert isinstance(r.server_url, dg.EnvVar)
    assert isinstance(r.username, dg.EnvVar)
    assert isinstance(r.password, dg.EnvVar)
    assert (r.server_url.env_var_name, r.username.env_var_name, r.password.env_var_name) == (
        "SANDFLY_SERVER_URL",
        "SANDFLY_USERNAME",
        "SANDFLY_PASSWORD",
    )
    assert (r.verify_ssl, r.ca_bundle, r.enable_pass, r.fetch_days) == (True, "", False, 30)
    assert (r.page_size, r.concurrency, r.request_timeout_seconds) == (999, 8, 30)


def test_from_env_never_reads_secrets_at_load_time() -> None:
    r = sandfly_resource_from_env({"SANDFLY_PASSWORD": PASSWORD, "SANDFLY_USERNAME": "u"})
    assert r.password.env_var_name == "SANDFLY_PASSWORD"
    assert PASSWORD not in repr(r.__dict__)


def test_from_env_parses_typed_settings() -> None:
    env = {
        "SANDFLY_VERIFY_SSL": "No",
        "SANDFLY_CA_BUNDLE": " /etc/sandfly/ca.pem ",
        "SANDFLY_ENABLE_PASS": "ON",
        "SANDFLY_FETCH_DAYS": "7",
        "SANDFLY_PAGE_SIZE": "500",
        "SANDFLY_CONCURRENCY": "8",
        "SANDFLY_REQUEST_TIMEOUT_SECONDS": "12.5",
    }
    r = sandfly_resource_from_env(env)
    assert (r.verify_ssl, r.ca_bundle, r.enable_pass) == (False, "/etc/sandfly/ca.pem", True)
    assert (r.fetch_days, r.page_size, r.concurrency, r.request_timeout_seconds) == (7, 500, 8, 12.5)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("true", True), ("TRUE", True), ("1", True), ("yes", True), ("On", True),
     ("false", False), ("False", False), ("0", False), ("NO", False), ("off", False), (" yes ", True)],
)  # fmt: skip
def test_boolean_words(text: str, expected: bool) -> None:
    assert sandfly_resource_from_env({"SANDFLY_ENABLE_PASS": text}).enable_pass is expected
    assert sandfly_resource_from_env({"SANDFLY_VERIFY_SSL": text}).verify_ssl is expected


def test_blank_values_mean_default() -> None:
    r = sandfly_resource_from_env({"SANDFLY_FETCH_DAYS": "", "SANDFLY_VERIFY_SSL": "  "})
    assert (r.fetch_days, r.verify_ssl) == (30, True)


BOOL = "must be one of true/false, 1/0, yes/no or on/off"
INT = "must be a positive integer such as 30"
SECONDS = "must be a positive number of seconds such as 30"


@pytest.mark.parametrize(
    ("name", "text", "rule"),
    [
        ("SANDFLY_VERIFY_SSL", "flase", BOOL),
        ("SANDFLY_ENABLE_PASS", "2", BOOL),
        ("SANDFLY_FETCH_DAYS", "thirty", INT),
        ("SANDFLY_FETCH_DAYS", "0", INT),
        ("SANDFLY_FETCH_DAYS", "-3", INT),
        ("SANDFLY_FETCH_DAYS", "2.5", INT),
        ("SANDFLY_PAGE_SIZE", "20000", "must be between 1 and 10000"),
        ("SANDFLY_PAGE_SIZE", "big", INT),
        ("SANDFLY_CONCURRENCY", "0", INT),
        ("SANDFLY_REQUEST_TIMEOUT_SECONDS", "0", SECONDS),
        ("SANDFLY_REQUEST_TIMEOUT_SECONDS", "soon", SECONDS),
        ("SANDFLY_REQUEST_TIMEOUT_SECONDS", "inf", SECONDS),
        ("SANDFLY_REQUEST_TIMEOUT_SECONDS", "nan", SECONDS),
    ],
)
def test_malformed_env_values_name_the_variable(name: str, text: str, rule: str) -> None:
    with pytest.raises(SandflyConfigError) as caught:
        sandfly_resource_from_env({name: text})
    assert str(caught.value) == f"{name} {rule} (got {text!r})"


def test_unresolved_env_var_outside_a_run_is_explained() -> None:
    r = sandfly_resource_from_env({})
    with pytest.raises(SandflyConfigError) as caught:
        r.get_client()
    assert str(caught.value) == (
        "SANDFLY_SERVER_URL has not been resolved: this SandflyResource was built with "
        'EnvVar("SANDFLY_SERVER_URL"), which Dagster resolves only inside a run or sensor tick; '
        "use the resource provided to the asset or sensor, not the one from definitions"
    )


def test_env_vars_resolve_inside_a_run(monkeypatch) -> None:
    monkeypatch.setenv("SANDFLY_SERVER_URL", f"{SERVER}/")
    monkeypatch.setenv("SANDFLY_USERNAME", "siem_api")
    monkeypatch.setenv("SANDFLY_PASSWORD", PASSWORD)
    seen: dict = {}

    @dg.asset
    def probe(sandfly: SandflyResource) -> None:
        client = sandfly.get_client()
        seen.update(server=client.server_url, user=sandfly.username, days=sandfly.fetch_days)
        client.close()

    result = dg.materialize(
        [probe], resources={"sandfly": sandfly_resource_from_env({"SANDFLY_FETCH_DAYS": "3"})}
    )
    assert result.success
    assert seen == {"server": SERVER, "user": "siem_api", "days": 3}


def test_missing_env_var_fails_at_launch_with_dagster_message(monkeypatch) -> None:
    monkeypatch.delenv("SANDFLY_SERVER_URL", raising=False)
    monkeypatch.setenv("SANDFLY_USERNAME", "siem_api")
    monkeypatch.setenv("SANDFLY_PASSWORD", PASSWORD)

    @dg.asset
    def probe(sandfly: SandflyResource) -> None:
        sandfly.get_client()

    with pytest.raises(
        dg.DagsterInvalidConfigError, match='environment variable "SANDFLY_SERVER_URL" which is not set'
    ):
        dg.materialize([probe], resources={"sandfly": sandfly_resource_from_env({})})
