"""Tests for sandfly_assets.documents: field rules, ids, timestamps and messy records."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from sandfly_assets import documents
from sandfly_assets.documents import (
    DATA_TYPE_HOSTS,
    DATA_TYPE_RESULTS,
    DATA_TYPE_SSH_KEYS,
    host_document,
    host_last_seen,
    parse_timestamp,
    result_document,
    result_time,
    ssh_key_document,
    ssh_key_last_seen,
)

SYNCED_AT = datetime(2025, 6, 2, 8, 0, 0, tzinfo=UTC)

# Example records with invented values, shaped like the v4 API's (raw forms).
RESULT_RECORD: dict = {
    "id": "88213",
    "sequence_id": 88213,
    "external_id": "20250601134529Z.3b1f0c9d8e7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c",
    "count": 1,
    "first_seen": "2025-06-01T13:45:29Z",
    "last_seen": "2025-06-01T13:45:29Z",
    "superseded": False,
    "whitelisted": False,
    "header": {
        "start_time": "2025-06-01T13:45:21Z",
        "end_time": "2025-06-01T13:45:29Z",
        "hostname": "192.0.2.21",
        "ip_addr": "192.0.2.21",
        "node_name": "web-01.example.internal",
        "host_id": "9c1e4b7a2f6d",
        "host_sequence_id": 42,
        "tags": ["prod", "web"],
    },
    "data": {
        "name": "process_running_deleted",
        "status": "alert",
        "severity": 4,
        "type": "process",
        "engine": "sandfly_engine_process",
        "tags": ["process", "attack.tactic.defense_evasion"],
        "key_data": "/dev/shm/.x/kworkerd",
        "start_time": "2025-06-01T13:45:27Z",
        "end_time": "2025-06-01T13:45:28Z",
        "results": {"process": {"name": "kworkerd", "pid": 31337}},
    },
}
RESULT_ID = "b5f3a1705f76b47076d689571a2c0dae"  # md5 of the external_id above

HOST_RECORD: dict = {
    "host_id": "9c1e4b7a2f6d8e0b3a5c7d9e1f2a4b6c8d0e2f4a6b8c0d2e4f6a8b0c2d4e6f8a",
    "id": "9c1e4b7a2f6d8e0b3a5c7d9e1f2a4b6c8d0e2f4a6b8c0d2e4f6a8b0c2d4e6f8a",
    "host_sequence_id": 42,
    "hostname": "192.0.2.21",
    "active": True,
    "first_seen_ip_addr": "192.0.2.20",
    "last_seen_ip_addr": "192.0.2.21",
    "date_first_seen": "2025-03-02T10:11:12Z",
    "date_last_seen": "2025-06-01T13:45:29Z",
    "tags": ["prod"],
    "results": {"alert": 3, "error": 0, "pass": 412, "total": 415},
    "os": {"info": {"node": "os-node.example.internal", "uptime_date": "2025-05-20T08:14:02Z"}},
    "data": {"explanation": "", "os": {"info": {"node": "web-01.example.internal"}}},
}
HOST_ID = "51f09bf8c5a36798d34297070a60118e"  # md5 of host_id

SSH_KEY_RECORD: dict = {
    "id": 17,
    "friendly_name": "amber-falcon-river",
    "key_type": "ssh-ed25519",
    "key_value": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeUserKeyFakeUserKeyFakeUserKeyFakeUs",
    "hash": {
        "sha512": (
            "f7fbba6e0636f890e56fbbf3283e524c6fa3204ae298382d624741d0"
            "dc6638326e282c41be5e4254d8820772c5518a2c5a8c0c7f7eda19594a7eb539453e1ed7"
        )
    },
    "first_seen": "2025-03-02T10:11:40Z",
    "last_seen": "2025-06-01T13:45:25Z",
    "key_tags": ["deploy"],
    "num_hosts_current": 2,
}
SSH_KEY_ID = "77826def78ba09834752e4ccb889454f"  # md5 of key_value


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


# --- parse_timestamp ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-06-01T13:45:29Z", _utc(2025, 6, 1, 13, 45, 29)),
        ("2025-06-01T13:45:29z", _utc(2025, 6, 1, 13, 45, 29)),
        ("2025-06-01T13:45:29+00:00", _utc(2025, 6, 1, 13, 45, 29)),
        ("2025-06-01T08:45:29-05:00", _utc(2025, 6, 1, 13, 45, 29)),
        ("2025-06-02T01:15:29+1130", _utc(2025, 6, 1, 13, 45, 29)),
        ("2025-06-01T15:45:29+02", _utc(2025, 6, 1, 13, 45, 29)),
        ("2025-06-01T13:45:29.5Z", _utc(2025, 6, 1, 13, 45, 29, 500000)),
        ("2025-06-01T13:45:29.123456789Z", _utc(2025, 6, 1, 13, 45, 29, 123456)),
        ("2025-06-01T13:45:29,25Z", _utc(2025, 6, 1, 13, 45, 29, 250000)),
        ("2025-06-01 13:45:29", _utc(2025, 6, 1, 13, 45, 29)),
        ("2025-06-01 13:45:29 UTC", _utc(2025, 6, 1, 13, 45, 29)),
        ("2025-06-01T13:45", _utc(2025, 6, 1, 13, 45)),
        ("2025-06-01", _utc(2025, 6, 1)),
        ("  2025-06-01T13:45:29Z  ", _utc(2025, 6, 1, 13, 45, 29)),
        (1748785529, _utc(2025, 6, 1, 13, 45, 29)),
        (1748785529.25, _utc(2025, 6, 1, 13, 45, 29, 250000)),
        (1748785529000, _utc(2025, 6, 1, 13, 45, 29)),
        ("1748785529", _utc(2025, 6, 1, 13, 45, 29)),
        ("1748785529123", _utc(2025, 6, 1, 13, 45, 29, 123000)),
    ],
)
def test_parse_timestamp_accepts_the_forms_seen_in_the_wild(value: object, expected: datetime) -> None:
    parsed = parse_timestamp(value)
    assert parsed == expected
    assert parsed.tzinfo == UTC


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "garbage",
        "2025-13-01T00:00:00Z",
        "2025-06-31T00:00:00Z",
        "2025-06-01T25:00:00Z",
        "2025-06-01T13:45:29+25:00",
        "0001-01-01T00:00:00Z",
        0,
        -5,
        True,
        float("nan"),
        float("inf"),
        10**30,
        {"time": "2025-06-01T13:45:29Z"},
        ["2025-06-01T13:45:29Z"],
    ],
)
def test_parse_timestamp_returns_none_for_missing_or_garbage(value: object) -> None:
    assert parse_timestamp(value) is None


def test_parse_timestamp_converts_datetimes_to_aware_utc() -> None:
    eastern = timezone(timedelta(hours=-5))
    assert parse_timestamp(datetime(2025, 6, 1, 8, 0, tzinfo=eastern)) == _utc(2025, 6, 1, 13)
    naive = parse_timestamp(datetime(2025, 6, 1, 8, 0))
    assert naive == _utc(2025, 6, 1, 8)
    assert naive.tzinfo == UTC


def test_format_timestamp_writes_utc_with_z_and_only_needed_fractions() -> None:
    assert documents.format_timestamp(_utc(2025, 6, 1, 13, 45, 29)) == "2025-06-01T13:45:29Z"
    assert documents.format_timestamp(_utc(2025, 6, 1, 13, 45, 29, 500)) == "2025-06-01T13:45:29.000500Z"
    plus_two = timezone(timedelta(hours=2))
    assert documents.format_timestamp(datetime(2025, 6, 1, 2, 0, tzinfo=plus_two)) == "2025-06-01T00:00:00Z"
    assert documents.format_timestamp(datetime(2025, 6, 1, 2, 0)) == "2025-06-01T02:00:00Z"


# --- the instants that decide a record's day ------------------------------------------


def test_result_time_prefers_data_end_time() -> None:
    assert result_time(RESULT_RECORD) == _utc(2025, 6, 1, 13, 45, 28)


def test_result_time_falls_back_in_order() -> None:
    record = copy.deepcopy(RESULT_RECORD)
    record["data"]["end_time"] = ""
    assert result_time(record) == _utc(2025, 6, 1, 13, 45, 29)  # header.end_time
    record["header"] = None
    record["last_seen"] = "2025-06-03T00:00:00Z"
    assert result_time(record) == _utc(2025, 6, 3)  # last_seen
    record["last_seen"] = "not a date"
    assert result_time(record) == _utc(2025, 6, 1, 13, 45, 29)  # first_seen
    record["first_seen"] = None
    assert result_time(record) is None


def test_result_time_reads_the_summary_form_with_dotted_keys() -> None:
    summary = {
        "external_id": "x",
        "data.end_time": "2025-06-01T23:59:59.999Z",
        "last_seen": "2025-06-02T00:00:01Z",
    }
    assert result_time(summary) == _utc(2025, 6, 1, 23, 59, 59, 999000)


def test_result_time_with_null_data() -> None:
    assert result_time({"data": None, "header": {"end_time": "2025-06-01T00:00:00-01:00"}}) == _utc(
        2025, 6, 1, 1
    )


def test_host_last_seen_raw_and_summary_forms() -> None:
    assert host_last_seen(HOST_RECORD) == _utc(2025, 6, 1, 13, 45, 29)
    summary = {"host_id": "h", "os_info_node": "n", "date_last_seen": "2025-06-01T13:45:29.123+00:00"}
    assert host_last_seen(summary) == _utc(2025, 6, 1, 13, 45, 29, 123000)
    assert host_last_seen({"host_id": "h", "date_last_seen": None}) is None


def test_ssh_key_last_seen() -> None:
    assert ssh_key_last_seen(SSH_KEY_RECORD) == _utc(2025, 6, 1, 13, 45, 25)
    assert ssh_key_last_seen({"id": 1, "last_seen": ""}) is None


# --- result documents -----------------------------------------------------------------


def test_result_document_full_shape() -> None:
    document = result_document(RESULT_RECORD)
    assert document == {
        "_id": RESULT_ID,
        "_source": {
            "id": RESULT_ID,
            "_timestamp": "2025-06-01T13:45:29Z",
            "@timestamp": "2025-06-01T13:45:28Z",
            "sandfly_data_type": "sandfly_results",
            "sandfly_key_data": "/dev/shm/.x/kworkerd",
            "sandfly_results": RESULT_RECORD,
            "event": {
                "kind": "alert",
                "module": "sandfly",
                "dataset": "sandfly.results",
                "id": "20250601134529Z.3b1f0c9d8e7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c",
                "severity": 4,
            },
            "rule": {"name": "process_running_deleted"},
            "host": {
                "name": "web-01.example.internal",
                "hostname": "192.0.2.21",
                "id": "9c1e4b7a2f6d",
                "ip": ["192.0.2.21"],
            },
        },
    }


def test_result_document_does_not_mutate_or_alias_the_record_top_level() -> None:
    record = copy.deepcopy(RESULT_RECORD)
    document = result_document(record)
    document["_source"]["sandfly_results"]["extra"] = 1
    assert record == RESULT_RECORD


def test_result_document_id_is_stable_across_calls() -> None:
    assert result_document(RESULT_RECORD)["_id"] == result_document(copy.deepcopy(RESULT_RECORD))["_id"]


@pytest.mark.parametrize(
    ("record", "expected_id"),
    [
        ({"external_id": "", "id": "88213", "sequence_id": 1}, "50de016246f61bd386c05e033920d998"),
        ({"external_id": None, "id": 88213}, "50de016246f61bd386c05e033920d998"),
        ({"sequence_id": 88213}, "50de016246f61bd386c05e033920d998"),
        ({"sequence_id": "1001"}, "b8c37e33defde51cf91e1e03e51657da"),
        ({"external_id": 1001}, "b8c37e33defde51cf91e1e03e51657da"),
    ],
)
def test_result_document_id_fallbacks_and_non_string_ids(record: dict, expected_id: str) -> None:
    document = result_document(record)
    assert document["_id"] == expected_id
    assert document["_source"]["id"] == expected_id


def test_result_without_any_id_raises_a_clear_value_error() -> None:
    with pytest.raises(ValueError) as raised:
        result_document({"external_id": "", "id": None, "data": {"name": "x" * 500}})
    message = str(raised.value)
    assert message.startswith(
        "cannot build a sandfly_results document: the record has no usable id "
        "(tried external_id, id, sequence_id); record: "
    )
    assert message.endswith("...")
    assert len(message) < 400


@pytest.mark.parametrize("key_data", [None, "", "   ", {"nested": 1}])
def test_result_key_data_placeholder_when_empty_or_missing(key_data: object) -> None:
    record = {"external_id": "e1", "data": {"key_data": key_data}}
    assert result_document(record)["_source"]["sandfly_key_data"] == "- no data -"
    assert result_document({"external_id": "e1"})["_source"]["sandfly_key_data"] == "- no data -"


def test_result_key_data_number_becomes_text() -> None:
    assert (
        result_document({"external_id": "e1", "data": {"key_data": 22}})["_source"]["sandfly_key_data"]
        == "22"
    )


@pytest.mark.parametrize(
    ("status", "kind"), [("alert", "alert"), ("pass", "event"), ("error", "event"), (None, "event")]
)
def test_result_event_kind(status: str | None, kind: str) -> None:
    record = {"external_id": "e1", "data": {"status": status}}
    assert result_document(record)["_source"]["event"]["kind"] == kind


@pytest.mark.parametrize(
    ("severity", "expected"), [(4, 4), ("5", 5), (3.0, 3), ("high", None), (None, None), (True, None)]
)
def test_result_event_severity_is_an_int_or_absent(severity: object, expected: int | None) -> None:
    event = result_document({"external_id": "e1", "data": {"severity": severity}})["_source"]["event"]
    assert event.get("severity") == expected
    assert ("severity" in event) is (expected is not None)


def test_result_with_null_data_and_header_is_minimal_but_valid() -> None:
    record = {"external_id": "e1", "data": None, "header": None, "last_seen": "2025-06-01T10:00:00+02:00"}
    document = result_document(record)
    assert document == {
        "_id": documents.hash_id("e1"),
        "_source": {
            "id": documents.hash_id("e1"),
            "_timestamp": "2025-06-01T08:00:00Z",
            "@timestamp": "2025-06-01T08:00:00Z",
            "sandfly_data_type": "sandfly_results",
            "sandfly_key_data": "- no data -",
            "sandfly_results": record,
            "event": {"kind": "event", "module": "sandfly", "dataset": "sandfly.results", "id": "e1"},
        },
    }


def test_result_without_any_time_has_no_timestamps() -> None:
    source = result_document({"external_id": "e1", "header": {"end_time": "garbage"}})["_source"]
    assert "@timestamp" not in source
    assert "_timestamp" not in source


def test_result_timestamps_are_normalised_to_utc() -> None:
    record = {
        "external_id": "e1",
        "header": {"end_time": "2025-06-01 09:45:29.123456789-04:00"},
        "data": {"end_time": "2025-06-01T13:45:28.5+00:00"},
    }
    source = result_document(record)["_source"]
    assert source["_timestamp"] == "2025-06-01T13:45:29.123456Z"
    assert source["@timestamp"] == "2025-06-01T13:45:28.500000Z"
    # The record itself is kept as the server sent it.
    assert source["sandfly_results"]["header"]["end_time"] == "2025-06-01 09:45:29.123456789-04:00"


@pytest.mark.parametrize(
    ("ip_addr", "expected"),
    [
        ("192.0.2.21", ["192.0.2.21"]),
        ("2001:DB8::1", ["2001:db8::1"]),
        ("web-01.example.internal", None),
        ("", None),
        (None, None),
        ("192.0.2.300", None),
    ],
)
def test_result_host_ip_only_holds_real_ip_addresses(ip_addr: object, expected: list[str] | None) -> None:
    record = {"external_id": "e1", "header": {"ip_addr": ip_addr, "node_name": "n1"}}
    host = result_document(record)["_source"]["host"]
    assert host.get("ip") == expected


def test_result_host_ids_that_are_ints_become_text() -> None:
    record = {"external_id": "e1", "header": {"host_id": 1001, "node_name": "", "hostname": None}}
    assert result_document(record)["_source"]["host"] == {"id": "1001"}


def test_result_summary_form_fields() -> None:
    summary = {
        "id": "88213",
        "sequence_id": 88213,
        "external_id": "20250601134529Z.3b1f0c9d8e7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c",
        "data.status": "alert",
        "data.name": "process_running_deleted",
        "data.severity": 4,
        "data.key_data": "/tmp/x",
        "data.end_time": "2025-06-01T13:45:28Z",
        "header.node_name": "web-01",
        "header.ip_addr": "192.0.2.21",
    }
    source = result_document(summary)["_source"]
    assert source["sandfly_key_data"] == "/tmp/x"
    assert source["@timestamp"] == "2025-06-01T13:45:28Z"
    assert source["_timestamp"] == "2025-06-01T13:45:28Z"
    assert source["event"]["kind"] == "alert"
    assert source["event"]["severity"] == 4
    assert source["rule"] == {"name": "process_running_deleted"}
    assert source["host"] == {"name": "web-01", "ip": ["192.0.2.21"]}


# --- host documents -------------------------------------------------------------------


def test_host_document_full_shape() -> None:
    assert host_document(HOST_RECORD, SYNCED_AT) == {
        "_id": HOST_ID,
        "_source": {
            "id": HOST_ID,
            "_timestamp": "2025-06-02T08:00:00Z",
            "@timestamp": "2025-06-01T13:45:29Z",
            "sandfly_data_type": "sandfly_hosts",
            "sandfly_key_data": "web-01.example.internal (192.0.2.21)",
            "sandfly_hosts": HOST_RECORD,
            "event": {"kind": "state", "module": "sandfly", "dataset": "sandfly.hosts"},
            "host": {
                "name": "web-01.example.internal",
                "hostname": "192.0.2.21",
                "id": HOST_RECORD["host_id"],
                "ip": ["192.0.2.21", "192.0.2.20"],
            },
        },
    }


def test_host_node_name_fallbacks() -> None:
    record = {"host_id": "h1", "hostname": "db-02", "data": None, "os": {"info": {"node": "os-node"}}}
    assert host_document(record, SYNCED_AT)["_source"]["sandfly_key_data"] == "os-node (db-02)"
    summary = {"host_id": "h1", "hostname": "192.0.2.9", "os_info_node": "summary-node"}
    assert host_document(summary, SYNCED_AT)["_source"]["sandfly_key_data"] == "summary-node (192.0.2.9)"
    bare = {"host_id": "h1", "hostname": "192.0.2.9", "data": {"os": None}, "os": None}
    assert host_document(bare, SYNCED_AT)["_source"]["sandfly_key_data"] == "<unknown> (192.0.2.9)"
    nameless = {"host_id": "h1"}
    assert host_document(nameless, SYNCED_AT)["_source"]["sandfly_key_data"] == "<unknown> (<unknown>)"


def test_host_with_data_null_like_the_connector_tests() -> None:
    record = {"host_id": "1001", "hostname": "192.168.11.10", "data": None}
    document = host_document(record, SYNCED_AT)
    assert document == {
        "_id": "b8c37e33defde51cf91e1e03e51657da",
        "_source": {
            "id": "b8c37e33defde51cf91e1e03e51657da",
            "_timestamp": "2025-06-02T08:00:00Z",
            "@timestamp": "2025-06-02T08:00:00Z",  # never seen: the sync time
            "sandfly_data_type": "sandfly_hosts",
            "sandfly_key_data": "<unknown> (192.168.11.10)",
            "sandfly_hosts": record,
            "event": {"kind": "state", "module": "sandfly", "dataset": "sandfly.hosts"},
            "host": {"hostname": "192.168.11.10", "id": "1001", "ip": ["192.168.11.10"]},
        },
    }


@pytest.mark.parametrize(
    ("record", "expected_id"),
    [
        ({"host_id": 1001}, "b8c37e33defde51cf91e1e03e51657da"),
        ({"host_id": "", "id": "1001"}, "b8c37e33defde51cf91e1e03e51657da"),
        ({"host_id": None, "hostname": "192.0.2.21"}, "0def56b885b7865eb61d277ce7a6b2d5"),
    ],
)
def test_host_id_fallbacks(record: dict, expected_id: str) -> None:
    assert host_document(record, SYNCED_AT)["_id"] == expected_id


def test_host_without_any_id_raises() -> None:
    with pytest.raises(
        ValueError, match=r"^cannot build a sandfly_hosts document: .*\(tried host_id, id, hostname\)"
    ):
        host_document({"host_id": "", "hostname": None, "active": True}, SYNCED_AT)


def test_host_ips_skip_hostnames_and_duplicates() -> None:
    record = {
        "host_id": "h1",
        "hostname": "web-01.example.internal",
        "last_seen_ip_addr": "192.0.2.21",
        "first_seen_ip_addr": "192.0.2.21",
    }
    assert host_document(record, SYNCED_AT)["_source"]["host"]["ip"] == ["192.0.2.21"]
    no_ips = {"host_id": "h1", "hostname": "web-01", "last_seen_ip_addr": None, "first_seen_ip_addr": ""}
    assert "ip" not in host_document(no_ips, SYNCED_AT)["_source"]["host"]


def test_host_timestamps_from_odd_date_last_seen() -> None:
    record = {"host_id": "h1", "date_last_seen": "2025-06-01T23:30:00.1234-02:00"}
    source = host_document(record, SYNCED_AT)["_source"]
    assert source["@timestamp"] == "2025-06-02T01:30:00.123400Z"
    assert source["_timestamp"] == "2025-06-02T08:00:00Z"


# --- SSH key documents ----------------------------------------------------------------


def test_ssh_key_document_full_shape() -> None:
    assert ssh_key_document(SSH_KEY_RECORD, SYNCED_AT) == {
        "_id": SSH_KEY_ID,
        "_source": {
            "id": SSH_KEY_ID,
            "_timestamp": "2025-06-02T08:00:00Z",
            "@timestamp": "2025-06-01T13:45:25Z",
            "sandfly_data_type": "sandfly_ssh_keys",
            "sandfly_key_data": "amber-falcon-river",
            "sandfly_ssh_keys": SSH_KEY_RECORD,
            "event": {"kind": "state", "module": "sandfly", "dataset": "sandfly.ssh_keys"},
        },
    }


@pytest.mark.parametrize(
    ("record", "expected_id"),
    [
        (
            {"key_value": "", "hash": {"sha512": SSH_KEY_RECORD["hash"]["sha512"]}, "id": 17},
            "14eb2de855d06423cdbc0567a41bb20d",
        ),
        ({"key_value": None, "hash": None, "id": 17}, "70efdf2ec9b086079795c442636b55fb"),
        ({"id": "17"}, "70efdf2ec9b086079795c442636b55fb"),
    ],
)
def test_ssh_key_id_fallbacks(record: dict, expected_id: str) -> None:
    assert ssh_key_document(record, SYNCED_AT)["_id"] == expected_id


def test_ssh_key_without_any_id_raises() -> None:
    with pytest.raises(
        ValueError, match=r"^cannot build a sandfly_ssh_keys document: .*\(tried key_value, hash.sha512, id\)"
    ):
        ssh_key_document({"friendly_name": "lonely"}, SYNCED_AT)


def test_ssh_key_never_seen_uses_sync_time_and_placeholder_name() -> None:
    source = ssh_key_document({"id": 3, "last_seen": None, "friendly_name": ""}, SYNCED_AT)["_source"]
    assert source["@timestamp"] == "2025-06-02T08:00:00Z"
    assert source["sandfly_key_data"] == "- no data -"


# --- output is plain JSON -------------------------------------------------------------


def test_every_document_round_trips_through_json() -> None:
    built = [
        result_document(RESULT_RECORD),
        result_document({"external_id": 7, "data": None, "header": None}),
        host_document(HOST_RECORD, SYNCED_AT),
        host_document({"host_id": 5, "data": None, "os": None}, SYNCED_AT),
        ssh_key_document(SSH_KEY_RECORD, SYNCED_AT),
        ssh_key_document({"id": 9}, SYNCED_AT),
    ]
    for document in built:
        assert json.loads(json.dumps(document, allow_nan=False)) == document
    assert [doc["_source"]["sandfly_data_type"] for doc in built] == [
        DATA_TYPE_RESULTS,
        DATA_TYPE_RESULTS,
        DATA_TYPE_HOSTS,
        DATA_TYPE_HOSTS,
        DATA_TYPE_SSH_KEYS,
        DATA_TYPE_SSH_KEYS,
    ]
