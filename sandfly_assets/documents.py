"""Sandfly records -> Elasticsearch documents (pure functions, no I/O).

A document is ``{"_id": str, "_source": dict}``. The ``_source`` has two layers:

* **Connector-compatible fields**, exactly as Elastic's Sandfly connector writes them, so
  Kibana dashboards built on the vendor mapping keep working: ``id`` (the document id),
  ``_timestamp``, ``sandfly_data_type``, ``sandfly_key_data`` and the whole record under
  ``sandfly_results`` / ``sandfly_hosts`` / ``sandfly_ssh_keys``.
* **A small ECS layer** that does not clash with the vendor mapping: ``@timestamp`` (the
  instant that decides the record's UTC day partition), ``event.*``, ``rule.name`` and
  ``host.*``, so generic Elastic tooling (Discover, SIEM rules) understands the data.

``_id`` is the md5 hex of the record's natural id, which is what the reference connector
uses: users migrating from it update their documents in place instead of duplicating them,
and any re-run or overlapping backfill is an upsert (design invariant 1).

Real Sandfly payloads are messy (nulls, ``data: null`` on hosts, integer or string ids,
timestamps with fractions or offsets), so every accessor here is lenient and never raises,
except for a record without any usable id: that one cannot be written idempotently and is
reported by a ``ValueError`` the caller turns into a failed document.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import json
import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

DATA_TYPE_RESULTS = "sandfly_results"
DATA_TYPE_HOSTS = "sandfly_hosts"
DATA_TYPE_SSH_KEYS = "sandfly_ssh_keys"

# The connector writes this text when a result has no key data.
NO_KEY_DATA = "- no data -"
UNKNOWN_NODE = "<unknown>"

# Epoch numbers above this are milliseconds: 1e11 seconds is the year 5138.
_EPOCH_MILLIS_THRESHOLD = 100_000_000_000
# Instants before this are treated as missing: Go servers write "never" as 0001-01-01.
_EARLIEST_INSTANT = datetime(1970, 1, 2, tzinfo=UTC)
_PREVIEW_CHARS = 200

_TIMESTAMP_RE = re.compile(
    r"""^(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})
        (?:[Tt\ ](?P<hour>\d{2}):(?P<minute>\d{2})
           (?::(?P<second>\d{2})(?:[.,](?P<fraction>\d+))?)?
        )?
        \s*(?P<zone>[Zz]|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?$""",
    re.VERBOSE,
)
_EPOCH_RE = re.compile(r"^-?\d+(?:\.\d+)?$")


# --- timestamps -----------------------------------------------------------------------


def parse_timestamp(value: object) -> datetime | None:
    """Parse a Sandfly timestamp leniently into an aware UTC datetime, or None.

    Sandfly documents ``%Y-%m-%dT%H:%M:%SZ`` but integrations also meet fractions of any
    length, numeric offsets, a space instead of ``T`` and epoch numbers; the reference
    connector crashes on those, we accept them. Anything unparseable is None, never an
    exception, because one odd field must not sink a whole sync.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, datetime):
        parsed = value if value.tzinfo else value.replace(tzinfo=UTC)
        return _plausible(parsed.astimezone(UTC))
    if isinstance(value, int | float):
        return _from_epoch(float(value))
    if isinstance(value, str):
        return _parse_timestamp_text(value.strip())
    return None


def _parse_timestamp_text(text: str) -> datetime | None:
    """Parse the string forms: ISO-8601 variants or an epoch number written as text.

    ``datetime.fromisoformat`` (C, about 30 times faster than the pattern) takes Sandfly's
    own form and most variants; the pattern takes what it refuses (``UTC``/``GMT`` zones,
    comma fractions, a space before the zone). This runs twice per result: it matters.
    """
    if not text:
        return None
    if _EPOCH_RE.match(text):
        return _from_epoch(float(text))
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return _parse_timestamp_pattern(text)
    try:
        utc = parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        return None
    return _plausible(utc)


def _parse_timestamp_pattern(text: str) -> datetime | None:
    """The lenient pattern for the ISO-8601 variants ``fromisoformat`` refuses."""
    match = _TIMESTAMP_RE.match(text)
    if match is None:
        return None
    parts = match.groupdict()
    fraction = (parts["fraction"] or "0")[:6].ljust(6, "0")
    try:
        parsed = datetime(
            int(parts["year"]),
            int(parts["month"]),
            int(parts["day"]),
            int(parts["hour"] or 0),
            int(parts["minute"] or 0),
            int(parts["second"] or 0),
            int(fraction),
            tzinfo=UTC,
        )
        return _plausible(parsed - _zone_offset(parts["zone"]))
    except (ValueError, OverflowError):
        return None


def _zone_offset(zone: str | None) -> timedelta:
    """Offset of a zone designator; a missing zone means UTC (Sandfly's documented zone)."""
    if zone is None or zone.upper() in ("Z", "UTC", "GMT"):
        return timedelta(0)
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError(f"invalid UTC offset {zone!r}")
    return sign * timedelta(hours=hours, minutes=minutes)


