"""Configuration of the simulator: what data it serves and which faults it injects.

Kept in its own module so the CLI, the server and the tests build the same object
without importing the HTTP machinery.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class FaultSettings:
    """Fault switches. Every periodic fault counts the same global call counter.

    The counter only counts "data" calls: login, login_refresh, logout and the
    `/_sim` admin endpoints are exempt from periodic faults and do not advance it,
    so a test can reason about exactly which data call fails.

    The targeted switches name call numbers of that counter: `error_calls` (these
    calls answer `error_status`), `error_from_call` (every call from this one on
    answers `error_status`: a server that goes down for good), `malformed_calls`,
    `drop_calls`, and `revoke_tokens_at_call` (every token is revoked just before
    this call is authenticated). `ssh_hunter_denied` makes `/sshhunter/*` answer
    402 while the license still lists ssh_hunter (a license changed mid-run).
    """

    license_expired: bool = False
    license_missing: bool = False
    no_elasticsearch_replication: bool = False
    no_ssh_hunter: bool = False
    rate_limit_every: int = 0
    retry_after_seconds: int = 1
    error_every: int = 0
    error_status: int = 500
    malformed_every: int = 0
    drop_every: int = 0
    delay_seconds: float = 0.0
    # Targeted faults, by data call number (the same counter as the periodic ones).
    error_calls: tuple[int, ...] = ()
    error_from_call: int = 0
    malformed_calls: tuple[int, ...] = ()
    drop_calls: tuple[int, ...] = ()
    revoke_tokens_at_call: int = 0
    ssh_hunter_denied: bool = False

    def validate(self) -> None:
        """Reject settings that would make the fault schedule ambiguous."""
        for name in (
            "rate_limit_every",
            "error_every",
            "malformed_every",
            "drop_every",
            "error_from_call",
            "revoke_tokens_at_call",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        for name in ("error_calls", "malformed_calls", "drop_calls"):
            calls = getattr(self, name)
            if not isinstance(calls, tuple | list) or not all(
                isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in calls
            ):
                raise ValueError(f"{name} must be a list of call numbers >= 1")
        if self.error_status not in (500, 502, 503, 504):
            raise ValueError("error_status must be one of 500, 502, 503, 504")
        if self.retry_after_seconds < 0:
            raise ValueError("retry_after_seconds must be >= 0")
        if self.delay_seconds < 0:
            raise ValueError("delay_seconds must be >= 0")

    def updated(self, **changes: object) -> FaultSettings:
        """Return a copy with `changes` applied; unknown names raise TypeError."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise TypeError(f"unknown fault setting(s): {', '.join(unknown)}")
        for name in ("error_calls", "malformed_calls", "drop_calls"):
            if isinstance(changes.get(name), list):
                changes[name] = tuple(changes[name])
        new = dataclasses.replace(self, **changes)
        new.validate()
        return new


@dataclass
class SimulatorConfig:
    """Everything that decides what the simulator serves.

    `now` fixes the simulator's notion of "current time" for the generated data
    (history window, license dates, `add_results()` default end time). Token
    lifetimes always use the real clock, because token expiry is something a test
    must be able to wait for.
    """

    username: str = "admin"
    password: str = "secret"
    seed: int = 7
    hosts: int = 20
    ssh_keys: int = 30
    days: int = 30
    results_per_day: int = 200
    pass_share: float = 0.6
    error_share: float = 0.05
    token_ttl_seconds: float = 1800.0
    refresh_ttl_seconds: float = 86400.0
    tls: bool = False
    host: str = "127.0.0.1"
    port: int = 0
    now: datetime | None = None
    cert_file: str | None = None
    admin: bool = False
    faults: FaultSettings = field(default_factory=FaultSettings)

    def validate(self) -> None:
        """Fail early, with the offending setting named, before generating data."""
        if not self.username or not self.password:
            raise ValueError("username and password must be non-empty")
        if not 1 <= self.hosts <= 1_000_000:
            raise ValueError("hosts must be between 1 and 1,000,000 (every result belongs to a host)")
        if self.ssh_keys < 0 or self.days < 0 or self.results_per_day < 0:
            raise ValueError("ssh_keys, days and results_per_day must be >= 0")
        if not 0.0 <= self.pass_share <= 1.0 or not 0.0 <= self.error_share <= 1.0:
            raise ValueError("pass_share and error_share must be between 0 and 1")
        if self.pass_share + self.error_share > 1.0:
            raise ValueError("pass_share + error_share must be <= 1")
        if self.token_ttl_seconds <= 0 or self.refresh_ttl_seconds <= 0:
            raise ValueError("token lifetimes must be > 0")
        if self.now is not None and self.now.utcoffset() is None:
            raise ValueError("now must be an aware datetime (UTC)")
        self.faults.validate()
