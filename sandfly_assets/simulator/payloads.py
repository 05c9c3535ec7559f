"""Fixed-shape response bodies: errors, license, version, login.

Kept apart from the HTTP code so their shapes can be read against the spec in one
place.
"""

from __future__ import annotations

from .auth import Token
from .config import FaultSettings
from .timeutil import DAY_MS, day_start_ms, format_ms

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

ALL_FEATURES = (
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
)


def standard_response(status: int, detail: str) -> dict:
    """The spec's `StandardResponse` error envelope."""
    return {"status": status, "title": TITLES.get(status, "Error"), "detail": detail, "data": ""}


def license_features(faults: FaultSettings) -> list[str]:
    """Licensed features, minus those a fault switch removes."""
    removed = set()
    if faults.no_elasticsearch_replication:
        removed.add("elasticsearch_replication")
    if faults.no_ssh_hunter:
        removed.add("ssh_hunter")
    return [feature for feature in ALL_FEATURES if feature not in removed]


def license_body(now_ms: int, faults: FaultSettings, host_count: int) -> dict:
    """`GET /license`: valid for a year from now, or expired a month ago under the fault switch."""
    today = day_start_ms(now_ms)
    expiry = today - 30 * DAY_MS - 1000 if faults.license_expired else today + 365 * DAY_MS - 1000
    limits = {
        "alerts": 100000,
        "data_retention_max_hours": 2160,
        "email_notifications": 10,
        "hosts": 5000,
        "jump_hosts": 10,
        "named_queues": 10,
        "notifications": 20,
        "schedules": 50,
        "syslog_notifications": 5,
        "users": 25,
    }
    usage = dict(
        limits,
        alerts=37,
        email_notifications=1,
        hosts=host_count,
        jump_hosts=1,
        named_queues=1,
        notifications=2,
        schedules=4,
        syslog_notifications=0,
        users=3,
    )
    return {
        "version": 3,
        "license_level": 8,
        "customer": {
            "id": "cust-5e0c6a1d-sim",
            "name": "Example Corp (simulated)",
            "email": "secops@example.com",
            "website": "https://www.example.com",
        },
        "date": {
            "issued": format_ms(expiry - 730 * DAY_MS + 1000),
            "warning": format_ms(expiry - 30 * DAY_MS),
            "expiry": format_ms(expiry),
        },
        "limits": dict(limits, features=license_features(faults)),
        "usage": usage,
        "subscription": {
            "renewing": not faults.license_expired,
            "term_end": format_ms(expiry),
            "manage_url": "https://billing.example.com/manage",
            "message": "",
        },
        "online": False,
        "online_warning": False,
        "online_status": "",
    }


def version_body() -> dict:
    """`GET /version`. Says plainly that this is a simulator."""
    return {
        "version": "5.8.1",
        "build_date": "2025-06-01T00:00:00Z",
        "copyright": "sandfly_assets simulator of the Sandfly Security v4 API (not a Sandfly product)",
        "website": "https://www.sandflysecurity.com",
        "server_public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAISimulatedServerKeySimulatedServerKey00",
        "node_public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAISimulatedNodeKeySimulatedNodeKey000000",
    }


def user_body(username: str, now_ms: int, last_login_ms: int) -> dict:
    """The `User` object of the API user (a read-only replication account)."""
    return {
        "username": username,
        "full_name": "SIEM replication",
        "email": "siem@example.com",
        "roles": ["api_result_read"],
        "sso": False,
        "created_date": format_ms(day_start_ms(now_ms) - 400 * DAY_MS),
        "last_login_date": format_ms(last_login_ms),
        "last_login_ip": "127.0.0.1",
        "logins": [],
        "logins_failed": [],
        "logins_failed_count": 0,
        "password": "",
        "preferences": "",
    }


def login_body(access: Token, refresh: Token, full_details: bool, license_data: dict, now_ms: int) -> dict:
    """`POST /auth/login` and `/auth/login_refresh` responses, minimal or with `full_details`."""
    body: dict = {"access_token": access.value, "refresh_token": refresh.value}
    if not full_details:
        return body
    body.update(
        {
            "access_token_issue_date": format_ms(int(access.issued_at) * 1000),
            "access_token_expire_date": format_ms(int(access.expires_at) * 1000),
            "session_expiration_date": format_ms(int(access.session_expires_at) * 1000),
            "access_token_data": access.claims(),
            "refresh_token_issue_date": format_ms(int(refresh.issued_at) * 1000),
            "refresh_token_expire_date": format_ms(int(refresh.expires_at) * 1000),
            "refresh_token_data": refresh.claims(),
            "user": user_body(access.username, now_ms, int(access.issued_at) * 1000),
            "license": license_data,
            "llm": {"enabled": False, "results_limit": 0},
            "response_actions": {"enabled": False},
            "saved_views": [],
        }
    )
    return body
