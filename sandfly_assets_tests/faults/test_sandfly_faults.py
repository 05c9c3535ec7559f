"""Faults on the Sandfly side, through Dagster runs into the real Elasticsearch: exact counts.

Every scenario compares the index with the simulator's ground truth (`result_sequence_ids`)
and checks that no sequence id is indexed twice. Persistent faults must fail the run with a
clear message; the run after the fault is cleared must complete the data exactly.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from sandfly_assets import sandfly_resource as sandfly_resource_module
from sandfly_assets.assets import sandfly_assets, sandfly_results, sandfly_ssh_keys
from sandfly_assets.partitions import day_window
from sandfly_assets.sandfly_client import SandflyClient, SandflyRequestError
from sandfly_assets.sensors import SyncCursor
from sandfly_assets_tests.faults.conftest import (
    chain,
    day,
    error_texts,
    ids_in,
    log_messages,
    resources,
    simulator,
)
from sandfly_assets_tests.sync_support import (
    USER,
    index_count,
    materialize_days,
    sensor_tick,
)


@pytest.fixture
def sim():
    simulator_ = simulator()
    yield simulator_
    simulator_.stop()


def truth(sim, first: str, last: str | None = None, include_pass: bool = False) -> list[int]:
    """The sequence ids a sync of [first, last] must index."""
    start, end = day_window(first)[0], day_window(last or first)[1]
    return sim.result_sequence_ids(end_time_from=start, end_time_before=end, include_pass=include_pass)


def run_results(res: dict, first: str, last: str | None = None, **kwargs) -> dg.ExecuteInProcessResult:
    return materialize_days(res, first, last, selection=[sandfly_results], **kwargs)


# ------------------------------------------------------------------------------------- tokens


def test_short_lived_tokens_renewed_during_a_long_sync(es_url, es_client):
    """A 2 s token lifetime over a sync of 20 pages delayed 0.25 s each (over 5 s, so at least
    two renewals whatever the machine's speed): several tokens, every result once."""
    sim = simulator(token_ttl_seconds=2.0, days=3, results_per_day=100, pass_share=0.0)
    try:
        sim.set_faults(delay_seconds=0.25)
        res = resources(sim.url, es_url, page_size=15)
        result = run_results(res, day(2), day(0))
        assert result.success
        expected = truth(sim, day(2), day(0))
        assert len(expected) == 300
        indexed = ids_in(es_client, res)
        assert sorted(indexed) == expected
        assert len(set(indexed)) == len(indexed)
        # The sync outlived its first token: the client renewed it (refresh or re-login).
        renewals = sim.call_counts.get("POST /auth/login_refresh", 0) + sim.call_counts["POST /auth/login"]
        assert renewals >= 2
        assert len(sim.issued_tokens()) >= 4
    finally:
        sim.stop()


def test_all_tokens_revoked_mid_sync_logs_in_again(sim, es_url, es_client):
    """Revocation at data call 5 (the 3rd results page): refresh is refused, one new login, exact."""
    sim.set_faults(revoke_tokens_at_call=5)
    res = resources(sim.url, es_url, page_size=10, enable_pass=True)
    result = run_results(res, day(4), day(0))
    assert result.success
    expected = truth(sim, day(4), day(0), include_pass=True)
    assert len(expected) == 300
    assert sorted(ids_in(es_client, res)) == expected
    assert sim.call_counts["POST /auth/login"] == 2


# ------------------------------------------------------------------------------ wrong password


def test_wrong_password_fails_clearly_with_one_login_and_writes_nothing(sim, es_url, es_client):
    res = resources(sim.url, es_url, password="not-the-password")
    result = run_results(res, day(1))
    assert not result.success
    message = "\n".join(error_texts(result))
    assert f"Sandfly server {sim.url} rejected the login of user {USER!r} (HTTP 401" in message
    assert "check SANDFLY_USERNAME / SANDFLY_PASSWORD" in message
    assert sim.call_counts["POST /auth/login"] == 1
    assert index_count(es_client, res, "results") == 0


def test_wrong_password_across_all_three_assets_logs_in_once(sim, es_url, es_client):
    """The run's resource remembers the refusal: hosts and keys fail without another login."""
    res = resources(sim.url, es_url, password="not-the-password")
    result = materialize_days(res, day(1), selection=sandfly_assets)
    assert not result.success
    assert sorted(result.get_failed_step_keys()) == ["sandfly_hosts", "sandfly_results", "sandfly_ssh_keys"]
    assert sim.call_counts["POST /auth/login"] == 1
    assert sum(sim.call_counts.values()) == 1  # nothing but that one login reached the server
    for text in ("results", "hosts", "ssh-keys"):
        assert index_count(es_client, res, text) == 0
    refusal = f"Sandfly server {sim.url} rejected the login of user {USER!r} (HTTP 401"
    for step in ("sandfly_results", "sandfly_hosts", "sandfly_ssh_keys"):
        assert refusal in "\n".join(chain(result.failure_data_for_node(step).error))


# ------------------------------------------------------------------------------------ license


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("license_expired", "expired on"),
        ("no_elasticsearch_replication", "does not include the elasticsearch_replication feature"),
    ],
)
def test_license_that_forbids_replication_fails_before_any_data_call(sim, es_url, es_client, fault, message):
    sim.set_faults(**{fault: True})
    res = resources(sim.url, es_url)
    result = materialize_days(res, day(1), selection=sandfly_assets)
    assert not result.success
    text = "\n".join(error_texts(result))
    assert f"The license of Sandfly server {sim.url} " in text
    assert message in text
    # Only GET /license was called (once per asset), nothing fetched, nothing written.
    assert {name for name in sim.call_counts if not name.endswith(("/auth/login", "/auth/logout"))} == {
        "GET /license"
    }
    for suffix in ("results", "hosts", "ssh-keys"):
        assert index_count(es_client, res, suffix) == 0


