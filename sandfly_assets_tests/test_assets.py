"""The assets against the simulator over HTTP and the real local Elasticsearch: exact counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from sandfly_assets.assets import sandfly_hosts, sandfly_results, sandfly_ssh_keys
from sandfly_assets.simulator import SandflySimulator, SimulatorConfig
from sandfly_assets_tests.sync_support import (
    PASSWORD,
    USER,
    index_count,
    index_ids,
    make_resources,
    materialize_days,
    window,
)


def _day(offset: int) -> str:
    return (datetime.now(UTC) - timedelta(days=offset)).strftime("%Y-%m-%d")


@pytest.fixture(scope="module")
def sim():
    config = SimulatorConfig(
        username=USER,
        password=PASSWORD,
        seed=3,
        hosts=12,
        ssh_keys=16,
        days=10,
        results_per_day=80,
        pass_share=0.5,
        error_share=0.1,
    )
    with SandflySimulator(config) as simulator:
        yield simulator


def _metadata(result: dg.ExecuteInProcessResult, key: str) -> dict:
    events = result.asset_materializations_for_node(key)
    assert events, f"no materialization for {key}"
    return {name: value.value for name, value in events[0].metadata.items()}


def test_one_day_partition_holds_exactly_the_simulators_results(sim, es_url, es_client):
    resources = make_resources(sim.url, es_url)
    day = _day(2)
    result = materialize_days(resources, day, selection=[sandfly_results])
    assert result.success
    start, end = window(day, day)
    expected = sim.result_sequence_ids(end_time_from=start, end_time_before=end, include_pass=False)
    assert len(expected) > 0
    assert sorted(index_ids(es_client, resources, "results", "sandfly_results.sequence_id")) == sorted(
        expected
    )
    metadata = _metadata(result, "sandfly_results")
    assert metadata["records_fetched"] == len(expected)
    assert metadata["documents_written"] == len(expected)
    assert metadata["documents_failed"] == 0
    assert sum(metadata["results_by_status"].values()) == len(expected)
    assert "pass" not in metadata["results_by_status"]


@pytest.mark.parametrize("enable_pass", [False, True])
def test_a_seven_day_range_in_one_run(sim, es_url, es_client, enable_pass):
    resources = make_resources(sim.url, es_url, enable_pass=enable_pass)
    first, last = _day(7), _day(1)
    result = materialize_days(resources, first, last, selection=[sandfly_results])
    assert result.success
    start, end = window(first, last)
    expected = sim.count_results(end_time_from=start, end_time_before=end, include_pass=enable_pass)
    assert index_count(es_client, resources, "results") == expected
    metadata = _metadata(result, "sandfly_results")
    assert metadata["records_fetched"] == expected == metadata["documents_written"]
    assert len(metadata["results_by_day"]) == 7
    assert ("pass" in metadata["results_by_status"]) is enable_pass
    checks = result.get_asset_check_evaluations()
    assert {c.check_name for c in checks if c.passed} >= {"written_equals_fetched", "no_failed_documents"}


def test_writing_a_day_twice_gives_the_same_index(sim, es_url, es_client):
    resources = make_resources(sim.url, es_url)
    day = _day(3)
    first = materialize_days(resources, day, selection=[sandfly_results])
    count = index_count(es_client, resources, "results")
    second = materialize_days(resources, day, selection=[sandfly_results])
    assert first.success and second.success
    assert index_count(es_client, resources, "results") == count
    metadata = _metadata(second, "sandfly_results")
    assert metadata["documents_updated"] == count
    assert metadata["documents_created"] == 0


def test_hosts_and_keys_of_a_window_are_those_last_seen_in_it(sim, es_url, es_client):
    resources = make_resources(sim.url, es_url)
    first, last = _day(9), _day(1)  # today excluded: never-seen hosts belong to the sync day
    result = materialize_days(resources, first, last, selection=[sandfly_hosts, sandfly_ssh_keys])
    assert result.success
    start, end = window(first, last)
    expected_hosts = sorted(sim.hosts_last_seen_between(start, end))
    expected_keys = sorted(sim.ssh_keys_last_seen_between(start, end))
    assert expected_hosts and expected_keys
    assert sorted(index_ids(es_client, resources, "hosts", "sandfly_hosts.host_id")) == expected_hosts
    assert sorted(index_ids(es_client, resources, "ssh-keys", "sandfly_ssh_keys.id")) == expected_keys


def test_an_expired_license_fails_before_anything_is_written(sim, es_url, es_client):
    resources = make_resources(sim.url, es_url)
    sim.set_faults(license_expired=True)
    try:
        result = materialize_days(resources, _day(1), selection=[sandfly_results, sandfly_hosts])
    finally:
        sim.clear_faults()
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "expired on" in failure.step_failure_data.error.to_string()
    assert index_count(es_client, resources, "results") == 0
    assert index_count(es_client, resources, "hosts") == 0


def test_a_license_without_ssh_hunter_writes_no_keys_and_warns(sim, es_url, es_client):
    resources = make_resources(sim.url, es_url)
    sim.set_faults(no_ssh_hunter=True)
    try:
        result = materialize_days(resources, _day(2), _day(1), selection=[sandfly_ssh_keys])
    finally:
        sim.clear_faults()
    assert result.success
    assert index_count(es_client, resources, "ssh-keys") == 0
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks["ssh_hunter_licensed"].passed is False
    assert checks["ssh_hunter_licensed"].severity == dg.AssetCheckSeverity.WARN
