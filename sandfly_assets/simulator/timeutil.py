"""Timestamps as integer epoch milliseconds, formatted the way the Sandfly API does.

The simulator stores every instant as an int (milliseconds since the epoch, UTC):
that keeps per-result state compact and makes comparisons exact. Only values with a
non-zero millisecond part get a fractional suffix, so most timestamps look exactly
like the real server's `%Y-%m-%dT%H:%M:%SZ`.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

DAY_MS = 86_400_000

_ISO_RE = re.compile(
    r"^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.(\d+))?)?\s*(Z|z|[+-]\d{2}:?\d{2})?$"
)


_DAY_PREFIXES: dict[int, str] = {}
_CLOCK: list[str] = []


def format_ms(ms: int) -> str:
    """Format epoch ms as ISO-8601 UTC: whole seconds unless the value has milliseconds.

    On the hot path of every page (five timestamps per result), so the date part is
    cached per day and the time of day comes from a table of all 86,400 "HH:MM:SS".
    """
    if not _CLOCK:
        _CLOCK.extend(f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86_400))
    day, rest = divmod(ms, DAY_MS)
    prefix = _DAY_PREFIXES.get(day)
    if prefix is None:
        prefix = time.strftime("%Y-%m-%dT", time.gmtime(day * 86_400))
        if len(_DAY_PREFIXES) < 100_000:
            _DAY_PREFIXES[day] = prefix
    seconds, millis = divmod(rest, 1000)
    if millis:
        return f"{prefix}{_CLOCK[seconds]}.{millis:03d}Z"
    return f"{prefix}{_CLOCK[seconds]}Z"


def parse_to_us(text: str) -> int:
    """Parse an ISO-8601 timestamp to epoch microseconds.

    Lenient on purpose (fractions of any length, `Z`, offsets, a missing zone means
    UTC, a bare date means midnight) because clients send all of these.
    Raises ValueError for anything else.
    """
    match = _ISO_RE.match(text.strip())
    if match is None:
        raise ValueError(f"not an ISO-8601 timestamp: {text!r}")
    date_part, time_part, fraction, zone = match.groups()
    clock = time_part or "00:00:00"
    if clock.count(":") == 1:
        clock += ":00"
    micro = (fraction or "0")[:6].ljust(6, "0")
    zone_text = "+00:00" if zone in (None, "Z", "z") else zone
    if len(zone_text) == 5:
        zone_text = zone_text[:3] + ":" + zone_text[3:]
    parsed = datetime.fromisoformat(f"{date_part}T{clock}.{micro}{zone_text}")
    return datetime_to_us(parsed)


def datetime_to_us(value: datetime) -> int:
    """Aware (or naive = UTC) datetime to epoch microseconds, exactly (no float rounding)."""
    if value.utcoffset() is None:
        value = value.replace(tzinfo=UTC)
    delta = value - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def datetime_to_ms(value: datetime) -> int:
    """Aware (or naive = UTC) datetime to epoch ms, truncating sub-millisecond parts."""
    return datetime_to_us(value) // 1000


def instant_to_ms(value: datetime | str | int) -> int:
    """Accept the forms tests naturally pass (datetime, ISO string, epoch ms)."""
    if isinstance(value, datetime):
        return datetime_to_ms(value)
    if isinstance(value, str):
        return parse_to_us(value) // 1000
    return int(value)


def day_start_ms(ms: int) -> int:
    """Start (00:00:00.000 UTC) of the day containing `ms`."""
    return ms - ms % DAY_MS


def real_now_ms() -> int:
    """The wall clock, in epoch ms."""
    return time.time_ns() // 1_000_000