def test_license_without_ssh_hunter_writes_no_keys_and_warns(sim, es_url, es_client):
    sim.set_faults(no_ssh_hunter=True)
    res = resources(sim.url, es_url)
    instance = dg.DagsterInstance.ephemeral()
    result = materialize_days(res, day(0), selection=sandfly_assets, instance=instance)
    assert result.success
    assert index_count(es_client, res, "ssh-keys") == 0
    assert "GET /sshhunter/summary" not in sim.call_counts
    start, end = day_window(day(0))
    assert index_count(es_client, res, "results") == len(truth(sim, day(0)))
    never = set(sim.hosts_never_seen())
    assert index_count(es_client, res, "hosts") == len(set(sim.hosts_last_seen_between(start, end)) | never)
    warnings = log_messages(instance, result.run_id, logging.WARNING)
    assert (
        "The Sandfly license does not include the ssh_hunter feature, so there are no SSH keys to sync. "
        "Hosts and results are unaffected."
    ) in warnings
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["ssh_hunter_licensed"].passed is False
    assert checks["ssh_hunter_licensed"].severity == dg.AssetCheckSeverity.WARN


def test_ssh_hunter_denied_mid_run_writes_no_keys_and_warns(sim, es_url, es_client):
    """The license lists ssh_hunter but the server answers 402: a warning, not a failed run."""
    sim.set_faults(ssh_hunter_denied=True)
    res = resources(sim.url, es_url)
    instance = dg.DagsterInstance.ephemeral()
    result = materialize_days(res, day(0), selection=[sandfly_ssh_keys], instance=instance)
    assert result.success
    assert index_count(es_client, res, "ssh-keys") == 0
    warnings = log_messages(instance, result.run_id, logging.WARNING)
    matching = [w for w in warnings if "The license listed ssh_hunter when the run started" in w]
    assert len(matching) == 1
    assert (
        f"The license of Sandfly server {sim.url} does not allow GET /sshhunter/summary (HTTP 402"
        in matching[0]
    )
    assert matching[0].endswith("0 SSH key(s) had been fetched and are written, the rest are not synced.")
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["ssh_hunter_licensed"].passed is False


# -------------------------------------------------------------------------------- rate limits


