"""Faults on the Dagster side: repeated ticks, repeated run keys, parallel runs, interrupted
backfills. Deterministic document ids make every repetition an update in place; these
scenarios check that the index ends with each document exactly once."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from sandfly_assets.assets import sandfly_results
from sandfly_assets.partitions import day_window
from sandfly_assets.sensors import SyncCursor
from sandfly_assets_tests.faults.conftest import day, error_texts, ids_in, resources, simulator
from sandfly_assets_tests.sync_support import materialize_days, sensor_tick


@pytest.fixture
def sim():
    simulator_ = simulator()
    yield simulator_
    simulator_.stop()


def run_request(res: dict, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    """Execute a sensor's run request as the daemon would: its partition and run config."""
    return materialize_days(
        res, request.partition_key, selection=[sandfly_results], run_config=request.run_config
    )


def test_two_ticks_before_the_first_run_and_every_run_twice_in_parallel(sim, es_url, es_client):
    """Both ticks see the same cursor (the first run has not finished): same run keys. All four
    requested runs (two days, each requested twice) run at once: each document once."""
    res = resources(sim.url, es_url)
    before = sim.max_result_id()
    now = datetime.now(UTC)
    sim.add_results(40, end_time=now - timedelta(days=1), status="alert")
    sim.add_results(30, end_time=now - timedelta(days=2), status="error")
    cursor = SyncCursor(before, inventory_refreshed_at=time.time(), inventory_max_id=before).dump()
    first, second = sensor_tick(res, cursor), sensor_tick(res, cursor)
    keys = sorted(r.run_key for r in first.run_requests)
    assert keys == sorted(r.run_key for r in second.run_requests)
    assert keys == [f"results:{day(2)}:{before}-{before + 70}", f"results:{day(1)}:{before}-{before + 70}"]
    assert first.cursor == second.cursor

    requests = [*first.run_requests, *second.run_requests]
    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        outcomes = list(pool.map(lambda request: run_request(res, request), requests))
    assert [outcome.success for outcome in outcomes] == [True] * 4
    indexed = ids_in(es_client, res)
    assert len(indexed) == 70 == len(set(indexed))
    assert sorted(indexed) == list(range(before + 1, before + 71))


def test_adjacent_days_materialized_in_parallel_hold_each_document_once(sim, es_url, es_client):
    """Five concurrent runs: days 1..3 and, overlapping, days 1..2 again and 2..3 as a range."""
    res = resources(sim.url, es_url, page_size=50)
    with ThreadPoolExecutor(max_workers=5) as pool:
        futures = [
            pool.submit(materialize_days, res, day(3), None, [sandfly_results]),
            pool.submit(materialize_days, res, day(2), None, [sandfly_results]),
            pool.submit(materialize_days, res, day(1), None, [sandfly_results]),
            pool.submit(materialize_days, res, day(3), day(2), [sandfly_results]),
            pool.submit(materialize_days, res, day(2), day(1), [sandfly_results]),
        ]
        outcomes = [future.result() for future in futures]
    assert [outcome.success for outcome in outcomes] == [True] * 5
    start, end = day_window(day(3))[0], day_window(day(1))[1]
    expected = sim.result_sequence_ids(end_time_from=start, end_time_before=end)
    indexed = ids_in(es_client, res)
    assert len(indexed) == len(expected) == len(set(indexed))
    assert sorted(indexed) == expected


@pytest.fixture
def month():
    """30 days x 40 results (about half pass): a full-sync-sized history, small enough to be fast."""
    simulator_ = simulator(days=30, results_per_day=40, seed=5)
    yield simulator_
    simulator_.stop()


def test_a_30_day_backfill_interrupted_by_an_outage_resumes_exactly(month, es_url, es_client):
    """The server goes down for good at data call 6 (license 1, getMaxID 2, pages 3-5 succeed):
    exactly the 3 pages of 50 fetched are written, the run fails; the rerun of the same 30 days
    completes the data with nothing twice."""
    res = resources(month.url, es_url, page_size=50, max_retries=1)
    start, end = day_window(day(29))[0], day_window(day(0))[1]
    expected = month.result_sequence_ids(end_time_from=start, end_time_before=end)
    assert len(expected) > 150
    month.set_faults(error_from_call=6)
    failed = materialize_days(res, day(29), day(0), [sandfly_results])
    assert not failed.success
    assert "POST /results failed after 2 attempts; last error: HTTP 500" in "\n".join(error_texts(failed))
    assert sorted(ids_in(es_client, res)) == expected[:150]

    month.clear_faults()
    resumed = materialize_days(res, day(29), day(0), [sandfly_results])
    assert resumed.success
    indexed = ids_in(es_client, res)
    assert len(indexed) == len(expected) == len(set(indexed))
    assert sorted(indexed) == expected
    (materialization, *_) = resumed.asset_materializations_for_node("sandfly_results")
    assert materialization.metadata["records_fetched"].value == len(expected)
    assert materialization.metadata["documents_written"].value == len(expected)


def test_a_backfill_run_as_10_days_then_an_overlapping_rest(month, es_url, es_client):
    """Days 29..20 first, then 22..0 (three days twice): the union once, nothing twice."""
    res = resources(month.url, es_url)
    assert materialize_days(res, day(29), day(20), [sandfly_results]).success
    first_part = month.result_sequence_ids(
        end_time_from=day_window(day(29))[0], end_time_before=day_window(day(20))[1]
    )
    assert sorted(ids_in(es_client, res)) == first_part
    assert materialize_days(res, day(22), day(0), [sandfly_results]).success
    expected = month.result_sequence_ids(
        end_time_from=day_window(day(29))[0], end_time_before=day_window(day(0))[1]
    )
    indexed = ids_in(es_client, res)
    assert len(indexed) == len(expected) == len(set(indexed))
    assert sorted(indexed) == expected
