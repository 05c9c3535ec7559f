"""End to end over real HTTP and the real local Elasticsearch: full sync, then new results
injected into the simulator, a sensor tick, its runs, and exactly those documents searchable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg

from sandfly_assets.assets import sandfly_asset_checks, sandfly_assets
from sandfly_assets.full_sync import run_full_sync
from sandfly_assets.simulator import SandflySimulator, SimulatorConfig
from sandfly_assets_tests.sync_support import (
    PASSWORD,
    USER,
    index_count,
    index_ids,
    make_resources,
    sensor_tick,
    window,
)


def _run_requests(instance, resources, cursor):
    data = sensor_tick(resources, cursor, instance)
    for request in data.run_requests:
        selection = [a for a in sandfly_assets if a.key in set(request.asset_selection)]
        result = dg.materialize(
            [*selection, *sandfly_asset_checks],
            selection=selection,
            resources=resources,
            instance=instance,
            partition_key=request.partition_key,
            run_config=request.run_config,
            tags=request.tags,
            raise_on_error=False,
        )
        assert result.success, request.run_key
    return data


def test_full_sync_then_sensor_driven_incrementals(es_url, es_client):
    config = SimulatorConfig(
        username=USER,
        password=PASSWORD,
        seed=21,
        hosts=8,
        ssh_keys=10,
        days=6,
        results_per_day=50,
    )
    with SandflySimulator(config) as sim:
        resources = make_resources(sim.url, es_url)
        instance = dg.DagsterInstance.ephemeral()
        now = datetime.now(UTC)
        assert run_full_sync(instance, resources=resources, fetch_days=5, now=now).success
        first_day = (now - timedelta(days=4)).strftime("%Y-%m-%d")
        start, end = window(first_day, now.strftime("%Y-%m-%d"))
        synced = set(sim.result_sequence_ids(end_time_from=start, end_time_before=end, include_pass=False))
        assert set(index_ids(es_client, resources, "results", "sandfly_results.sequence_id")) == synced

        first_tick = _run_requests(instance, resources, None)
        new_now = sim.add_results(5, end_time=datetime.now(UTC), status="alert")
        new_late = sim.add_results(4, end_time=datetime.now(UTC) - timedelta(days=3), status="error")
        new_pass = sim.add_results(3, end_time=datetime.now(UTC), status="pass")
        second_tick = _run_requests(instance, resources, first_tick.cursor)
        assert len([r for r in second_tick.run_requests if r.run_key.startswith("results:")]) == 2

        indexed = index_ids(es_client, resources, "results", "sandfly_results.sequence_id")
        assert len(indexed) == len(set(indexed))
        assert set(indexed) == synced | set(new_now) | set(new_late)
        assert not set(new_pass) & set(indexed)
        third_tick = _run_requests(instance, resources, second_tick.cursor)
        assert third_tick.run_requests == []
        assert index_count(es_client, resources, "results") == len(synced) + 9
