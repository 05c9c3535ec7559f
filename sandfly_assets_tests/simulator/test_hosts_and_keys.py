"""Hosts (raw and summary, paging) and SSH Hunter keys (summary paging, detail)."""

from __future__ import annotations

import re
from datetime import timedelta

from sandfly_assets.simulator import SandflySimulator

from .conftest import NOW, ApiClient

HOST_SUMMARY_FIELDS = 60


def test_raw_hosts_list_every_host_with_os_twice(client: ApiClient) -> None:
    body = client.get("/hosts").json()
    hosts = body["data"]
    assert (body["total"], body["more_results"], len(hosts)) == (20, False, 20)
    seen = [host for host in hosts if host["date_last_seen"] is not None]
    assert seen, "some hosts must have been seen"
    for host in seen:
        assert host["id"] == host["host_id"]
        assert host["data"]["os"] == host["os"]
        assert host["os"]["info"]["node"] == host["data"]["os"]["info"]["node"]
        assert set(host["os"]) == {"hardware", "info", "performance", "time"}
        assert host["results"]["total"] == sum(host["results"][key] for key in ("alert", "error", "pass"))


def test_never_seen_hosts_have_null_dates_and_os(client: ApiClient) -> None:
    never = [host for host in client.get("/hosts").json()["data"] if host["date_last_seen"] is None]
    assert [host["os"] for host in never] == [None] * len(never)
    assert [host["host_id"] == host["hostname"] for host in never] == [True] * len(never)


def test_host_result_counters_add_up_to_all_results(shared_sim: SandflySimulator, client: ApiClient) -> None:
    total = sum(host["results"]["total"] for host in client.get("/hosts").json()["data"])
    assert total == shared_sim.count_results(include_pass=True) == 3000


def test_summary_paging_returns_every_host_once_in_order(client: ApiClient) -> None:
    raw_ids = [host["host_id"] for host in client.get("/hosts").json()["data"]]
    paged: list[str] = []
    flags = []
    for page in (1, 2, 3):
        body = client.get("/hosts", params={"summary": "true", "size": 8, "page": page}).json()
        assert body["total"] == len(body["data"])
        flags.append(body["more_results"])
        paged += [row["host_id"] for row in body["data"]]
    assert flags == [True, True, False]
    assert paged == raw_ids
    assert (
        len(client.get("/hosts", params={"summary": "true", "size": 8}).json()["data"][0])
        == HOST_SUMMARY_FIELDS
    )


def test_summary_page_past_the_end_is_404(client: ApiClient) -> None:
    response = client.get("/hosts", params={"summary": "true", "size": 10, "page": 3})
    assert response.status_code == 404
    assert response.json()["detail"] == "Hosts not found."


def test_host_by_id_and_by_sequence_id(client: ApiClient) -> None:
    first = client.get("/hosts").json()["data"][0]
    by_id = client.get(f"/hosts/{first['host_id']}").json()
    by_sequence = client.get(f"/hosts/{first['host_sequence_id']}").json()
    assert by_id == by_sequence == first
    summary = client.get(f"/hosts/{first['host_id']}", params={"summary": "true"}).json()
    assert summary["os_info_node"] == first["os"]["info"]["node"]
    assert client.get("/hosts/does-not-exist").status_code == 404


def test_hosts_last_seen_between_matches_the_api(shared_sim: SandflySimulator, client: ApiClient) -> None:
    hosts = client.get("/hosts").json()["data"]
    day = NOW.replace(hour=0)
    expected = [host["host_id"] for host in hosts if (host["date_last_seen"] or "").startswith("2026-12-10")]
    assert shared_sim.hosts_last_seen_between(day, day + timedelta(days=1)) == expected
    assert len(expected) >= 1
    everything = shared_sim.hosts_last_seen_between(day - timedelta(days=40), day + timedelta(days=1))
    assert everything == [host["host_id"] for host in hosts if host["date_last_seen"] is not None]


def test_ssh_key_summary_paging(client: ApiClient) -> None:
    ids: list[int] = []
    flags = []
    for page in (1, 2, 3, 4):
        body = client.get("/sshhunter/summary", params={"size": 9, "page": page}).json()
        assert body["total"] == len(body["data"])
        flags.append(body["more_results"])
        ids += [row["id"] for row in body["data"]]
    assert flags == [True, True, True, False]
    assert len(ids) == len(set(ids)) == 30
    assert ids == sorted(ids)
    everything = client.get("/sshhunter/summary").json()
    assert ([row["id"] for row in everything["data"]], everything["more_results"]) == (ids, False)


def test_ssh_key_detail_links_users_hosts_and_zones(client: ApiClient) -> None:
    host_ids = {host["host_id"] for host in client.get("/hosts").json()["data"]}
    summary = client.get("/sshhunter/summary").json()["data"][0]
    detail = client.get(f"/sshhunter/key/{summary['id']}").json()
    assert {key: detail[key] for key in summary} == summary
    assert detail["key_value"].startswith(detail["key_type"] + " AAAA")
    assert len(detail["key_users"]) == detail["num_users_current"]
    assert len(detail["key_hosts"]) == detail["num_hosts_current"]
    assert {row["host_id"] for row in detail["key_hosts"]} <= host_ids
    assert [zone["id"] for zone in detail["key_zones"]] == [
        zone["id"] for zone in detail["permitted_zones_summary"]
    ]
    assert [len(detail["hash"][name]) for name in ("md5", "sha1", "sha256", "sha512")] == [32, 40, 64, 128]


def test_ssh_key_errors(client: ApiClient) -> None:
    assert client.get("/sshhunter/key/999999").status_code == 404
    assert client.get("/sshhunter/key/abc").status_code == 400


def test_ssh_keys_last_seen_between_matches_the_api(shared_sim: SandflySimulator, client: ApiClient) -> None:
    rows = client.get("/sshhunter/summary").json()["data"]
    day = NOW.replace(hour=0)
    expected = [row["id"] for row in rows if (row["last_seen"] or "").startswith("2026-12-10")]
    assert shared_sim.ssh_keys_last_seen_between(day, day + timedelta(days=1)) == expected
    assert len(expected) >= 1


def _leaf_types(value: object, path: str, types: dict[str, set[str]]) -> None:
    """Collect the JSON type of every leaf path (null is compatible with any type).

    Host and key timestamps are always whole seconds, so each must match `...:SSZ`.
    """
    if isinstance(value, dict):
        for key, child in value.items():
            _leaf_types(child, f"{path}.{key}", types)
    elif isinstance(value, list):
        for child in value:
            _leaf_types(child, path + "[]", types)
    elif value is not None:
        types.setdefault(path, set()).add(type(value).__name__)
        if isinstance(value, str) and re.match(r"^\d{4}-\d{2}-\d{2}T", value):
            assert re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$", value), (path, value)


def test_hosts_and_keys_keep_one_json_type_per_field(client: ApiClient) -> None:
    types: dict[str, set[str]] = {}
    for host in client.get("/hosts").json()["data"]:
        _leaf_types(host, "host", types)
    for row in client.get("/hosts", params={"summary": "true"}).json()["data"]:
        _leaf_types(row, "summary", types)
    for key in client.get("/sshhunter/summary").json()["data"]:
        _leaf_types(client.get(f"/sshhunter/key/{key['id']}").json(), "key", types)
    assert {path: names for path, names in types.items() if len(names) > 1} == {}
    assert types["host.os.info.uptime_days"] == {"float"}
    assert types["summary.os_info_uptime_days"] == {"int"}
