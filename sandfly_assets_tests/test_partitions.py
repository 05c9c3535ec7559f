from datetime import UTC, datetime

import pytest

from sandfly_assets.partitions import (
    daily_partitions,
    day_key,
    day_window,
    last_days_keys,
    partitions_start_date,
)


def test_day_key_is_the_utc_day_of_an_aware_instant():
    assert day_key(datetime(2026, 12, 2, 23, 59, 59, 999000, tzinfo=UTC)) == "2026-12-02"
    assert day_key(datetime(2026, 12, 3, 0, 0, 0, tzinfo=UTC)) == "2026-12-03"
    # 01:30 at UTC+02:00 is 23:30 the previous day in UTC
    assert day_key(datetime.fromisoformat("2026-12-03T01:30:00+02:00")) == "2026-12-02"


def test_day_window_is_half_open_utc():
    start, end = day_window("2026-12-02")
    assert start == datetime(2026, 12, 2, tzinfo=UTC)
    assert end == datetime(2026, 12, 3, tzinfo=UTC)


def test_last_days_keys_include_today_and_count_fetch_days():
    now = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    assert last_days_keys(3, now) == ["2026-12-01", "2026-12-02", "2026-12-03"]
    assert len(last_days_keys(30, now)) == 30
    assert last_days_keys(30, now)[0] == "2026-11-04"


def test_last_days_keys_rejects_non_positive_fetch_days():
    with pytest.raises(ValueError, match="fetch_days must be a positive"):
        last_days_keys(0)


def test_partitions_are_utc_days_with_today_included():
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert daily_partitions.get_last_partition_key() == today
    assert daily_partitions.timezone == "UTC"


def test_start_date_from_environment_is_validated():
    assert partitions_start_date({"SANDFLY_PARTITIONS_START_DATE": "2025-06-01"}) == "2025-06-01"
    assert partitions_start_date({}) == "2024-01-01"
    with pytest.raises(ValueError, match="SANDFLY_PARTITIONS_START_DATE must be a date"):
        partitions_start_date({"SANDFLY_PARTITIONS_START_DATE": "yesterday"})
