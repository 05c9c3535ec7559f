"""Connection settings for Elasticsearch, as a Dagster resource.

``ElasticsearchResource`` only knows how to reach a cluster (URL or Elastic Cloud id,
credentials, TLS, timeout) and the base index name; writing and reading documents is the
IO manager's job (``es_io_manager``). ``elasticsearch_resource_from_env`` reads the
documented ``ELASTICSEARCH_*`` variables and validates them before any network call, so a
typo fails at load time naming the variable instead of deep inside a run.

Secrets (API key, password, and a URL that embeds credentials) are passed as
``dagster.EnvVar`` so Dagster resolves them at launch and never shows them in the UI; no
error message built here contains them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import dagster as dg
from elastic_transport import TransportError
from elasticsearch import ApiError, Elasticsearch, UnsupportedProductError
from pydantic import Field, PrivateAttr

DEFAULT_URL = "http://127.0.0.1:9200"
DEFAULT_INDEX = "sandfly"
DEFAULT_REQUEST_TIMEOUT_SECONDS = 60.0
# The run-start check waits at most this long for the cluster's first answer.
PREFLIGHT_TIMEOUT_SECONDS = 15.0

ENV_URL = "ELASTICSEARCH_URL"
ENV_CLOUD_ID = "ELASTICSEARCH_CLOUD_ID"
ENV_API_KEY = "ELASTICSEARCH_API_KEY"
ENV_USERNAME = "ELASTICSEARCH_USERNAME"
ENV_PASSWORD = "ELASTICSEARCH_PASSWORD"
ENV_CA_CERTS = "ELASTICSEARCH_CA_CERTS"
ENV_VERIFY_CERTS = "ELASTICSEARCH_VERIFY_CERTS"
ENV_INDEX = "ELASTICSEARCH_INDEX"
ENV_REQUEST_TIMEOUT = "ELASTICSEARCH_REQUEST_TIMEOUT_SECONDS"

# Elasticsearch's own limit on index names, in bytes.
MAX_INDEX_NAME_BYTES = 255
_FORBIDDEN_INDEX_CHARS = set('\\/*?"<>| ,#:')
_TRUE_WORDS = {"true", "1", "yes", "on"}
_FALSE_WORDS = {"false", "0", "no", "off"}


class ElasticsearchConfigError(ValueError):
    """The Elasticsearch settings are incomplete or contradictory (found before any call)."""


class ElasticsearchUnavailable(RuntimeError):
    """The cluster could not be reached or refused the credentials."""


def validate_index_name(name: str, setting: str = ENV_INDEX) -> str:
    """Return ``name`` if Elasticsearch accepts it as an index name, else explain why not.

    Checked up front because Elasticsearch only complains at the first write, as a
    per-document error for every document of the run.
    """
    problem = _index_name_problem(name)
    if problem is not None:
        raise ElasticsearchConfigError(f"{setting}={name!r} is not a valid index name: {problem}")
    return name


def _index_name_problem(name: str) -> str | None:
    if not name:
        return "it is empty"
    if name != name.lower():
        return "it must be lowercase"
    bad = sorted(set(name) & _FORBIDDEN_INDEX_CHARS)
    if bad:
        return f"it contains {' '.join(repr(char) for char in bad)}"
    if name[0] in "-_+.":
        return "it must not start with '-', '_', '+' or '.'"
    if len(name.encode("utf-8")) > MAX_INDEX_NAME_BYTES:
        return f"it is longer than {MAX_INDEX_NAME_BYTES} bytes"
    return None


class ElasticsearchResource(dg.ConfigurableResource):
    """Where the Elasticsearch cluster is and how to authenticate; builds the client."""

    url: str = Field(
        default="",
        description="Cluster URL(s), comma-separated (e.g. https://es1:9200,https://es2:9200). "
        "Set this or cloud_id, not both.",
    )
    cloud_id: str = Field(default="", description="Elastic Cloud deployment id (instead of url).")
    api_key: str = Field(default="", description="API key (base64 'id:key' form). Use an EnvVar.")
    username: str = Field(default="", description="Basic-auth user (instead of api_key).")
    password: str = Field(default="", description="Basic-auth password. Use an EnvVar.")
    ca_certs: str = Field(default="", description="Path to a CA bundle for a private CA.")
    verify_certs: bool = Field(default=True, description="Verify the server's TLS certificate.")
    request_timeout_seconds: float = Field(
        default=DEFAULT_REQUEST_TIMEOUT_SECONDS, description="Timeout of one HTTP request."
    )
    index: str = Field(
        default=DEFAULT_INDEX,
        description="Base index name: data goes to <index>-results, <index>-hosts and "
        "<index>-ssh-keys, read together through the alias <index>.",
    )

    _client: Elasticsearch | None = PrivateAttr(default=None)

    def get_client(self) -> Elasticsearch:
        """The client for this resource, built once and reused (it pools connections)."""
        if self._client is None:
            self._client = Elasticsearch(**self.client_arguments())
        return self._client

    def client_arguments(self) -> dict[str, Any]:
        """Keyword arguments for ``Elasticsearch(...)``, after checking the settings agree."""
        hosts = _split_urls(_resolve(self.url))
        cloud_id = _resolve(self.cloud_id).strip()
        if bool(hosts) == bool(cloud_id):
            which = "both are set" if hosts else "neither is set"
            raise ElasticsearchConfigError(
                f"Set exactly one of {ENV_URL} (url) or {ENV_CLOUD_ID} (cloud_id); {which}."
            )
        arguments: dict[str, Any] = {
            "verify_certs": self.verify_certs,
            "request_timeout": _positive_timeout(self.request_timeout_seconds),
        }
        if hosts:
            arguments["hosts"] = hosts
        else:
            arguments["cloud_id"] = cloud_id
        arguments.update(self._auth_arguments())
        ca_certs = _resolve(self.ca_certs).strip()
        if ca_certs:
            if not Path(ca_certs).is_file():
                raise ElasticsearchConfigError(f"{ENV_CA_CERTS}={ca_certs!r} is not a readable file.")
            arguments["ca_certs"] = ca_certs
        return arguments

    def _auth_arguments(self) -> dict[str, Any]:
        api_key = _resolve(self.api_key)
        username = _resolve(self.username)
        password = _resolve(self.password)
        check_credentials(api_key, username, password)
        if api_key:
            return {"api_key": api_key}
        if username:
            return {"basic_auth": (username, password)}
        return {}

    def location(self) -> str:
        """Where the cluster is, for messages: URLs without credentials, or the cloud name."""
        cloud_id = _resolve(self.cloud_id).strip()
        if cloud_id:
            return f"Elastic Cloud deployment {cloud_id.split(':', 1)[0]!r}"
        hosts = _split_urls(_resolve(self.url))
        return ", ".join(redact_url(host) for host in hosts) or "<no url>"

    def check_connection(self) -> dict[str, str]:
        """Ask the cluster who it is; raise ``ElasticsearchUnavailable`` with a hint if not.

        Returns the cluster name and version, handy for a preflight log line.
        """
        try:
            info = self.get_client().info()
        except (ApiError, TransportError, UnsupportedProductError) as error:
            raise ElasticsearchUnavailable(self._unavailable(error)) from None
        return {
            "cluster_name": str(info.get("cluster_name", "")),
            "version": str((info.get("version") or {}).get("number", "")),
        }

    def _unavailable(self, error: Exception) -> str:
        """An answer with an HTTP error is a refusal; no answer at all is "not reachable"."""
        answered = isinstance(error, ApiError) and not isinstance(error, UnsupportedProductError)
        state = "refused the request" if answered else "is not reachable"
        return f"Elasticsearch at {self.location()} {state}: {self.explain(error)}"

    def preflight(self) -> dict[str, str]:
        """The check a run makes before any work: is the cluster there and are we let in?

        Like ``check_connection``, with two differences: a 403 counts as reachable (the
        cluster answered and accepted the credentials; a user without the ``monitor``
        privilege may not call ``GET /`` yet still write its indices), and the request gets
        at most ``PREFLIGHT_TIMEOUT_SECONDS``, so an address that swallows packets fails in
        seconds rather than after the full request timeout. Returns what ``check_connection``
        returns (empty values after a 403).
        """
        timeout = min(_positive_timeout(self.request_timeout_seconds), PREFLIGHT_TIMEOUT_SECONDS)
        try:
            info = self.get_client().options(request_timeout=timeout).info()
        except ApiError as error:
            if error.status_code == 403 and not isinstance(error, UnsupportedProductError):
                return {"cluster_name": "", "version": ""}
            raise ElasticsearchUnavailable(self._unavailable(error)) from None
        except TransportError as error:
            raise ElasticsearchUnavailable(self._unavailable(error)) from None
        return {
            "cluster_name": str(info.get("cluster_name", "")),
            "version": str((info.get("version") or {}).get("number", "")),
        }

    def explain(self, error: Exception) -> str:
        """What went wrong (secrets blanked out) and what to check, as one sentence pair."""
        return f"{self._reason(error)}. {_hint(error)}"

    def hint(self, error: Exception) -> str:
        """What to check after ``error`` (names variables, never their values)."""
        return _hint(error)

    def _reason(self, error: Exception) -> str:
        """The error as text, with anything secret blanked out."""
        if isinstance(error, ApiError):
            text = f"HTTP {error.status_code} {error.message}"
        else:
            text = f"{type(error).__name__}: {error}"
        secrets = [_resolve(self.api_key), _resolve(self.password), *_url_passwords(_resolve(self.url))]
        for secret in secrets:
            if secret:
                text = text.replace(secret, "***")
        return _redact_userinfo(text)


def _hint(error: Exception) -> str:
    """What to check, depending on how the call failed."""
    if isinstance(error, ApiError) and error.status_code in (401, 403):
        return (
            f"Check {ENV_API_KEY} or {ENV_USERNAME}/{ENV_PASSWORD} and the user's privileges "
            "on the sandfly indices."
        )
    return (
        f"Check {ENV_URL} (or {ENV_CLOUD_ID}), that the cluster is running and reachable from "
        f"here, and for TLS {ENV_CA_CERTS}/{ENV_VERIFY_CERTS}."
    )


def _resolve(value: str) -> str:
    """The value of a setting; an ``EnvVar`` on an unbound resource holds only the name."""
    if isinstance(value, dg.EnvVar):
        return value.get_value() or ""
    return value or ""


def _split_urls(urls: str) -> list[str]:
    return [url.strip() for url in urls.split(",") if url.strip()]


def _positive_timeout(seconds: float) -> float:
    if not seconds > 0:
        raise ElasticsearchConfigError(f"{ENV_REQUEST_TIMEOUT} must be a positive number, got {seconds!r}.")
    return float(seconds)


def redact_url(url: str) -> str:
    """The URL without its user and password (``https://user:pw@h`` -> ``https://***@h``)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"***@{host}"))


def _url_passwords(urls: str) -> list[str]:
    passwords = []
    for url in _split_urls(urls):
        try:
            password = urlsplit(url).password
        except ValueError:
            continue
        if password:
            passwords.append(password)
    return passwords


def _redact_userinfo(text: str) -> str:
    return re.sub(r"(\w+://)[^/@\s]+@", r"\1***@", text)


# --- configuration from the environment -----------------------------------------------


def elasticsearch_resource_from_env(environ: Mapping[str, str] | None = None) -> ElasticsearchResource:
    """Build the resource from ``ELASTICSEARCH_*`` variables, validating them now.

    ``environ`` decides which variables are set (tests pass a dict); secrets are handed to
    Dagster as ``EnvVar``, which reads the real process environment when a run starts.
    """
    env = os.environ if environ is None else environ
    url = _env(env, ENV_URL)
    cloud_id = _env(env, ENV_CLOUD_ID)
    if url and cloud_id:
        raise ElasticsearchConfigError(f"Set {ENV_URL} or {ENV_CLOUD_ID}, not both.")
    if not url and not cloud_id:
        url = DEFAULT_URL
    for host in _split_urls(url):
        _check_url(host)
    settings: dict[str, Any] = {
        "url": dg.EnvVar(ENV_URL) if "@" in url else url,
        "cloud_id": cloud_id,
        "ca_certs": _env(env, ENV_CA_CERTS),
        "verify_certs": parse_bool(env, ENV_VERIFY_CERTS, default=True),
        "index": validate_index_name(_env(env, ENV_INDEX) or DEFAULT_INDEX),
        "request_timeout_seconds": _parse_timeout(env),
    }
    for field, variable in (("api_key", ENV_API_KEY), ("username", ENV_USERNAME), ("password", ENV_PASSWORD)):
        if _env(env, variable):
            settings[field] = dg.EnvVar(variable)
    check_credentials(*(_env(env, name) for name in (ENV_API_KEY, ENV_USERNAME, ENV_PASSWORD)))
    return ElasticsearchResource(**settings)


def _env(env: Mapping[str, str], name: str) -> str:
    return (env.get(name) or "").strip()


def _check_url(url: str) -> None:
    """A URL must name its scheme and host, or the client fails later with a vague error."""
    try:
        parts = urlsplit(url)
        has_host = bool(parts.hostname)
    except ValueError:
        has_host = False
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not has_host:
        raise ElasticsearchConfigError(
            f"{ENV_URL} must be http(s)://host[:port] (comma-separated for several nodes); "
            f"got {redact_url(url)!r}."
        )


def check_credentials(api_key: str, username: str, password: str) -> None:
    """One way to authenticate, complete: an API key, or a user with a password, or nothing."""
    if api_key and (username or password):
        raise ElasticsearchConfigError(
            f"Set either {ENV_API_KEY} or {ENV_USERNAME}/{ENV_PASSWORD}, not both."
        )
    if bool(username) != bool(password):
        missing = ENV_PASSWORD if username else ENV_USERNAME
        raise ElasticsearchConfigError(
            f"{ENV_USERNAME} and {ENV_PASSWORD} go together; {missing} is not set."
        )


def parse_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    """A strict boolean: true/false, 1/0, yes/no, on/off; anything else names the variable."""
    raw = _env(env, name).lower()
    if not raw:
        return default
    if raw in _TRUE_WORDS:
        return True
    if raw in _FALSE_WORDS:
        return False
    raise ElasticsearchConfigError(f"{name} must be true or false, got {env.get(name)!r}.")


def _parse_timeout(env: Mapping[str, str]) -> float:
    raw = _env(env, ENV_REQUEST_TIMEOUT)
    if not raw:
        return DEFAULT_REQUEST_TIMEOUT_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise ElasticsearchConfigError(
            f"{ENV_REQUEST_TIMEOUT} must be a positive number of seconds, got {raw!r}."
        )
    return seconds
