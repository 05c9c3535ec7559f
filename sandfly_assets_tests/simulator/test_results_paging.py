"""Keyset and page paging, getMaxID, late commits, record shape and determinism."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime, timedelta

from sandfly_assets.simulator import SandflySimulator

from .conftest import NOW, ApiClient, make_config

STRICT_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$")
EXTERNAL_ID = re.compile(r"^\d{14}Z\.[0-9a-f]{40}$")


def keyset(
    api: ApiClient, after: int, high: int | None, size: int, extra: list[dict] | None = None
) -> list[int]:
    """Page with `sequence_id > last` (and `<= high`), ascending, until more_results is false."""
    seen: list[int] = []
    last = after
    while True:
        items = [{"field": "sequence_id", "operator": ">", "value": last}] + (extra or [])
        if high is not None:
            items.append({"field": "sequence_id", "operator": "<=", "value": high})
        response = api.search(
            {
                "size": size,
                "filter": {"items": items, "logicOperator": "and"},
                "sort": [{"field": "sequence_id", "sort": "asc"}],
            }
        )
        if response.status_code == 404:
            return seen
        payload = response.json()
        assert payload["total"] == len(payload["data"]) <= size
        seen += [record["sequence_id"] for record in payload["data"]]
        last = seen[-1]
        if not payload["more_results"]:
            return seen


def test_keyset_paging_over_2500_results_yields_each_id_once(
    shared_sim: SandflySimulator, client: ApiClient
) -> None:
    all_ids = shared_sim.result_sequence_ids(include_pass=True)
    high = all_ids[2499]
    seen = keyset(client, 0, high, 999)
    assert seen == all_ids[:2500]
    assert (
        client.search_ok(
            {"size": 1, "filter": {"items": [{"field": "sequence_id", "operator": "<=", "value": high}]}}
        )["data"][0]["sequence_id"]
        == high
    )


def test_keyset_pages_of_999_and_more_results_flags(shared_sim: SandflySimulator, client: ApiClient) -> None:
    all_ids = shared_sim.result_sequence_ids(include_pass=True)
    body = {
        "size": 999,
        "sort": [{"field": "sequence_id", "sort": "asc"}],
        "filter": {"items": [{"field": "sequence_id", "operator": "<=", "value": all_ids[1997]}]},
    }
    first = client.search_ok(body)
    assert (first["total"], first["more_results"]) == (999, True)
    body["filter"]["items"].append({"field": "sequence_id", "operator": ">", "value": all_ids[998]})
    second = client.search_ok(body)
    assert (second["total"], second["more_results"]) == (999, False)


def test_numeric_page_paging(shared_sim: SandflySimulator, client: ApiClient) -> None:
    body = {
        "size": 700,
        "filter": {"items": [{"field": "data.status", "operator": "notEquals", "value": "pass"}]},
    }
    pages = []
    page = 1
    while True:
        payload = client.search_ok({**body, "page": page})
        pages.append(payload)
        if not payload["more_results"]:
            break
        page += 1
    ids = [record["sequence_id"] for payload in pages for record in payload["data"]]
    assert ids == shared_sim.result_sequence_ids()[::-1]
    assert [payload["total"] for payload in pages] == [700, 458]


def test_get_max_id_is_a_bare_integer(shared_sim: SandflySimulator, client: ApiClient) -> None:
    response = client.get("/results/getMaxID")
    assert response.text == str(shared_sim.max_result_id())
    assert response.json() == shared_sim.result_sequence_ids(include_pass=True)[-1] == 4090


def test_late_commit_gets_higher_ids_and_an_old_end_time(
    fresh_sim: SandflySimulator, fresh_client: ApiClient
) -> None:
    old_max = fresh_sim.max_result_id()
    day = datetime(2026, 12, 8, tzinfo=NOW.tzinfo)
    before = fresh_sim.count_results(
        end_time_from=day, end_time_before=day + timedelta(days=1), include_pass=True
    )
    ids = fresh_sim.add_results(4, end_time=day + timedelta(hours=6), status="alert")
    assert ids == [old_max + 1, old_max + 2, old_max + 3, old_max + 4]
    assert fresh_client.get("/results/getMaxID").json() == old_max + 4
    after = fresh_sim.count_results(
        end_time_from=day, end_time_before=day + timedelta(days=1), include_pass=True
    )
    assert after == before + 4
    window = [
        {"field": "data.end_time", "operator": "onOrAfter", "value": "2026-12-08T00:00:00Z"},
        {"field": "data.end_time", "operator": "before", "value": "2026-12-09T00:00:00Z"},
    ]
    assert keyset(fresh_client, old_max, None, 999, window) == ids
    record = fresh_client.get(f"/results/{ids[0]}").json()
    assert (record["data"]["end_time"], record["data"]["status"]) == ("2026-12-08T06:00:00Z", "alert")


def test_new_results_default_to_now(fresh_sim: SandflySimulator) -> None:
    ids = fresh_sim.add_results(3)
    assert fresh_sim.result_sequence_ids(end_time_from=NOW, include_pass=True) == ids


def test_admin_endpoint_adds_results(fresh_sim: SandflySimulator, fresh_client: ApiClient) -> None:
    old_max = fresh_sim.max_result_id()
    response = fresh_client.post("/_sim/results", json={"count": 5, "end_time": "2026-12-09T08:00:00Z"})
    assert response.json() == {
        "count": 5,
        "first_sequence_id": old_max + 1,
        "last_sequence_id": old_max + 5,
        "max_id": old_max + 5,
    }
    assert fresh_client.post("/_sim/results", json={"count": 0}).status_code == 400
    assert ApiClient(fresh_sim.url).post("/_sim/results", json={"count": 1}).status_code == 401


def test_admin_endpoints_are_off_by_default(client: ApiClient) -> None:
    assert client.post("/_sim/results", json={"count": 1}).status_code == 404


def test_late_commits_are_found_by_day_windows_at_scale() -> None:
    """Zone maps must not skip blocks that late commits widened."""
    with SandflySimulator(make_config(days=3, results_per_day=5000, hosts=5, ssh_keys=3)) as sim:
        day = datetime(2026, 12, 8, tzinfo=NOW.tzinfo)
        late = sim.add_results(3, end_time=day + timedelta(hours=1))
        api = ApiClient(sim.url)
        api.login()
        window = [
            {"field": "data.end_time", "operator": "onOrAfter", "value": "2026-12-08T00:00:00Z"},
            {"field": "data.end_time", "operator": "before", "value": "2026-12-09T00:00:00Z"},
        ]
        got = keyset(api, 0, None, 999, window)
        expected = sim.result_sequence_ids(
            end_time_from=day, end_time_before=day + timedelta(days=1), include_pass=True
        )
        assert got == expected
        assert got[-3:] == late
        assert len(got) == 5003


def _walk(value: object, path: str, types: dict[str, set[str]]) -> None:
    """Record the JSON type of every leaf path (list items share their list's path).

    Also checks that every date-time string is strict ISO-8601 UTC.
    """
    if isinstance(value, dict):
        for key, child in value.items():
            _walk(child, f"{path}.{key}" if path else key, types)
    elif isinstance(value, list):
        for child in value:
            _walk(child, path + "[]", types)
    elif value is not None:
        types[path].add(type(value).__name__)
        if isinstance(value, str) and re.match(r"^\d{4}-\d{2}-\d{2}T", value):
            assert STRICT_TIMESTAMP.match(value), (path, value)


def test_every_field_keeps_one_json_type_and_strict_formats(client: ApiClient) -> None:
    records = client.search_ok({"size": 100_000})["data"]
    types: dict[str, set[str]] = defaultdict(set)
    for record in records:
        _walk(record, "", types)
        assert record["id"] == str(record["sequence_id"])
        assert EXTERNAL_ID.match(record["external_id"]), record["external_id"]
        for stamp in (
            record["first_seen"],
            record["last_seen"],
            record["header"]["end_time"],
            record["data"]["end_time"],
        ):
            assert STRICT_TIMESTAMP.match(stamp), stamp
        assert record["data"]["status"] in ("alert", "error", "pass")
        assert 0 <= record["data"]["severity"] <= 5
    mixed = {path: names for path, names in types.items() if len(names) > 1}
    assert mixed == {}
    assert types["data.results.process.entropy"] == {"float"}
    assert types["sequence_id"] == {"int"}


def test_alerts_carry_engine_detail_and_mitre_tags(client: ApiClient) -> None:
    records = client.search_ok(
        {
            "size": 100_000,
            "filter": {"items": [{"field": "data.status", "operator": "equals", "value": "alert"}]},
        }
    )["data"]
    kinds = {"process", "file", "directory", "user", "log", "cron", "systemd", "kernel_module", "os"}
    found = {key for record in records for key in record["data"]["results"] if key in kinds}
    assert found == kinds
    assert all(any(tag.startswith("attack.tactic.") for tag in r["data"]["tags"]) for r in records)
    assert all(any(tag.startswith("attack.id.T") for tag in r["data"]["tags"]) for r in records)
    assert {record["data"]["results"]["explanation"] != "" for record in records} == {True}


def test_same_seed_same_bytes_other_seed_other_data() -> None:
    bodies = []
    for seed in (11, 11, 12):
        with SandflySimulator(make_config(seed=seed, days=2, results_per_day=300)) as sim:
            api = ApiClient(sim.url)
            api.login()
            bodies.append(
                [
                    api.get("/hosts").content,
                    api.get("/hosts", params={"summary": "true"}).content,
                    api.get("/sshhunter/summary").content,
                    api.get("/sshhunter/key/1").content,
                    api.search({"size": 1000}).content,
                    api.search({"size": 1000, "summary": True}).content,
                ]
            )
    assert bodies[0] == bodies[1]
    assert [first == third for first, third in zip(bodies[0], bodies[2], strict=True)] == [False] * 6


def test_unfiltered_page_paging_in_both_directions(shared_sim: SandflySimulator, client: ApiClient) -> None:
    all_ids = shared_sim.result_sequence_ids(include_pass=True)
    for direction, expected in (("asc", all_ids), ("desc", all_ids[::-1])):
        seen: list[int] = []
        flags = []
        for page in (1, 2, 3, 4):
            payload = client.search_ok(
                {"size": 999, "page": page, "summary": True, "sort": [{"field": "id", "sort": direction}]}
            )
            seen += [row["sequence_id"] for row in payload["data"]]
            flags.append(payload["more_results"])
        assert seen == expected
        assert flags == [True, True, True, False]


def test_sorted_listing_sees_results_added_between_pages(
    fresh_sim: SandflySimulator, fresh_client: ApiClient
) -> None:
    body = {"size": 40, "summary": True, "sort": [{"field": "data.end_time", "sort": "desc"}]}
    first = [row["sequence_id"] for row in fresh_client.search_ok(body)["data"]]
    ids = fresh_sim.add_results(2, end_time=NOW + timedelta(minutes=5))
    again = [row["sequence_id"] for row in fresh_client.search_ok(body)["data"]]
    assert again == ids + first[:38]
