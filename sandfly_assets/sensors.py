"""The sensor that keeps Elasticsearch current between full syncs.

Each tick makes one cheap call, `GET /results/getMaxID`: the highest `sequence_id` that is
safe to replicate (no result will ever appear below it later). Only when it moved past the
cursor does the sensor read the summary rows of the new range (`cursor < sequence_id <= max`)
to learn which days they end on, and request one `sandfly_results` run per day, each
carrying the same sequence range in its run config, so a run fetches only its day's new
results. A result committed late with an old end time is new by `sequence_id`, so it is
found, and it lands in its own (older) day.

Hosts and SSH keys are refreshed (today's and yesterday's partitions) when new results
arrived, at most every `inventory_min_interval_seconds`, and at least hourly.

Cursor: `{"last_result_id": int, "inventory_refreshed_at": epoch seconds, "inventory_max_id": int,
"epoch": int}`. It is returned together with the run requests (atomically) and never moves past a
result whose run was not requested:
- a tick whose Sandfly call fails raises, and the cursor stays where it was;
- a result ending on a day that is not a partition yet (the Sandfly clock ahead of ours around
  midnight) holds the cursor just before it until its day exists;
- results before the partitions' start date can never be synced; they are logged and passed.
Run keys name the day and the range, so a repeated tick requests nothing new.

If `getMaxID` goes below the cursor (the Sandfly database was restored or reset), the sensor
restarts at the server's new head and bumps `epoch`, which is part of every run key from then
on, so the ranges of the restored server are not mistaken for ranges already requested.
"""

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

import dagster as dg

from sandfly_assets.assets import HOSTS_KEY, RESULTS_KEY, SSH_KEYS_KEY
from sandfly_assets.documents import result_time
from sandfly_assets.partitions import daily_partitions, day_key
from sandfly_assets.sandfly_client import SandflyClient
from sandfly_assets.sandfly_resource import SandflyResource

SENSOR_NAME = "sandfly_sync_sensor"
INTERVAL_ENV = "SANDFLY_SENSOR_INTERVAL_SECONDS"
RUNNING_ENV = "SANDFLY_SENSOR_RUNNING"
DEFAULT_INTERVAL_SECONDS = 60
INVENTORY_MAX_AGE_SECONDS = 3600
INVENTORY_MIN_INTERVAL_SECONDS = 300
RUN_RETRIES_TAG = {"dagster/max_retries": "3"}