def _from_epoch(number: float) -> datetime | None:
    """Epoch seconds, or milliseconds when the number is too large to be seconds."""
    if not math.isfinite(number):
        return None
    seconds = number / 1000 if abs(number) >= _EPOCH_MILLIS_THRESHOLD else number
    try:
        return _plausible(datetime.fromtimestamp(seconds, tz=UTC))
    except (ValueError, OverflowError, OSError):
        return None


def _plausible(moment: datetime) -> datetime | None:
    """Drop zero-ish instants (Go's zero time, epoch 0): they mean "never", not 1970."""
    return moment if moment >= _EARLIEST_INSTANT else None


def format_timestamp(moment: datetime) -> str:
    """ISO-8601 UTC with a ``Z``: the form Sandfly itself writes and ES parses natively."""
    utc = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    # isoformat omits zero microseconds, as Sandfly does; it is C and twice as fast as strftime.
    return utc.replace(tzinfo=None).isoformat() + "Z"


def _format_optional(moment: datetime | None) -> str | None:
    return format_timestamp(moment) if moment is not None else None


# --- field access ---------------------------------------------------------------------


def get_path(record: object, path: str) -> object:
    """Value at a dotted path, or None when any step is missing or not an object.

    Also accepts the summary forms, whose keys literally contain dots
    (``{"data.status": "alert"}``), so one accessor serves both API shapes.
    """
    if not _is_mapping(record):
        return None
    if path in record:
        return record[path]
    node: object = record
    for step in path.split("."):
        if not _is_mapping(node):
            return None
        node = node.get(step)
    return node


def _is_mapping(value: object) -> bool:
    """``isinstance(value, Mapping)``, with a shortcut for the plain dicts JSON decodes to:
    the ABC check costs more than the lookup it guards, several times per record."""
    return type(value) is dict or isinstance(value, Mapping)


def _first_timestamp(record: Mapping, paths: Iterable[str]) -> datetime | None:
    """The first of ``paths`` that holds a parseable timestamp (empty values fall through)."""
    for path in paths:
        moment = parse_timestamp(get_path(record, path))
        if moment is not None:
            return moment
    return None


def _text(value: object) -> str | None:
    """A non-empty string form of a scalar, or None for null, empty, bools and containers."""
    if type(value) is str:  # the common case, without the ABC checks below
        return value.strip() or None
    if value is None or isinstance(value, bool | Mapping | list | tuple | set):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    text = str(value).strip()
    return text or None


def _first_text(record: Mapping, paths: Iterable[str]) -> str | None:
    for path in paths:
        text = _text(get_path(record, path))
        if text is not None:
            return text
    return None


def _as_int(value: object) -> int | None:
    """An integer from an int, an integral float or a numeric string; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    return None


def _ip_addresses(values: Iterable[object]) -> list[str]:
    """The values that are IP addresses, normalised and de-duplicated in order.

    ``host.ip`` is mapped as ``ip``: one hostname in it would reject the whole document,
    so only what ``ipaddress`` accepts goes in.
    """
    addresses: list[str] = []
    for value in values:
        text = _text(value)
        address = _normal_ip(text) if text is not None else None
        if address is not None and address not in addresses:
            addresses.append(address)
    return addresses


@functools.lru_cache(maxsize=65536)
def _normal_ip(text: str) -> str | None:
    """The normal form of an IP address, or None. Cached: a fleet has few addresses, and
    ``ipaddress`` costs about 5 us a call, once or twice per result."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


# --- ids ------------------------------------------------------------------------------


def hash_id(value: object) -> str:
    """md5 hex of the string form: the reference connector's document id scheme.

    md5 is an identifier here, not a security control.
    """
    return hashlib.md5(str(value).encode("utf-8"), usedforsecurity=False).hexdigest()


def _document_id(record: Mapping, data_type: str, paths: tuple[str, ...]) -> str:
    """Hash of the first usable natural id, or a ValueError naming what is missing."""
    natural_id = _first_text(record, paths)
    if natural_id is None:
        raise ValueError(
            f"cannot build a {data_type} document: the record has no usable id "
            f"(tried {', '.join(paths)}); record: {_preview(record)}"
        )
    return hash_id(natural_id)


