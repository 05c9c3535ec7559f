"""Wiring only: the assets, checks, sensor, full-sync job and resources, configured from the
environment (see README "Configuration"). Nothing imports this module."""

from __future__ import annotations

import dagster as dg

from sandfly_assets.assets import sandfly_asset_checks, sandfly_assets
from sandfly_assets.resources import build_resources
from sandfly_assets.sensors import sandfly_sync_sensor

FULL_SYNC_JOB_NAME = "sandfly_full_sync"

full_sync_job = dg.define_asset_job(
    name=FULL_SYNC_JOB_NAME,
    selection=dg.AssetSelection.assets(*sandfly_assets),
    description="All three assets over a range of days in one run. A full sync is this job "
    "run over the last SANDFLY_FETCH_DAYS days (python -m sandfly_assets.full_sync).",
)


defs = dg.Definitions(
    assets=sandfly_assets,
    asset_checks=sandfly_asset_checks,
    sensors=[sandfly_sync_sensor],
    jobs=[full_sync_job],
    resources=build_resources(),
    executor=dg.in_process_executor,
)
