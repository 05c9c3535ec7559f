"""`POST /results` filters, both dialects, sorting and errors, checked against ground truth.

Expected values come either from the simulator's ground-truth helpers (a plain
loop over stored state) or from filtering the unfiltered listing in Python, never
from the filter engine under test.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from sandfly_assets.simulator import SandflySimulator

from .conftest import NOW, ApiClient

DAY = datetime(2026, 11, 20, tzinfo=NOW.tzinfo)


@pytest.fixture(scope="module")
def records(shared_sim: SandflySimulator) -> Iterator[list[dict]]:
    """Every result, in ascending sequence order, fetched once without any filter."""
    api = ApiClient(shared_sim.url)
    api.login()
    payload = api.search_ok({"size": 100_000, "sort": [{"field": "sequence_id", "sort": "asc"}]})
    yield payload["data"]
    api.close()


def _instant(text: str) -> datetime:
    """Parse an API timestamp (string comparison would misorder `...59.999Z` and `...59Z`)."""
    return datetime.fromisoformat(text)


def documented(*items: tuple[str, str, object], logic: str = "and") -> dict:
    """A filter in the documented dialect."""
    return {
        "filter": {
            "items": [
                {"field": field, "operator": operator, "value": value} for field, operator, value in items
            ],
            "logicOperator": logic,
        }
    }


def legacy(*items: tuple[str, str, object], logic: str = "and") -> dict:
    """The same filter in the legacy dialect every shipped integration uses."""
    return {
        "filter": {
            "items": [
                {"columnField": field, "operatorValue": operator, "value": value}
                for field, operator, value in items
            ],
            "linkoperator": logic,
        }
    }


def test_listing_holds_every_result(shared_sim: SandflySimulator, records: list[dict]) -> None:
    assert [record["sequence_id"] for record in records] == shared_sim.result_sequence_ids(include_pass=True)
    assert len(records) == 3000


@pytest.mark.parametrize(
    ("operator", "keep"),
    [
        (">", lambda seq, pivot: seq > pivot),
        (">=", lambda seq, pivot: seq >= pivot),
        ("<", lambda seq, pivot: seq < pivot),
        ("<=", lambda seq, pivot: seq <= pivot),
        ("=", lambda seq, pivot: seq == pivot),
        ("equals", lambda seq, pivot: seq == pivot),
        ("!=", lambda seq, pivot: seq != pivot),
    ],
)
def test_sequence_id_operators(client: ApiClient, records: list[dict], operator: str, keep: object) -> None:
    pivot = records[1234]["sequence_id"]
    expected = [record["sequence_id"] for record in records if keep(record["sequence_id"], pivot)]
    sort = {"sort": [{"field": "sequence_id", "sort": "asc"}]}
    assert client.search_ids({**documented(("sequence_id", operator, pivot)), **sort}) == expected
    assert client.search_ids({**legacy(("sequence_id", operator, str(pivot))), **sort}) == expected


def test_sequence_id_range_matches_ground_truth(shared_sim: SandflySimulator, client: ApiClient) -> None:
    low, high = 1500, 2600
    body = documented(
        ("sequence_id", ">", low), ("sequence_id", "<=", high), ("data.status", "notEquals", "pass")
    )
    expected = shared_sim.result_sequence_ids(after_sequence_id=low, max_sequence_id=high)
    assert sorted(client.search_ids(body)) == expected
    assert len(expected) == shared_sim.count_results(after_sequence_id=low, max_sequence_id=high)


@pytest.mark.parametrize(
    ("operator", "value", "keep"),
    [
        ("equals", "alert", lambda status: status == "alert"),
        ("is", "error", lambda status: status == "error"),
        ("notEquals", "pass", lambda status: status != "pass"),
        ("not", "alert", lambda status: status != "alert"),
        ("equals", "ALERT", lambda status: status == "alert"),
    ],
)
def test_status_operators(
    client: ApiClient, records: list[dict], operator: str, value: str, keep: object
) -> None:
    expected = sorted(record["sequence_id"] for record in records if keep(record["data"]["status"]))
    assert sorted(client.search_ids(documented(("data.status", operator, value)))) == expected
    assert sorted(client.search_ids(legacy(("data.status", operator, value)))) == expected


def test_status_shares_and_not_pass_ground_truth(shared_sim: SandflySimulator, client: ApiClient) -> None:
    not_pass = client.search_ids(documented(("data.status", "notEquals", "pass")))
    assert len(not_pass) == shared_sim.count_results() == 1158
    counts = Counter(
        record["data.status"] for record in client.search_ok({"size": 100_000, "summary": True})["data"]
    )
    assert counts == {"pass": 1842, "alert": 992, "error": 166}


@pytest.mark.parametrize(
    ("items", "start", "before"),
    [
        (
            [
                ("data.end_time", "onOrAfter", "2026-11-20T00:00:00Z"),
                ("data.end_time", "before", "2026-11-21T00:00:00Z"),
            ],
            DAY,
            DAY + timedelta(days=1),
        ),
        (
            [
                ("data.end_time", "after", "2026-11-19T23:59:59.999Z"),
                ("data.end_time", "onOrBefore", "2026-11-20T23:59:59.999Z"),
            ],
            DAY,
            DAY + timedelta(days=1),
        ),
        (
            [
                ("data.end_time", "after", "2026-11-20T00:00:00Z"),
                ("data.end_time", "before", "2026-11-20T23:59:59.999Z"),
            ],
            DAY + timedelta(milliseconds=1),
            DAY + timedelta(days=1, milliseconds=-1),
        ),
        (
            [
                ("data.end_time", "onOrAfter", "2026-11-20T01:00:00+01:00"),
                ("data.end_time", "before", "2026-11-21T00:00:00.000000Z"),
            ],
            DAY,
            DAY + timedelta(days=1),
        ),
        (
            [("data.end_time", "onOrAfter", "2026-12-09T00:00:00Z")],
            datetime(2026, 12, 9, tzinfo=NOW.tzinfo),
            None,
        ),
    ],
)
def test_end_time_operators_compare_full_timestamps(
    shared_sim: SandflySimulator, client: ApiClient, items: list, start: datetime, before: datetime | None
) -> None:
    expected = shared_sim.result_sequence_ids(end_time_from=start, end_time_before=before, include_pass=True)
    assert sorted(client.search_ids(documented(*items))) == expected
    assert sorted(client.search_ids(legacy(*items))) == expected
    assert len(expected) > 0


def test_day_boundaries_have_results_at_midnight_and_last_millisecond(records: list[dict]) -> None:
    ends = Counter(record["data"]["end_time"] for record in records)
    assert ends["2026-11-20T00:00:00Z"] >= 2
    assert ends["2026-11-20T23:59:59.999Z"] == 2
    assert ends["2026-11-20T23:59:59Z"] >= 1


def test_end_time_is_and_not(client: ApiClient, records: list[dict]) -> None:
    stamp = "2026-11-20T23:59:59.999Z"
    expected = sorted(record["sequence_id"] for record in records if record["data"]["end_time"] == stamp)
    assert sorted(client.search_ids(documented(("data.end_time", "is", stamp)))) == expected
    assert len(client.search_ids(documented(("data.end_time", "not", stamp)))) == len(records) - len(expected)


@pytest.mark.parametrize(
    ("field", "operator", "value", "keep"),
    [
        ("data.name", "contains", "process", lambda r: "process" in r["data"]["name"]),
        ("data.name", "startsWith", "user_", lambda r: r["data"]["name"].startswith("user_")),
        ("data.name", "endsWith", "_all", lambda r: r["data"]["name"].endswith("_all")),
        ("data.name", "notContains", "process", lambda r: "process" not in r["data"]["name"]),
        ("data.name", "notStartsWith", "recon", lambda r: not r["data"]["name"].startswith("recon")),
        ("data.name", "notEndsWith", "_all", lambda r: not r["data"]["name"].endswith("_all")),
        (
            "header.hostname",
            "startsWith",
            "10.20.0.",
            lambda r: r["header"]["hostname"].startswith("10.20.0."),
        ),
        ("data.key_data", "isEmpty", None, lambda r: r["data"]["key_data"] == ""),
        ("data.key_data", "isNotEmpty", None, lambda r: r["data"]["key_data"] != ""),
        (
            "data.tags",
            "equals",
            "attack.tactic.persistence",
            lambda r: "attack.tactic.persistence" in r["data"]["tags"],
        ),
        ("data.tags", "notContains", "attack.id.t1014", lambda r: "attack.id.T1014" not in r["data"]["tags"]),
        ("data.type", "is", "file", lambda r: r["data"]["type"] == "file"),
        ("external_id", "contains", "1120", lambda r: "1120" in r["external_id"]),
        ("data.severity", ">=", 4, lambda r: r["data"]["severity"] >= 4),
        ("count", ">", 1, lambda r: r["count"] > 1),
        ("whitelisted", "is", "true", lambda r: r["whitelisted"] is True),
        (
            "last_seen",
            "before",
            "2026-11-15T00:00:00Z",
            lambda r: _instant(r["last_seen"]) < DAY - timedelta(days=5),
        ),
    ],
)
def test_other_field_operators(
    client: ApiClient, records: list[dict], field: str, operator: str, value: object, keep: object
) -> None:
    expected = sorted(record["sequence_id"] for record in records if keep(record))
    item = (
        {"field": field, "operator": operator}
        if value is None
        else {"field": field, "operator": operator, "value": value}
    )
    assert sorted(client.search_ids({"filter": {"items": [item], "logicOperator": "and"}})) == expected
    assert 0 < len(expected) < len(records)


def test_match_hash_and_run_id_filters(client: ApiClient, records: list[dict]) -> None:
    alert = next(record for record in records if record["data"]["status"] == "alert")
    permissive = alert["data"]["results"]["match_hashes"]["permissive"]
    expected = sorted(
        record["sequence_id"]
        for record in records
        if record["data"]["results"]["match_hashes"]["permissive"] == permissive
    )
    assert (
        sorted(client.search_ids(documented(("match_hashes.permissive", "equals", permissive)))) == expected
    )
    assert len(expected) > 1
    run_id = alert["header"]["run_id"]
    same_run = sorted(record["sequence_id"] for record in records if record["header"]["run_id"] == run_id)
    assert sorted(client.search_ids(legacy(("header.run_id", "equals", run_id)))) == same_run


def test_or_logic_and_case_insensitive_logic_keys(client: ApiClient, records: list[dict]) -> None:
    expected = sorted(
        record["sequence_id"]
        for record in records
        if record["data"]["status"] == "error" or record["count"] > 30
    )
    items = [("data.status", "equals", "error"), ("count", ">", 30)]
    assert sorted(client.search_ids(documented(*items, logic="or"))) == expected
    assert sorted(client.search_ids(legacy(*items, logic="OR"))) == expected
    mixed = legacy(*items)
    mixed["filter"] = {"items": mixed["filter"]["items"], "LinkOperator": "Or"}
    assert sorted(client.search_ids(mixed)) == expected


def test_both_dialects_give_identical_pages(client: ApiClient) -> None:
    items = [("sequence_id", ">", 2000), ("data.status", "notEquals", "pass")]
    documented_body = {**documented(*items), "size": 250, "sort": [{"field": "sequence_id", "sort": "asc"}]}
    legacy_body = {**legacy(*items), "size": 250, "sort": [{"Field": "sequence_id", "sort": "asc"}]}
    first = client.search(documented_body)
    second = client.search(legacy_body)
    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    assert first.json()["total"] == 250


def test_default_sort_is_id_descending(shared_sim: SandflySimulator, client: ApiClient) -> None:
    page = client.search_ok({"size": 5})
    expected = shared_sim.result_sequence_ids(include_pass=True)[-5:][::-1]
    assert [record["sequence_id"] for record in page["data"]] == expected
    assert page["more_results"] is True


def test_sort_by_end_time_with_ties_pages_each_result_once(client: ApiClient, records: list[dict]) -> None:
    ties = Counter(record["data"]["end_time"] for record in records)
    assert max(ties.values()) >= 3
    body = {
        **documented(
            ("data.end_time", "onOrAfter", "2026-11-20T00:00:00Z"),
            ("data.end_time", "before", "2026-11-21T00:00:00Z"),
        ),
        "sort": [{"field": "data.end_time", "sort": "asc"}],
        "size": 7,
    }
    seen: list[dict] = []
    page = 1
    while True:
        payload = client.search_ok({**body, "page": page})
        seen += payload["data"]
        if not payload["more_results"]:
            break
        page += 1
    expected = [record for record in records if record["data"]["end_time"].startswith("2026-11-20")]
    assert sorted(record["sequence_id"] for record in seen) == [record["sequence_id"] for record in expected]
    keys = [(_instant(record["data"]["end_time"]), record["sequence_id"]) for record in seen]
    assert keys == sorted(keys)


def test_multi_key_sort(client: ApiClient, records: list[dict]) -> None:
    body = {
        "size": 100_000,
        "sort": [{"field": "data.severity", "sort": "desc"}, {"field": "sequence_id", "sort": "asc"}],
    }
    got = [record["sequence_id"] for record in client.search_ok(body)["data"]]
    expected = [
        r["sequence_id"] for r in sorted(records, key=lambda r: (-r["data"]["severity"], r["sequence_id"]))
    ]
    assert got == expected


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (
            {"sort": [{"field": "no_such_field", "sort": "asc"}]},
            "unknown or unsortable sort field 'no_such_field'",
        ),
        (
            {"sort": [{"field": "sequence_id", "sort": "up"}]},
            "sort direction must be 'asc' or 'desc', not 'up'",
        ),
        (documented(("no.such", "equals", "x")), "unknown filter field 'no.such'"),
        (
            documented(("sequence_id", "contains", "1")),
            "operator 'contains' is not valid for int field 'sequence_id'",
        ),
        (
            documented(("sequence_id", ">", "abc")),
            "filter on 'sequence_id' needs an integer value, not 'abc'",
        ),
        (
            {"filter": {"items": [{"field": "data.status", "operator": "equals"}]}},
            "filter on 'data.status' with operator 'equals' needs a value",
        ),
        (documented(("data.end_time", "after", "yesterday")), "not an ISO-8601 timestamp: 'yesterday'"),
        (documented(("sequence_id", ">", 1), logic="xor"), "unknown logic operator 'xor': use 'and' or 'or'"),
        ({"size": 0}, "'size' must be an integer between 1 and 100000"),
    ],
)
def test_invalid_requests_are_400(client: ApiClient, body: dict, detail: str) -> None:
    response = client.search(body)
    assert response.status_code == 400
    assert response.json() == {"status": 400, "title": "Bad Request", "detail": detail, "data": ""}


def test_no_match_is_404_no_results_found(client: ApiClient) -> None:
    response = client.search(documented(("sequence_id", ">", 10**9)))
    assert response.status_code == 404
    assert response.json() == {"status": 404, "title": "Not Found", "detail": "No results found", "data": ""}
    assert client.search({"size": 10, "page": 1000}).status_code == 404


def test_result_ids_and_time_since(
    shared_sim: SandflySimulator, client: ApiClient, records: list[dict]
) -> None:
    wanted = [records[5]["id"], records[17]["id"], "not-an-id"]
    assert sorted(client.search_ids({"result_ids": wanted})) == [
        records[5]["sequence_id"],
        records[17]["sequence_id"],
    ]
    since = client.search_ids({"time_since": "2026-12-09T00:00:00Z"})
    expected = shared_sim.result_sequence_ids(
        end_time_from=datetime(2026, 12, 9, tzinfo=NOW.tzinfo), include_pass=True
    )
    assert sorted(since) == expected


def test_summary_rows_match_full_records(client: ApiClient, records: list[dict]) -> None:
    rows = client.search_ok(
        {"size": 300, "summary": True, "sort": [{"field": "sequence_id", "sort": "asc"}]}
    )["data"]
    for row, record in zip(rows, records[:300], strict=True):
        for key, value in row.items():
            expected = record
            for part in key.split("."):
                expected = expected[part]
            assert value == expected, key
        assert len(row) == 27


def test_get_result_by_id_equals_the_listed_record(client: ApiClient, records: list[dict]) -> None:
    record = records[42]
    assert client.get(f"/results/{record['id']}").json() == record
    assert client.get("/results/999999999").status_code == 404
