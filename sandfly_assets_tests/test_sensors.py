"""The sync sensor through `evaluate_tick`, the daemon's own path, against the simulator."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from sandfly_assets.sensors import (
    SyncCursor,
    sensor_default_status,
    sensor_interval_seconds,
)
from sandfly_assets.simulator import SandflySimulator, SimulatorConfig
from sandfly_assets_tests.sync_support import PASSWORD, USER, make_resources, sensor_tick


@pytest.fixture
def sim():
    config = SimulatorConfig(
        username=USER, password=PASSWORD, seed=11, hosts=5, ssh_keys=5, days=5, results_per_day=30
    )
    with SandflySimulator(config) as simulator:
        yield simulator


@pytest.fixture
def resources(sim):
    return make_resources(sim.url, "http://127.0.0.1:9", enable_pass=False)


def _fresh_cursor(last_id: int) -> str:
    """A cursor at `last_id` whose inventory was refreshed just now (so only results matter)."""
    return SyncCursor(
        last_result_id=last_id, inventory_refreshed_at=time.time(), inventory_max_id=last_id
    ).dump()


def _results_requests(data):
    return [r for r in data.run_requests if r.run_key.startswith("results:")]


def test_first_tick_starts_at_the_server_head_and_refreshes_inventory(sim, resources):
    data = sensor_tick(resources, None)
    cursor = json.loads(data.cursor)
    assert cursor["last_result_id"] == sim.max_result_id()
    assert _results_requests(data) == []
    today = datetime.now(UTC).date()
    inventory_days = sorted(r.partition_key for r in data.run_requests)
    assert inventory_days == [(today - timedelta(days=1)).isoformat(), today.isoformat()]
    assert all(
        set(r.asset_selection) == {dg.AssetKey("sandfly_hosts"), dg.AssetKey("sandfly_ssh_keys")}
        for r in data.run_requests
    )


def test_no_new_results_skips(sim, resources):
    data = sensor_tick(resources, _fresh_cursor(sim.max_result_id()))
    assert data.run_requests == []
    assert "No new results" in data.skip_message


def test_new_results_over_two_days_request_two_runs_with_their_range(sim, resources):
    before = sim.max_result_id()
    now = datetime.now(UTC)
    sim.add_results(4, end_time=now, status="alert")
    sim.add_results(3, end_time=now - timedelta(days=3), status="alert")
    after = sim.max_result_id()
    assert after == before + 7

    data = sensor_tick(resources, _fresh_cursor(before))
    requests = sorted(_results_requests(data), key=lambda r: r.partition_key)
    days = [(now - timedelta(days=3)).strftime("%Y-%m-%d"), now.strftime("%Y-%m-%d")]
    assert [r.partition_key for r in requests] == days
    assert [r.run_key for r in requests] == [f"results:{day}:{before}-{after}" for day in days]
    for request in requests:
        assert request.asset_selection == [dg.AssetKey("sandfly_results")]
        assert request.run_config["ops"]["sandfly_results"]["config"] == {
            "after_sequence_id": before,
            "max_sequence_id": after,
        }
    assert [r.tags["sandfly/new_results"] for r in requests] == ["3", "4"]
    assert json.loads(data.cursor)["last_result_id"] == after


def test_pass_results_do_not_trigger_runs_unless_enabled(sim):
    before = sim.max_result_id()
    sim.add_results(5, end_time=datetime.now(UTC), status="pass")
    without_pass = sensor_tick(make_resources(sim.url, "http://127.0.0.1:9"), _fresh_cursor(before))
    assert _results_requests(without_pass) == []
    assert json.loads(without_pass.cursor)["last_result_id"] == before + 5
    with_pass_resources = make_resources(sim.url, "http://127.0.0.1:9", enable_pass=True)
    with_pass = sensor_tick(with_pass_resources, _fresh_cursor(before))
    assert [r.tags["sandfly/new_results"] for r in _results_requests(with_pass)] == ["5"]


def test_the_same_tick_twice_requests_the_same_run_keys(sim, resources):
    before = sim.max_result_id()
    sim.add_results(6, end_time=datetime.now(UTC) - timedelta(days=1), status="error")
    cursor = _fresh_cursor(before)
    first = sensor_tick(resources, cursor)
    second = sensor_tick(resources, cursor)
    assert [r.run_key for r in _results_requests(first)] == [r.run_key for r in _results_requests(second)]
    assert len(_results_requests(first)) == 1
    # and the tick after the first one's cursor has nothing to do
    assert sensor_tick(resources, first.cursor).run_requests == []


def test_a_result_before_the_first_partition_never_fails_the_tick(sim, resources):
    before = sim.max_result_id()
    sim.add_results(2, end_time=datetime(2019, 5, 1, tzinfo=UTC), status="alert")
    sim.add_results(1, end_time=datetime.now(UTC), status="alert")
    data = sensor_tick(resources, _fresh_cursor(before))
    assert [r.partition_key for r in _results_requests(data)] == [datetime.now(UTC).strftime("%Y-%m-%d")]
    assert json.loads(data.cursor)["last_result_id"] == before + 3


def test_inventory_is_refreshed_hourly_without_new_results(sim, resources):
    head = sim.max_result_id()
    stale = SyncCursor(last_result_id=head, inventory_refreshed_at=time.time() - 3601, inventory_max_id=head)
    data = sensor_tick(resources, stale.dump())
    assert len(data.run_requests) == 2
    assert all(r.run_key.startswith("inventory:") for r in data.run_requests)


def test_first_tick_after_a_full_sync_starts_at_its_upper_bound(sim, resources):
    instance = dg.DagsterInstance.ephemeral()
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            asset_key="sandfly_results",
            partition=datetime.now(UTC).strftime("%Y-%m-%d"),
            metadata={"sequence_id_upper_bound": sim.max_result_id()},
        )
    )
    bound = sim.max_result_id()
    sim.add_results(2, end_time=datetime.now(UTC), status="alert")
    data = sensor_tick(resources, None, instance=instance)
    requests = _results_requests(data)
    assert [r.run_key.split(":")[2] for r in requests] == [f"{bound}-{bound + 2}"]


def test_sensor_settings_from_environment():
    assert sensor_interval_seconds({}) == 60
    assert sensor_interval_seconds({"SANDFLY_SENSOR_INTERVAL_SECONDS": "15"}) == 15
    with pytest.raises(ValueError, match="SANDFLY_SENSOR_INTERVAL_SECONDS must be a positive"):
        sensor_interval_seconds({"SANDFLY_SENSOR_INTERVAL_SECONDS": "soon"})
    assert sensor_default_status({}) == dg.DefaultSensorStatus.STOPPED
    assert sensor_default_status({"SANDFLY_SENSOR_RUNNING": "true"}) == dg.DefaultSensorStatus.RUNNING
    with pytest.raises(ValueError, match="SANDFLY_SENSOR_RUNNING must be true or false"):
        sensor_default_status({"SANDFLY_SENSOR_RUNNING": "maybe"})
