"""Helpers shared by the asset, sensor and end-to-end tests: one simulator, fresh indices."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import dagster as dg
from elasticsearch import Elasticsearch

from sandfly_assets.assets import sandfly_asset_checks, sandfly_assets
from sandfly_assets.es_io_manager import ElasticsearchIOManager
from sandfly_assets.es_resource import ElasticsearchResource
from sandfly_assets.partitions import day_window
from sandfly_assets.sandfly_resource import SandflyResource
from sandfly_assets.sensors import sandfly_sync_sensor

USER = "sync_tester"
PASSWORD = "sync-tester-password-7f3a"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def make_resources(sim_url: str, es_url: str, enable_pass: bool = False, index: str | None = None) -> dict:
    """Resources pointed at a simulator and Elasticsearch, writing to a fresh index base."""
    elasticsearch = ElasticsearchResource(url=es_url, index=index or f"t{uuid.uuid4().hex[:10]}")
    return {
        "sandfly": SandflyResource(
            server_url=sim_url, username=USER, password=PASSWORD, verify_ssl=False, enable_pass=enable_pass
        ),
        "elasticsearch": elasticsearch,
        "es_io_manager": ElasticsearchIOManager(elasticsearch=elasticsearch, refresh_after_write=True),
    }


def build_definitions(resources: dict) -> dg.Definitions:
    return dg.Definitions(
        assets=sandfly_assets,
        asset_checks=sandfly_asset_checks,
        sensors=[sandfly_sync_sensor],
        resources=resources,
    )


def sensor_tick(
    resources: dict, cursor: str | None, instance: dg.DagsterInstance | None = None
) -> dg.SensorResult:
    """One sensor evaluation on the daemon's own path: resources opened, then torn down."""
    with dg.build_sensor_context(
        instance=instance or dg.DagsterInstance.ephemeral(),
        cursor=cursor,
        resources={"sandfly": resources["sandfly"]},
        definitions=build_definitions(resources),
    ) as context:
        return sandfly_sync_sensor.evaluate_tick(context)


def materialize_days(resources: dict, first: str, last: str | None = None, selection=None, **kwargs):
    """One run over [first, last] (a single day when last is None) of the chosen assets."""
    chosen = selection or sandfly_assets
    tags = {} if last is None else {RANGE_START_TAG: first, RANGE_END_TAG: last}
    keys = {a.key for a in chosen}
    checks = [c for c in sandfly_asset_checks if any(k.asset_key in keys for k in c.check_keys)]
    return dg.materialize(
        [*chosen, *checks],
        resources=resources,
        partition_key=first if last is None else None,
        tags=tags,
        raise_on_error=False,
        **kwargs,
    )


def index_count(es: Elasticsearch, resources: dict, suffix: str) -> int:
    index = f"{resources['elasticsearch'].index}-{suffix}"
    if not es.indices.exists(index=index):
        return 0
    es.indices.refresh(index=index)
    return es.count(index=index)["count"]


def index_ids(es: Elasticsearch, resources: dict, suffix: str, field: str) -> list:
    """Values of one `_source` field over every document of an index (for exact comparisons)."""
    index = f"{resources['elasticsearch'].index}-{suffix}"
    es.indices.refresh(index=index)
    response = es.search(index=index, size=10000, source=[field], query={"match_all": {}})
    values = []
    for hit in response["hits"]["hits"]:
        value = hit["_source"]
        for part in field.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        values.append(value)
    return values


def window(first: str, last: str) -> tuple[datetime, datetime]:
    return day_window(first)[0], day_window(last)[1]


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")
