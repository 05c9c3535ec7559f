"""Dagster resource for the Sandfly server: configuration, validation and environment parsing.

Secrets (server URL, username, password) are wired as `dagster.EnvVar`s so their values never
appear in the Dagster UI and a missing variable fails at launch with Dagster's own message.
The other settings are typed and parsed strictly from the environment when definitions load,
so a typo such as SANDFLY_FETCH_DAYS=thirty fails immediately and names the variable.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from typing import TypeVar

import dagster as dg
from pydantic import PrivateAttr

from sandfly_assets.sandfly_client import (
    SandflyAuthError,
    SandflyClient,
    SandflyConfigError,
    validate_server_url,
)

logger = logging.getLogger(__name__)

MAX_PAGE_SIZE = 10_000
TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})
BOOLEAN_HELP = "true/false, 1/0, yes/no or on/off"
SECRET_VARIABLES = {
    "server_url": "SANDFLY_SERVER_URL",
    "username": "SANDFLY_USERNAME",
    "password": "SANDFLY_PASSWORD",
}

T = TypeVar("T")


class SandflyResource(dg.ConfigurableResource):
    """Connection settings for one Sandfly server; `get_client()` builds a validated client.

    `enable_pass` and `fetch_days` are not used by the client itself: the assets read them to
    decide which results to fetch, and they live here so one place holds all Sandfly settings.

    Dagster builds one copy of the resource per run (per step process with a multiprocess
    executor, per tick for a sensor). That copy remembers the clients it handed out: once the
    server rejected the credentials, `get_client()` raises the same error instead of logging
    in again (no account lockout from a run of three assets), and every client still open
    when the run ends (a stream abandoned mid-way by a failed write) is closed then.
    """

    server_url: str
    username: str
    password: str
    verify_ssl: bool = True
    ca_bundle: str = ""
    enable_pass: bool = False
    fetch_days: int = 30
    page_size: int = 999
    request_timeout_seconds: float = 30
    max_retries: int = 6
    concurrency: int = 8

    _clients: list[SandflyClient] = PrivateAttr(default_factory=list)
    _clients_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def get_client(self) -> SandflyClient:
        """Validate every setting (naming the environment variable) and return a new client.

        The caller owns the client and should close it (`with resource.get_client() as client:`);
        whatever is left open is closed when the run (or sensor tick) ends. Raises
        SandflyAuthError without contacting the server when a client of this run was already
        refused the login.
        """
        self.validate()
        with self._clients_lock:
            for earlier in self._clients:
                failure = earlier.auth_failure
                if failure is not None:
                    raise SandflyAuthError(failure)
            # Closed clients are forgotten unless they carry a login refusal to remember.
            self._clients = [c for c in self._clients if not c.closed or c.auth_failure is not None]
            client = SandflyClient(
                validate_server_url(self.server_url),
                self.username,
                self.password,
                verify=self.tls_verify(),
                page_size=self.page_size,
                timeout_seconds=self.request_timeout_seconds,
                max_retries=self.max_retries,
                concurrency=self.concurrency,
            )
            self._clients.append(client)
        return client

    def __repr_args__(self):
        """Like pydantic's, with the password masked: a repr must never carry the secret."""
        for name, value in super().__repr_args__():
            yield name, ("***" if name == "password" and value else value)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        """Close every client of this run that its user did not close (idempotent)."""
        with self._clients_lock:
            clients, self._clients = self._clients, []
        for client in clients:
            try:
                client.close()
            except Exception as error:  # teardown must not mask the run's own outcome
                logger.warning(
                    "Closing the client for Sandfly server %s failed: %s",
                    client.server_url,
                    type(error).__name__,
                )

    def validate(self) -> None:
        """Raise SandflyConfigError for the first invalid setting; no network access."""
        self._check_resolved()
        validate_server_url(self.server_url)
        if not self.username.strip():
            raise SandflyConfigError("SANDFLY_USERNAME is empty; set it to the Sandfly API user's name")
        if not self.password:
            raise SandflyConfigError("SANDFLY_PASSWORD is empty; set it to the Sandfly API user's password")
        _check(self.fetch_days >= 1, f"SANDFLY_FETCH_DAYS must be a positive integer (got {self.fetch_days})")
        _check(
            1 <= self.page_size <= MAX_PAGE_SIZE,
            f"SANDFLY_PAGE_SIZE must be between 1 and {MAX_PAGE_SIZE} (got {self.page_size})",
        )
        _check(
            self.concurrency >= 1, f"SANDFLY_CONCURRENCY must be a positive integer (got {self.concurrency})"
        )
        _check(
            self.request_timeout_seconds > 0,
            f"SANDFLY_REQUEST_TIMEOUT_SECONDS must be positive (got {self.request_timeout_seconds})",
        )
        _check(self.max_retries >= 0, f"max_retries must be 0 or more (got {self.max_retries})")

    def tls_verify(self) -> bool | str:
        """What requests' `verify` gets: the CA bundle path when set, else the verify_ssl flag."""
        bundle = self.ca_bundle.strip()
        if bundle:
            if not self.verify_ssl:
                logger.warning(
                    "SANDFLY_CA_BUNDLE is set, so TLS verification stays ON despite SANDFLY_VERIFY_SSL=false"
                )
            return bundle
        return self.verify_ssl

    def _check_resolved(self) -> None:
        """Catch use outside a run, where an EnvVar field still holds the variable's NAME."""
        for field, variable in SECRET_VARIABLES.items():
            if isinstance(getattr(self, field), dg.EnvVar):
                raise SandflyConfigError(
                    f"{variable} has not been resolved: this SandflyResource was built with "
                    f'EnvVar("{variable}"), which Dagster resolves only inside a run or sensor tick; '
                    "use the resource provided to the asset or sensor, not the one from definitions"
                )


