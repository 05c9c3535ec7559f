"""`make demo`: the main job end to end on local defaults.

Starts a Sandfly simulator and a local Elasticsearch, runs a full sync of the last
`fetch_days` days for all three assets, adds new results to the simulator (some committed
late, with end times days in the past), runs the incremental path (a sensor tick and the
runs it requests), then prints what is in Elasticsearch next to the simulator's own counts.
Everything it started is stopped at the end. Runs are recorded in `.local/dagster_home`, so
`make dev` shows them in the UI.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
from elasticsearch import Elasticsearch

from sandfly_assets.assets import sandfly_asset_checks, sandfly_assets
from sandfly_assets.dev.local_elasticsearch import LocalElasticsearch
from sandfly_assets.full_sync import console_log_level, prepare_dagster_home, run_full_sync
from sandfly_assets.partitions import day_window, last_days_keys
from sandfly_assets.resources import build_resources
from sandfly_assets.sensors import sandfly_sync_sensor
from sandfly_assets.simulator import SandflySimulator, SimulatorConfig

DEMO_USER = "demo_api"
DEMO_PASSWORD = "demo-password-not-secret"
DEMO_INDEX = "sandfly"


@dataclass
class DemoSettings:
    fetch_days: int = 30
    hosts: int = 40
    ssh_keys: int = 60
    results_per_day: int = 400
    new_results: int = 120
    late_results: int = 30
    seed: int = 7
    state_dir: Path = Path(".local")


def local_environment(sim_url: str, es_url: str, fetch_days: int) -> dict[str, str]:
    """The documented variables, pointed at the local services (shared with `make dev`)."""
    return {
        "SANDFLY_SERVER_URL": sim_url,
        "SANDFLY_USERNAME": DEMO_USER,
        "SANDFLY_PASSWORD": DEMO_PASSWORD,
        "SANDFLY_VERIFY_SSL": "false",
        "SANDFLY_ENABLE_PASS": "false",
        "SANDFLY_FETCH_DAYS": str(fetch_days),
        "ELASTICSEARCH_URL": es_url,
        "ELASTICSEARCH_INDEX": DEMO_INDEX,
    }


def local_instance(state_dir: Path) -> dg.DagsterInstance:
    home = prepare_dagster_home(state_dir / "dagster_home")
    os.environ["DAGSTER_HOME"] = str(home)
    return dg.DagsterInstance.get()


def _run_incremental(
    instance: dg.DagsterInstance, resources: dict, cursor: str | None
) -> tuple[int, str | None]:
    """One sensor tick, then every run it requested, in process. Returns (runs, new cursor)."""
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"sandfly": resources["sandfly"]}
    ) as context:
        result = sandfly_sync_sensor(context)
    if isinstance(result, dg.SkipReason):
        print(f"  sensor skipped: {result.skip_message}")
        return 0, cursor
    for request in result.run_requests or []:
        selection = [a for a in sandfly_assets if a.key in set(request.asset_selection or [])]
        run = dg.materialize(
            [*selection, *sandfly_asset_checks],
            resources=resources,
            instance=instance,
            partition_key=request.partition_key,
            run_config={**(request.run_config or {}), **console_log_level("WARNING")},
            tags={**request.tags, "sandfly/sync": "incremental"},
            raise_on_error=False,
            selection=selection,
        )
        names = ", ".join(a.key.to_user_string() for a in selection)
        print(f"  run {request.run_key} [{names}] -> {'ok' if run.success else 'FAILED'}")
        if not run.success:
            raise SystemExit(f"Incremental run {request.run_key} failed; see the Dagster UI (make dev).")
    return len(result.run_requests or []), result.cursor


def _es_counts(client: Elasticsearch, index: str) -> dict[str, int]:
    client.indices.refresh(index=f"{index}-*")
    response = client.search(
        index=index,
        size=0,
        aggs={"types": {"terms": {"field": "sandfly_data_type.keyword", "size": 10}}},
    )
    return {b["key"]: b["doc_count"] for b in response["aggregations"]["types"]["buckets"]}


def _es_status_counts(client: Elasticsearch, index: str) -> dict[str, int]:
    response = client.search(
        index=f"{index}-results",
        size=0,
        aggs={"status": {"terms": {"field": "sandfly_results.data.status.keyword", "size": 10}}},
    )
    return {b["key"]: b["doc_count"] for b in response["aggregations"]["status"]["buckets"]}


def _top_alerting_hosts(client: Elasticsearch, index: str, size: int = 5) -> list[tuple[str, int]]:
    response = client.search(
        index=f"{index}-results",
        size=0,
        query={"term": {"event.kind": "alert"}},
        aggs={"hosts": {"terms": {"field": "host.name", "size": size}}},
    )
    return [(b["key"], b["doc_count"]) for b in response["aggregations"]["hosts"]["buckets"]]


def _expected(sim: SandflySimulator, fetch_days: int, now: datetime) -> dict[str, int]:
    """The simulator's own counts for the window: what Elasticsearch must hold."""
    keys = last_days_keys(fetch_days, now)
    start, _ = day_window(keys[0])
    _, end = day_window(keys[-1])
    # the window includes today, the day never-seen hosts and keys are assigned to
    return {
        "sandfly_results": sim.count_results(end_time_from=start, end_time_before=end, include_pass=False),
        "sandfly_hosts": len(sim.hosts_last_seen_between(start, end)) + len(sim.hosts_never_seen()),
        "sandfly_ssh_keys": len(sim.ssh_keys_last_seen_between(start, end)) + len(sim.ssh_keys_never_seen()),
    }