def test_a_storm_of_429s_is_waited_out_as_told(sim, es_url, es_client, monkeypatch):
    """Every 3rd data call answers 429 with Retry-After: 1; the client sleeps 1 s for each."""
    slept: list[float] = []

    def recording_sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    monkeypatch.setattr(
        sandfly_resource_module, "SandflyClient", functools.partial(SandflyClient, sleep=recording_sleep)
    )
    sim.set_faults(rate_limit_every=3, retry_after_seconds=1)
    res = resources(sim.url, es_url, page_size=25, max_retries=6)
    started = time.monotonic()
    result = run_results(res, day(4), day(0))
    elapsed = time.monotonic() - started
    assert result.success
    expected = truth(sim, day(4), day(0))
    assert sorted(ids_in(es_client, res)) == expected
    calls = sum(
        c
        for n, c in sim.call_counts.items()
        if n.startswith(("GET /license", "GET /results", "POST /results"))
    )
    rate_limited = calls // 3
    assert rate_limited >= 2
    assert slept == [1.0] * rate_limited
    assert elapsed >= rate_limited * 1.0


# ------------------------------------------------------------------------------ server errors


def test_one_failing_results_page_is_retried_without_a_gap(sim, es_url, es_client):
    sim.set_faults(error_calls=(4,), error_status=503)  # call 4 = the 2nd results page
    res = resources(sim.url, es_url, page_size=10)
    result = run_results(res, day(4), day(0))
    assert result.success
    expected = truth(sim, day(4), day(0))
    indexed = ids_in(es_client, res)
    assert sorted(indexed) == expected and len(indexed) == len(set(indexed))
    assert sim.call_counts["POST /results"] == -(-len(expected) // 10) + 1  # one page twice


def test_a_page_that_keeps_failing_fails_the_run_then_the_rerun_completes(sim, es_url, es_client):
    """The server goes down at call 5 (3rd page): pages 1-2 are written, the run fails, no
    materialization (so no sensor starts past it); the rerun writes exactly the rest."""
    sim.set_faults(error_from_call=5)
    res = resources(sim.url, es_url, page_size=10, max_retries=1)
    instance = dg.DagsterInstance.ephemeral()
    failed = run_results(res, day(4), day(0), instance=instance)
    assert not failed.success
    text = "\n".join(error_texts(failed))
    assert f"Sandfly server {sim.url}: POST /results failed after 2 attempts; last error: HTTP 500" in text
    expected = truth(sim, day(4), day(0))
    assert sorted(ids_in(es_client, res)) == expected[:20]
    assert instance.get_latest_materialization_event(dg.AssetKey("sandfly_results")) is None

    sim.clear_faults()
    rerun = run_results(res, day(4), day(0), instance=instance)
    assert rerun.success
    indexed = ids_in(es_client, res)
    assert sorted(indexed) == expected and len(indexed) == len(set(indexed))


def test_sensor_cursor_stays_while_the_server_fails_and_the_run_is_redone(sim, es_url, es_client):
    """A failing tick keeps its cursor; a failed run of the requested range, run again with the
    same run config (as Dagster's run retry does), completes exactly that range."""
    res = resources(sim.url, es_url, page_size=5, max_retries=1)
    before = sim.max_result_id()
    sim.add_results(12, end_time=datetime.now(UTC) - timedelta(days=1), status="alert")
    cursor = SyncCursor(before, inventory_refreshed_at=time.time(), inventory_max_id=before).dump()
    sim.set_faults(error_from_call=1)
    with pytest.raises(SandflyRequestError, match="getMaxID failed after 2 attempts"):
        sensor_tick(res, cursor)  # a failed tick returns no cursor: the stored one stays

    sim.clear_faults()
    data = sensor_tick(res, cursor)
    (request,) = [r for r in data.run_requests if r.run_key.startswith("results:")]
    assert request.run_key == f"results:{day(1)}:{before}-{before + 12}"
    assert json.loads(data.cursor)["last_result_id"] == before + 12

    sim.set_faults(error_from_call=4)  # license, then pages 1 and 2 (the range is given: no getMaxID)
    failed = materialize_days(
        res, request.partition_key, selection=[sandfly_results], run_config=request.run_config
    )
    assert not failed.success
    assert sorted(ids_in(es_client, res)) == list(range(before + 1, before + 11))
    sim.clear_faults()
    retried = materialize_days(
        res, request.partition_key, selection=[sandfly_results], run_config=request.run_config
    )
    assert retried.success
    assert sorted(ids_in(es_client, res)) == list(range(before + 1, before + 13))


# ------------------------------------------------------------------ dropped and malformed bodies


@pytest.mark.parametrize("fault", ["drop_calls", "malformed_calls"])
def test_a_dropped_or_malformed_page_is_retried(sim, es_url, es_client, fault):
    sim.set_faults(**{fault: (4, 6)})
    res = resources(sim.url, es_url, page_size=10)
    result = run_results(res, day(4), day(0))
    assert result.success
    expected = truth(sim, day(4), day(0))
    indexed = ids_in(es_client, res)
    assert sorted(indexed) == expected and len(indexed) == len(set(indexed))


@pytest.mark.parametrize(
    ("fault", "problem"),
    [
        ("drop_every", "the connection"),
        ("malformed_every", "HTTP 200 with a malformed JSON body"),
    ],
)
def test_persistent_dropped_or_malformed_bodies_fail_clearly(sim, es_url, es_client, fault, problem):
    sim.set_faults(**{fault: 1})
    res = resources(sim.url, es_url, max_retries=1)
    result = run_results(res, day(1))
    assert not result.success
    text = "\n".join(error_texts(result))
    assert f"Sandfly server {sim.url}: GET /license failed after 2 attempts; last error: {problem}" in text
    assert "Check that the server is up and reachable (SANDFLY_SERVER_URL)" in text
    assert index_count(es_client, res, "results") == 0


# ---------------------------------------------------------------------------- paging and days


def test_pages_of_999_among_2500_results_with_one_end_time(sim, es_url, es_client):
    end_time = datetime.combine(datetime.now(UTC).date() - timedelta(days=2), datetime.min.time(), UTC)
    added = sim.add_results(2500, end_time=end_time + timedelta(hours=12), status="alert")
    assert len(added) == 2500
    res = resources(sim.url, es_url)  # page_size 999: boundaries fall inside the tie
    result = run_results(res, day(2))
    assert result.success
    expected = truth(sim, day(2))
    indexed = ids_in(es_client, res)
    assert len(indexed) == len(expected) == len(set(indexed))
    assert sorted(indexed) == expected
    assert set(added) <= set(indexed)
    assert sim.call_counts["POST /results"] == -(-len(expected) // 999)


def test_results_around_midnight_land_in_their_own_day(sim, es_url, es_client):
    midnight = datetime.combine(datetime.now(UTC).date() - timedelta(days=1), datetime.min.time(), UTC)
    (late,) = sim.add_results(1, end_time=midnight - timedelta(milliseconds=1), status="alert")
    (early,) = sim.add_results(1, end_time=midnight, status="alert")
    assert (midnight - timedelta(milliseconds=1)).isoformat().endswith("23:59:59.999000+00:00")
    before_res = resources(sim.url, es_url)
    after_res = resources(sim.url, es_url)
    assert run_results(before_res, day(2)).success
    assert run_results(after_res, day(1)).success
    before_ids, after_ids = ids_in(es_client, before_res), ids_in(es_client, after_res)
    assert late in before_ids and late not in after_ids
    assert early in after_ids and early not in before_ids
    assert sorted(before_ids) == truth(sim, day(2))
    assert sorted(after_ids) == truth(sim, day(1))


def test_a_late_committed_result_lands_in_its_older_day_through_the_sensor(sim, es_url, es_client):
    res = resources(sim.url, es_url)
    before = sim.max_result_id()
    late = sim.add_results(3, end_time=datetime.now(UTC) - timedelta(days=3), status="error")
    cursor = SyncCursor(before, inventory_refreshed_at=time.time(), inventory_max_id=before).dump()
    data = sensor_tick(res, cursor)
    (request,) = data.run_requests
    assert request.partition_key == day(3)
    result = materialize_days(
        res, request.partition_key, selection=[sandfly_results], run_config=request.run_config
    )
    assert result.success
    assert sorted(ids_in(es_client, res)) == late
    (materialization,) = result.get_asset_materialization_events()
    assert materialization.partition == day(3)
