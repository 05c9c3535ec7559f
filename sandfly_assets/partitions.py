"""The one daily partitioning every Sandfly asset shares.

A partition is a UTC calendar day. The start date is fixed (not "now minus N days") because
partition definitions are evaluated at import time in every Dagster process; a rolling start
would differ between the webserver, the daemon and the run workers. `end_offset=1` makes
today a partition while it fills, so the sensor can request today's results.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta

import dagster as dg

DEFAULT_PARTITIONS_START_DATE = "2024-01-01"
PARTITIONS_START_ENV = "SANDFLY_PARTITIONS_START_DATE"


def partitions_start_date(environ: dict[str, str] | None = None) -> str:
    """The first day partition, from SANDFLY_PARTITIONS_START_DATE (YYYY-MM-DD) or the default."""
    env = os.environ if environ is None else environ
    raw = env.get(PARTITIONS_START_ENV, "").strip() or DEFAULT_PARTITIONS_START_DATE
    try:
        date.fromisoformat(raw)
    except ValueError as error:
        raise ValueError(f"{PARTITIONS_START_ENV} must be a date like 2024-01-01 (got {raw!r})") from error
    return raw


daily_partitions = dg.DailyPartitionsDefinition(
    start_date=partitions_start_date(),
    end_offset=1,
    timezone="UTC",
)


def day_key(instant: datetime) -> str:
    """The partition key (YYYY-MM-DD) of the UTC day an aware instant falls on."""
    return instant.astimezone(UTC).strftime("%Y-%m-%d")


def day_window(key: str) -> tuple[datetime, datetime]:
    """[start, end) of a day partition as aware UTC datetimes."""
    start = datetime.combine(date.fromisoformat(key), datetime.min.time(), tzinfo=UTC)
    return start, start + timedelta(days=1)


def last_days_keys(fetch_days: int, now: datetime | None = None) -> list[str]:
    """Keys of the last `fetch_days` day partitions, today included: the full-sync range.

    Days before the partitions' start date are dropped (they cannot be materialized).
    """
    if fetch_days < 1:
        raise ValueError(f"fetch_days must be a positive number of days (got {fetch_days})")
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    keys = [(today - timedelta(days=offset)).isoformat() for offset in range(fetch_days - 1, -1, -1)]
    first = partitions_start_date()
    return [key for key in keys if key >= first]