def _preview(record: object) -> str:
    """A short, single-line view of a record for error messages."""
    try:
        text = json.dumps(record, default=str, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(record)
    return text if len(text) <= _PREVIEW_CHARS else text[:_PREVIEW_CHARS] + "..."


# --- the instants that decide a record's day ------------------------------------------


def result_time(record: Mapping) -> datetime | None:
    """The instant that decides a result's UTC day partition.

    The sandfly's own end time first (when the finding was made), then the scan's end
    time, then when the server last or first saw the finding.
    """
    return _first_timestamp(record, ("data.end_time", "header.end_time", "last_seen", "first_seen"))


def host_last_seen(record: Mapping) -> datetime | None:
    """When the host was last seen: ``date_last_seen`` in both the raw and summary forms."""
    return parse_timestamp(get_path(record, "date_last_seen"))


def ssh_key_last_seen(record: Mapping) -> datetime | None:
    """When SSH Hunter last saw the key."""
    return parse_timestamp(get_path(record, "last_seen"))


# --- documents ------------------------------------------------------------------------


def result_document(record: Mapping) -> dict:
    """A scan result as a document; its day is ``@timestamp`` (see ``result_time``)."""
    doc_id = _document_id(record, DATA_TYPE_RESULTS, ("external_id", "id", "sequence_id"))
    moment = result_time(record)
    header_end = parse_timestamp(get_path(record, "header.end_time"))
    status = _text(get_path(record, "data.status"))
    source: dict = {
        "id": doc_id,
        # The connector writes header.end_time; fall back so Kibana's time filter finds it.
        "_timestamp": _format_optional(header_end or moment),
        "sandfly_data_type": DATA_TYPE_RESULTS,
        "sandfly_key_data": _text(get_path(record, "data.key_data")) or NO_KEY_DATA,
        DATA_TYPE_RESULTS: dict(record),
        "event": _drop_none(
            {
                "kind": "alert" if status == "alert" else "event",
                "module": "sandfly",
                "dataset": "sandfly.results",
                "id": _text(get_path(record, "external_id")),
                "severity": _as_int(get_path(record, "data.severity")),
            }
        ),
        "host": _host_fields(
            name=_text(get_path(record, "header.node_name")),
            hostname=_text(get_path(record, "header.hostname")),
            host_id=_text(get_path(record, "header.host_id")),
            ips=_ip_addresses([get_path(record, "header.ip_addr")]),
        ),
    }
    rule_name = _text(get_path(record, "data.name"))
    if rule_name is not None:
        source["rule"] = {"name": rule_name}
    return _document(doc_id, source, moment)


def host_document(record: Mapping, synced_at: datetime) -> dict:
    """A host's latest state as a document; ``@timestamp`` is when it was last seen."""
    doc_id = _document_id(record, DATA_TYPE_HOSTS, ("host_id", "id", "hostname"))
    node = _first_text(record, ("data.os.info.node", "os.info.node", "os_info_node"))
    hostname = _text(get_path(record, "hostname"))
    source: dict = {
        "id": doc_id,
        "_timestamp": format_timestamp(synced_at),
        "sandfly_data_type": DATA_TYPE_HOSTS,
        "sandfly_key_data": f"{node or UNKNOWN_NODE} ({hostname or UNKNOWN_NODE})",
        DATA_TYPE_HOSTS: dict(record),
        "event": {"kind": "state", "module": "sandfly", "dataset": "sandfly.hosts"},
        "host": _host_fields(
            name=node,
            hostname=hostname,
            host_id=_first_text(record, ("host_id", "id")),
            ips=_ip_addresses(
                [
                    get_path(record, "last_seen_ip_addr"),
                    get_path(record, "first_seen_ip_addr"),
                    hostname,
                ]
            ),
        ),
    }
    return _document(doc_id, source, host_last_seen(record) or synced_at)


def ssh_key_document(record: Mapping, synced_at: datetime) -> dict:
    """An SSH key's latest state as a document; ``@timestamp`` is when it was last seen."""
    doc_id = _document_id(record, DATA_TYPE_SSH_KEYS, ("key_value", "hash.sha512", "id"))
    source: dict = {
        "id": doc_id,
        "_timestamp": format_timestamp(synced_at),
        "sandfly_data_type": DATA_TYPE_SSH_KEYS,
        "sandfly_key_data": _text(get_path(record, "friendly_name")) or NO_KEY_DATA,
        DATA_TYPE_SSH_KEYS: dict(record),
        "event": {"kind": "state", "module": "sandfly", "dataset": "sandfly.ssh_keys"},
    }
    return _document(doc_id, source, ssh_key_last_seen(record) or synced_at)


def _host_fields(name: str | None, hostname: str | None, host_id: str | None, ips: list[str]) -> dict:
    """ECS ``host.*``; absent values are left out rather than written as null."""
    return _drop_none({"name": name, "hostname": hostname, "id": host_id, "ip": ips or None})


def _document(doc_id: str, source: dict, moment: datetime | None) -> dict:
    """Assemble the document; a record without any instant simply has no ``@timestamp``."""
    if moment is not None:
        source["@timestamp"] = format_timestamp(moment)
    if source.get("_timestamp") is None:
        source.pop("_timestamp", None)
    if not source.get("host"):
        source.pop("host", None)
    return {"_id": doc_id, "_source": source}


def _drop_none(fields: dict) -> dict:
    return {key: value for key, value in fields.items() if value is not None}