@dataclass
class SyncCursor:
    """What the sensor has already requested."""

    last_result_id: int
    inventory_refreshed_at: float = 0.0
    inventory_max_id: int = 0
    epoch: int = 0

    @classmethod
    def parse(cls, raw: str | None) -> "SyncCursor | None":
        if not raw:
            return None
        data = json.loads(raw)
        return cls(
            last_result_id=int(data["last_result_id"]),
            inventory_refreshed_at=float(data.get("inventory_refreshed_at", 0.0)),
            inventory_max_id=int(data.get("inventory_max_id", 0)),
            epoch=int(data.get("epoch", 0)),
        )

    def run_key_suffix(self) -> str:
        """Appended to run keys after a server restore, so old ranges are not taken as done."""
        return f":e{self.epoch}" if self.epoch else ""

    def dump(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


@dataclass(frozen=True)
class DayRange:
    """New results that end on one day, how many there are, and the lowest sequence_id among them."""

    day: str
    count: int
    first_sequence_id: int = 0


def sensor_interval_seconds(environ: Mapping[str, str] | None = None) -> int:
    """SANDFLY_SENSOR_INTERVAL_SECONDS, default 60; a clear error when it is not a positive int."""
    env = os.environ if environ is None else environ
    raw = env.get(INTERVAL_ENV, "").strip()
    if not raw:
        return DEFAULT_INTERVAL_SECONDS
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{INTERVAL_ENV} must be a positive number of seconds, e.g. 60 (got {raw!r})")
    return int(raw)


def sensor_default_status(environ: Mapping[str, str] | None = None) -> dg.DefaultSensorStatus:
    """STOPPED unless SANDFLY_SENSOR_RUNNING is true: syncing starts when someone asks for it."""
    env = os.environ if environ is None else environ
    raw = env.get(RUNNING_ENV, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return dg.DefaultSensorStatus.STOPPED
    if raw in ("1", "true", "yes", "on"):
        return dg.DefaultSensorStatus.RUNNING
    raise ValueError(f"{RUNNING_ENV} must be true or false (got {raw!r})")


def new_result_days(client: SandflyClient, include_pass: bool, after: int, upper: int) -> dict[str, DayRange]:
    """The days (UTC, by end time) of the results with after < sequence_id <= upper."""
    counts: dict[str, int] = {}
    first_ids: dict[str, int] = {}
    for page in client.iter_result_pages(
        include_pass=include_pass, after_sequence_id=after, max_sequence_id=upper, summary=True
    ):
        for row in page:
            instant = result_time(row)  # also reads the dotted keys of summary rows
            key = day_key(instant) if instant else "unknown"
            counts[key] = counts.get(key, 0) + 1
            first_ids.setdefault(key, int(row["sequence_id"]))  # rows come in ascending order
    return {day: DayRange(day, count, first_ids[day]) for day, count in counts.items()}


def future_days(days: dict[str, DayRange], now: datetime) -> list[str]:
    """Days after the last partition that exists at `now` (today): the Sandfly clock runs ahead."""
    today = day_key(now)
    return sorted(day for day in days if day != "unknown" and day > today)


def results_run_requests(
    context: dg.SensorEvaluationContext,
    days: dict[str, DayRange],
    after: int,
    upper: int,
    now: datetime | None = None,
    run_key_suffix: str = "",
) -> list[dg.RunRequest]:
    """One results run per valid day; days before the partitions' start are logged, never fatal.

    Days after today must have been cut off by the caller (see `future_days`).
    """
    with dg.partition_loading_context(effective_dt=now or datetime.now(UTC)):
        valid = set(daily_partitions.filter_valid_partition_keys({day for day in days if day != "unknown"}))
    requests = []
    for day in sorted(days):
        if day not in valid:
            context.log.warning(
                f"{days[day].count} new result(s) end on {day!r}, outside the daily partitions "
                f"(starting {daily_partitions.start.date().isoformat()}); they are not synced. "
                "Set SANDFLY_PARTITIONS_START_DATE earlier to include them."
            )
            continue
        requests.append(
            dg.RunRequest(
                run_key=f"results:{day}:{after}-{upper}{run_key_suffix}",
                partition_key=day,
                asset_selection=[RESULTS_KEY],
                run_config={
                    "ops": {
                        RESULTS_KEY.path[-1]: {
                            "config": {"after_sequence_id": after, "max_sequence_id": upper}
                        }
                    }
                },
                tags={
                    **RUN_RETRIES_TAG,
                    "sandfly/sequence_range": f"{after}-{upper}",
                    "sandfly/new_results": str(days[day].count),
                },
            )
        )
    return requests


def inventory_run_requests(now: datetime, upper: int, run_key_suffix: str = "") -> list[dg.RunRequest]:
    """Refresh hosts and SSH keys for today and yesterday (hosts last seen just before midnight)."""
    hour = int(now.timestamp()) // 3600
    days = [day_key(now - timedelta(days=1)), day_key(now)]
    with dg.partition_loading_context(effective_dt=now):
        valid = daily_partitions.filter_valid_partition_keys(set(days))
    return [
        dg.RunRequest(
            run_key=f"inventory:{day}:{upper}:{hour}{run_key_suffix}",
            partition_key=day,
            asset_selection=[HOSTS_KEY, SSH_KEYS_KEY],
            tags=dict(RUN_RETRIES_TAG),
        )
        for day in days
        if day in valid
    ]


def inventory_due(cursor: SyncCursor, upper: int, now_epoch: float) -> bool:
    """New results since the last refresh (rate limited), or the last refresh is an hour old."""
    age = now_epoch - cursor.inventory_refreshed_at
    if age >= INVENTORY_MAX_AGE_SECONDS:
        return True
    return upper > cursor.inventory_max_id and age >= INVENTORY_MIN_INTERVAL_SECONDS


def initial_cursor(context: dg.SensorEvaluationContext, server_max_id: int) -> SyncCursor:
    """Where a fresh sensor starts: just after the last full sync, else at the server's head.

    A full sync records the highest sequence_id it was bounded by; starting there means no
    result committed between that sync and the sensor's first tick is skipped. Without any
    sync yet, history is the full sync's job, so the sensor starts at the current head.
    """
    start = server_max_id
    if context.instance is not None:
        event = context.instance.get_latest_materialization_event(RESULTS_KEY)
        materialization = event.asset_materialization if event else None
        if materialization is not None:
            bound = materialization.metadata.get("sequence_id_upper_bound")
            if bound is not None:
                start = min(int(bound.value), server_max_id)
    return SyncCursor(last_result_id=start, inventory_refreshed_at=0.0, inventory_max_id=start)


def evaluate_sync(
    context: dg.SensorEvaluationContext, sandfly: SandflyResource, now: datetime | None = None
) -> dg.SensorResult | dg.SkipReason:
    """One tick: getMaxID, and only when it moved, the days of the new results.

    Any Sandfly error propagates: the tick fails and its cursor is not stored, so the next
    tick asks for the same range again.
    """
    now = now or datetime.now(UTC)
    with sandfly.get_client() as client:
        head = client.get_max_result_id()
        cursor = SyncCursor.parse(context.cursor) or initial_cursor(context, head)
        if head < cursor.last_result_id:
            cursor = restarted_cursor(context, cursor, head)
        upper = head
        requests: list[dg.RunRequest] = []
        if upper > cursor.last_result_id:
            after = cursor.last_result_id
            days = new_result_days(client, sandfly.enable_pass, after, upper)
            ahead = future_days(days, now)
            if ahead:
                upper = min(days[day].first_sequence_id for day in ahead) - 1
                context.log.warning(
                    f"{sum(days[day].count for day in ahead)} new result(s) end on {', '.join(ahead)}, after "
                    f"today ({day_key(now)}, UTC): the Sandfly server's clock seems ahead. The sensor waits "
                    f"at sequence_id {upper} until their day begins, so nothing is skipped."
                )
                days = new_result_days(client, sandfly.enable_pass, after, upper) if upper > after else {}
            requests += results_run_requests(context, days, after, upper, now, cursor.run_key_suffix())
    new_cursor = SyncCursor(
        max(upper, cursor.last_result_id),
        cursor.inventory_refreshed_at,
        cursor.inventory_max_id,
        cursor.epoch,
    )
    if inventory_due(cursor, head, now.timestamp()):
        requests += inventory_run_requests(now, head, cursor.run_key_suffix())
        new_cursor.inventory_refreshed_at = now.timestamp()
        new_cursor.inventory_max_id = head
    if not requests and context.cursor and new_cursor == SyncCursor.parse(context.cursor):
        return dg.SkipReason(f"No new results (getMaxID = {head}).")
    return dg.SensorResult(run_requests=requests, cursor=new_cursor.dump())


def restarted_cursor(context: dg.SensorEvaluationContext, cursor: SyncCursor, head: int) -> SyncCursor:
    """getMaxID went below the cursor: the server's results were restored or reset.

    Waiting for the ids to pass the old cursor would skip every result committed until then;
    instead start again at the new head, with a new epoch so run keys cannot collide with the
    ranges requested before the restore. Documents are keyed by the result's external id, so
    nothing written before is duplicated.
    """
    context.log.warning(
        f"The Sandfly server's getMaxID ({head}) is below the sensor cursor ({cursor.last_result_id}): its "
        f"results were restored or reset. Restarting at {head}; results committed from now on are synced."
    )
    return SyncCursor(
        last_result_id=head,
        inventory_refreshed_at=cursor.inventory_refreshed_at,
        inventory_max_id=min(cursor.inventory_max_id, head),
        epoch=cursor.epoch + 1,
    )


@dg.sensor(
    name=SENSOR_NAME,
    minimum_interval_seconds=sensor_interval_seconds(),
    default_status=sensor_default_status(),
    target=[RESULTS_KEY, HOSTS_KEY, SSH_KEYS_KEY],
    description="Requests incremental runs for the days that received new Sandfly results, "
    "and refreshes hosts and SSH keys at least hourly.",
)
def sandfly_sync_sensor(context: dg.SensorEvaluationContext, sandfly: SandflyResource):
    return evaluate_sync(context, sandfly)
