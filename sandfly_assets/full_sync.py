"""`python -m sandfly_assets.full_sync`: the full sync, i.e. all three assets over the last
`SANDFLY_FETCH_DAYS` day partitions (today included), in one run.

The run is recorded in the Dagster instance of `DAGSTER_HOME`, so it shows in the UI like
any other; without `DAGSTER_HOME`, in `./.dagster_home` (made with a `dagster.yaml` that
turns run retries on and telemetry off). The same range can be launched from the UI
(select the assets, Materialize, pick the partition range) or with
`dagster asset materialize -m sandfly_assets.definitions --select '*' --partition-range A...B`;
this command prints that range. A full sync only adds and updates documents: history older
than the window stays in Elasticsearch.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

import dagster as dg

from sandfly_assets.assets import sandfly_asset_checks, sandfly_assets
from sandfly_assets.es_resource import ElasticsearchConfigError
from sandfly_assets.partitions import last_days_keys
from sandfly_assets.resources import build_resources
from sandfly_assets.sandfly_resource import SandflyConfigError, check_environment, sandfly_resource_from_env

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
DEFAULT_DAGSTER_HOME = Path(".dagster_home")
# A small machine: two runs at a time; a failed sensor run is retried (README "Incremental sync").
INSTANCE_YAML = """telemetry:
  enabled: false
run_queue:
  max_concurrent_runs: 2
run_retries:
  enabled: true
  max_retries: 0
"""


def prepare_dagster_home(home: Path) -> Path:
    """Make `home` a Dagster instance directory (with INSTANCE_YAML unless it has a config)."""
    home = home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(INSTANCE_YAML)
    return home


def cli_instance() -> dg.DagsterInstance:
    """`DAGSTER_HOME`'s instance, or `./.dagster_home` when the variable is not set."""
    if not os.environ.get("DAGSTER_HOME"):
        home = prepare_dagster_home(DEFAULT_DAGSTER_HOME)
        print(f"DAGSTER_HOME is not set: runs are recorded in {home}")
        os.environ["DAGSTER_HOME"] = str(home)
    return dg.DagsterInstance.get()


def full_sync_range(fetch_days: int, now: datetime | None = None) -> tuple[str, str]:
    """First and last partition key of a full sync of `fetch_days` days."""
    keys = last_days_keys(fetch_days, now)
    if not keys:
        raise ValueError("The full-sync window lies entirely before SANDFLY_PARTITIONS_START_DATE.")
    return keys[0], keys[-1]


def console_log_level(level: str) -> dict:
    """Run config that sets the console logger's level (DEBUG shows every Dagster event)."""
    return {"loggers": {"console": {"config": {"log_level": level}}}}


def run_full_sync(
    instance: dg.DagsterInstance,
    resources: dict[str, object] | None = None,
    fetch_days: int | None = None,
    now: datetime | None = None,
    log_level: str = "INFO",
) -> dg.ExecuteInProcessResult:
    """Materialize the three assets (and their checks) over the full-sync range in one run."""
    days = fetch_days if fetch_days is not None else sandfly_resource_from_env().fetch_days
    first, last = full_sync_range(days, now)
    return dg.materialize(
        [*sandfly_assets, *sandfly_asset_checks],
        resources=resources if resources is not None else build_resources(),
        instance=instance,
        tags={RANGE_START_TAG: first, RANGE_END_TAG: last, "sandfly/sync": "full"},
        run_config=console_log_level(log_level),
        raise_on_error=False,
    )


def written_by_asset(result: dg.ExecuteInProcessResult) -> dict[str, int]:
    """Documents written per asset, from the materializations' metadata."""
    written: dict[str, int] = {}
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        value = materialization.metadata.get("documents_written")
        written[materialization.asset_key.to_user_string()] = int(getattr(value, "value", 0) or 0)
    return written


def first_failure(result: dg.ExecuteInProcessResult) -> str:
    """The first step failure's message (its first line), for a one-line summary."""
    for event in result.get_step_failure_events():
        message = event.step_failure_data.error.message.strip()
        return f"{event.step_key}: {message.splitlines()[0] if message else 'failed'}"
    return "see the run's logs"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--fetch-days", type=int, default=None, help="days to sync (default SANDFLY_FETCH_DAYS, 30)"
    )
    parser.add_argument("--print-range", action="store_true", help="print the partition range and exit")
    args = parser.parse_args(argv)
    if args.fetch_days is not None and args.fetch_days < 1:
        parser.error(f"--fetch-days must be a positive integer (got {args.fetch_days})")
    try:
        # Every setting is parsed (and for a sync, checked) once, before anything starts.
        resources = {"sandfly": sandfly_resource_from_env()} if args.print_range else build_resources()
        sandfly = resources["sandfly"]
        days = args.fetch_days if args.fetch_days is not None else sandfly.fetch_days
        first, last = full_sync_range(days)
        if not args.print_range:
            check_environment(sandfly)
    except (SandflyConfigError, ElasticsearchConfigError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    partitions = (date.fromisoformat(last) - date.fromisoformat(first)).days + 1
    if partitions < days:
        print(
            f"note: only {partitions} of the {days} days are partitions: the first partition is {first} "
            "(SANDFLY_PARTITIONS_START_DATE)",
            file=sys.stderr,
        )
    if args.print_range:
        print(f"{first}...{last}")
        return 0
    print(f"Full sync of {days} day(s): partitions {first}...{last}")
    result = run_full_sync(cli_instance(), resources=resources, fetch_days=days)
    if not result.success:
        print(f"Full sync FAILED (run {result.run_id}): {first_failure(result)}", file=sys.stderr)
        return 1
    counts = ", ".join(f"{name} {count:,}" for name, count in sorted(written_by_asset(result).items()))
    print(f"Full sync succeeded (run {result.run_id}): documents written: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
