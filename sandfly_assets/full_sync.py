"""`python -m sandfly_assets.full_sync`: the full sync, i.e. all three assets over the last
`SANDFLY_FETCH_DAYS` day partitions (today included), in one run.

The run is recorded in the Dagster instance of `DAGSTER_HOME`, so it shows in the UI like
any other. The same range can be launched from the UI (select the assets, Materialize,
pick the partition range) or with
`dagster asset materialize -m sandfly_assets.definitions --select '*' --partition-range A...B`;
this command prints that range. A full sync only adds and updates documents: history older
than the window stays in Elasticsearch.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import datetime

import dagster as dg

from sandfly_assets.assets import sandfly_asset_checks, sandfly_assets
from sandfly_assets.partitions import last_days_keys
from sandfly_assets.resources import build_resources
from sandfly_assets.sandfly_resource import sandfly_resource_from_env

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--fetch-days", type=int, default=None, help="days to sync (default SANDFLY_FETCH_DAYS, 30)"
    )
    parser.add_argument("--print-range", action="store_true", help="print the partition range and exit")
    args = parser.parse_args(argv)
    days = args.fetch_days if args.fetch_days is not None else sandfly_resource_from_env().fetch_days
    first, last = full_sync_range(days)
    if args.print_range:
        print(f"{first}...{last}")
        return 0
    print(f"Full sync of {days} day(s): partitions {first}...{last}")
    result = run_full_sync(dg.DagsterInstance.get(), fetch_days=days)
    print("Full sync " + ("succeeded" if result.success else f"FAILED (run {result.run_id})"))
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