def sandfly_resource_from_env(environ: Mapping[str, str] | None = None) -> SandflyResource:
    """Build the resource for definitions.py: secrets as EnvVars, typed settings parsed now.

    Unset (or blank) typed settings take the field defaults; malformed ones raise
    SandflyConfigError naming the variable and the accepted values.
    """
    env = os.environ if environ is None else environ
    settings: dict[str, object] = {}
    _put(settings, "verify_ssl", env, "SANDFLY_VERIFY_SSL", parse_bool)
    _put(settings, "ca_bundle", env, "SANDFLY_CA_BUNDLE", parse_path)
    _put(settings, "enable_pass", env, "SANDFLY_ENABLE_PASS", parse_bool)
    _put(settings, "fetch_days", env, "SANDFLY_FETCH_DAYS", parse_positive_int)
    _put(settings, "page_size", env, "SANDFLY_PAGE_SIZE", parse_page_size)
    _put(settings, "concurrency", env, "SANDFLY_CONCURRENCY", parse_positive_int)
    _put(settings, "request_timeout_seconds", env, "SANDFLY_REQUEST_TIMEOUT_SECONDS", parse_positive_number)
    return SandflyResource(
        server_url=dg.EnvVar("SANDFLY_SERVER_URL"),
        username=dg.EnvVar("SANDFLY_USERNAME"),
        password=dg.EnvVar("SANDFLY_PASSWORD"),
        **settings,
    )


def check_environment(configured: SandflyResource, environ: Mapping[str, str] | None = None) -> None:
    """Validate `configured` (built by `sandfly_resource_from_env`) with its EnvVars read now.

    For command-line entry points: one clear line before Dagster starts, instead of the same
    error from each asset of the run. No network access. Raises SandflyConfigError naming
    the variable.
    """
    env = os.environ if environ is None else environ
    missing = [name for name in SECRET_VARIABLES.values() if not env.get(name, "").strip()]
    if missing:
        raise SandflyConfigError(
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set; set "
            f"{'it' if len(missing) == 1 else 'them'} in the environment (.env.example lists every variable)"
        )
    settings = {name: getattr(configured, name) for name in SandflyResource.model_fields}
    resolved = {field: env[variable] for field, variable in SECRET_VARIABLES.items()}
    SandflyResource(**{**settings, **resolved}).validate()


def parse_bool(name: str, text: str) -> bool:
    """Strict boolean: a typo must not silently turn TLS verification off or pass results on."""
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise SandflyConfigError(f"{name} must be one of {BOOLEAN_HELP} (got {text!r})")


def parse_path(name: str, text: str) -> str:
    """A file path; only surrounding blanks are removed (existence is checked by the client)."""
    return text.strip()


def parse_positive_int(name: str, text: str) -> int:
    """A whole number >= 1."""
    word = text.strip()
    if not word.isdigit() or int(word) < 1:
        raise SandflyConfigError(f"{name} must be a positive integer such as 30 (got {text!r})")
    return int(word)


def parse_page_size(name: str, text: str) -> int:
    """A whole number between 1 and MAX_PAGE_SIZE."""
    value = parse_positive_int(name, text)
    if value > MAX_PAGE_SIZE:
        raise SandflyConfigError(f"{name} must be between 1 and {MAX_PAGE_SIZE} (got {text!r})")
    return value


def parse_positive_number(name: str, text: str) -> float:
    """A number > 0 (fractions allowed), e.g. a timeout in seconds."""
    try:
        value = float(text.strip())
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise SandflyConfigError(f"{name} must be a positive number of seconds such as 30 (got {text!r})")
    return value


def _put(
    settings: dict[str, object],
    field: str,
    env: Mapping[str, str],
    name: str,
    parse: Callable[[str, str], T],
) -> None:
    """Parse env[name] into settings[field] when the variable is set and not blank."""
    text = env.get(name)
    if text is None or not text.strip():
        return
    settings[field] = parse(name, text)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise SandflyConfigError(message)