def run_demo(settings: DemoSettings) -> int:
    started = time.monotonic()
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    sim_config = SimulatorConfig(
        username=DEMO_USER,
        password=DEMO_PASSWORD,
        seed=settings.seed,
        hosts=settings.hosts,
        ssh_keys=settings.ssh_keys,
        days=settings.fetch_days,
        results_per_day=settings.results_per_day,
    )
    print("Starting the Sandfly simulator and a local Elasticsearch ...")
    with (
        SandflySimulator(sim_config) as sim,
        LocalElasticsearch(state_dir=settings.state_dir / "demo-elasticsearch", port=0) as es,
    ):
        print(f"  Sandfly simulator: {sim.url}\n  Elasticsearch:     {es.url}")
        os.environ.update(local_environment(sim.url, es.url, settings.fetch_days))
        instance = local_instance(settings.state_dir)
        resources = build_resources()
        client = Elasticsearch(es.url)

        print(f"\n1. Full sync of the last {settings.fetch_days} days (one run over the partition range)")
        result = run_full_sync(
            instance, resources=resources, fetch_days=settings.fetch_days, log_level="WARNING"
        )
        if not result.success:
            print(f"Full sync FAILED (run {result.run_id}); see the Dagster UI (make dev).")
            return 1
        print(f"  ok: {_es_counts(client, DEMO_INDEX)}")

        print("\n2. Incremental sync: the sensor's first tick starts right after the full sync")
        _, cursor = _run_incremental(instance, resources, None)
        now = datetime.now(UTC)
        added = sim.add_results(settings.new_results)
        added += sim.add_results(settings.late_results, end_time=now - timedelta(days=3))
        indexed = set(added) & set(sim.result_sequence_ids(after_sequence_id=min(added) - 1))
        print(
            f"  added {settings.new_results} new results and {settings.late_results} late (3 days old); "
            f"{len(indexed)} are alert or error (pass results are not indexed: SANDFLY_ENABLE_PASS=false)"
        )
        runs, cursor = _run_incremental(instance, resources, cursor)
        print(f"  the sensor requested {runs} run(s); one more tick:")
        _run_incremental(instance, resources, cursor)

        counts = _es_counts(client, DEMO_INDEX)
        expected = _expected(sim, settings.fetch_days, datetime.now(UTC))
        _print_summary(client, counts, expected, time.monotonic() - started)
        client.close()
        return 0 if counts == expected else 1


def _print_summary(client: Elasticsearch, counts: dict, expected: dict, seconds: float) -> None:
    print("\nSummary")
    print(f"  {'data type':<18}{'in Elasticsearch':>18}{'simulator says':>16}")
    for name in ("sandfly_results", "sandfly_hosts", "sandfly_ssh_keys"):
        mark = "" if counts.get(name, 0) == expected[name] else "   <-- MISMATCH"
        print(f"  {name:<18}{counts.get(name, 0):>18}{expected[name]:>16}{mark}")
    print(f"  results by status: {_es_status_counts(client, DEMO_INDEX)}")
    print("  top alerting hosts:")
    for host, alerts in _top_alerting_hosts(client, DEMO_INDEX):
        print(f"    {host:<40}{alerts:>6} alerts")
    print(f"\nDone in {seconds:.0f} s. To browse the runs, partitions and the sensor: `make dev`, then open")
    print("http://127.0.0.1:3000 (Assets -> sandfly_results -> Partitions).")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--fetch-days", type=int, default=30)
    parser.add_argument("--results-per-day", type=int, default=400)
    args = parser.parse_args(argv)
    return run_demo(DemoSettings(fetch_days=args.fetch_days, results_per_day=args.results_per_day))


if __name__ == "__main__":
    sys.exit(main())
