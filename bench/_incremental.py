"""Child process of `bench/throughput.py`: incremental latency through the sensor path.

Plays the Dagster daemon with a fixed sensor interval: ticks start every `--interval`
seconds; each tick is one evaluation of the product's sensor (`evaluate_sync`, the body of
`sandfly_sync_sensor`), and every results run it requests is then executed at once with
`dg.materialize` in this process (the daemon would launch it; launch overhead of a real
deployment, e.g. a new run worker process, is not included). Between two ticks, at a uniformly
random moment, one result is committed on the simulator through its admin endpoint; the sample
is the time from that commit until Elasticsearch returns the result's document to a search
(the index refreshes on its own, every second by default; no explicit refresh).

Prints one JSON line: the interval, the latencies, and the processing part of each (tick start
to searchable), which does not depend on the interval.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
import warnings
from datetime import UTC, datetime
from typing import Any

import requests


def main() -> int:
    """Parse the options, take the samples, print them as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sim-url", required=True)
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--es-url", required=True)
    parser.add_argument("--index", default="bench-incr")
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    warnings.filterwarnings("ignore")
    import dagster as dg

    from sandfly_assets.assets import sandfly_results
    from sandfly_assets.es_io_manager import ElasticsearchIOManager
    from sandfly_assets.es_resource import ElasticsearchResource
    from sandfly_assets.sandfly_resource import SandflyResource
    from sandfly_assets.sensors import evaluate_sync

    logging.getLogger("dagster").setLevel(logging.WARNING)
    sandfly = SandflyResource(
        server_url=args.sim_url,
        username=args.username,
        password=args.password,
        verify_ssl=False,
        enable_pass=True,
    )
    elasticsearch = ElasticsearchResource(url=args.es_url, index=args.index)
    resources = {"sandfly": sandfly, "es_io_manager": ElasticsearchIOManager(elasticsearch=elasticsearch)}
    instance = dg.DagsterInstance.ephemeral()
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    admin = _admin_session(args.sim_url, args.username, args.password)
    search = requests.Session()
    rng = random.Random(args.seed)

    def tick(cursor: str | None) -> tuple[str | None, list[Any]]:
        context = dg.build_sensor_context(cursor=cursor, instance=instance)
        result = evaluate_sync(context, sandfly)
        if isinstance(result, dg.SkipReason):
            return cursor, []
        return result.cursor, list(result.run_requests or [])

    def run(request: Any) -> None:
        if request.asset_selection != [sandfly_results.key]:
            return  # hosts/SSH keys refresh: not on the path of a new result
        outcome = dg.materialize(
            [sandfly_results],
            resources=resources,
            partition_key=request.partition_key,
            run_config={**request.run_config, **quiet},
            instance=instance,
            raise_on_error=False,
        )
        if not outcome.success:
            raise RuntimeError(f"incremental run for {request.partition_key} failed")

    cursor, _ = tick(None)  # the sensor starts at the server's head
    next_tick = time.monotonic() + args.interval
    latencies: list[float] = []
    processing: list[float] = []
    for _ in range(args.samples):
        now = time.monotonic()
        time.sleep(max(0.0, rng.uniform(now, next_tick) - now))
        added_at = time.monotonic()
        sequence_id = _add_result(admin, args.sim_url)
        time.sleep(max(0.0, next_tick - time.monotonic()))
        tick_started = time.monotonic()
        cursor, requests_ = tick(cursor)
        for request in requests_:
            run(request)
        _wait_searchable(search, args.es_url, f"{args.index}-results", sequence_id)
        found_at = time.monotonic()
        latencies.append(round(found_at - added_at, 3))
        processing.append(round(found_at - tick_started, 3))
        # The daemon starts the next evaluation one interval after the last one started
        # (or right away if that moment has passed).
        next_tick = max(tick_started + args.interval, time.monotonic())
    print(json.dumps({"interval": args.interval, "latencies": latencies, "processing": processing}))
    return 0


def _admin_session(sim_url: str, username: str, password: str) -> requests.Session:
    session = requests.Session()
    reply = session.post(f"{sim_url}/auth/login", json={"username": username, "password": password})
    reply.raise_for_status()
    session.headers["Authorization"] = f"Bearer {reply.json()['access_token']}"
    return session


def _add_result(admin: requests.Session, sim_url: str) -> int:
    """Commit one new result ending now; its sequence id."""
    end_time = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    reply = admin.post(f"{sim_url}/_sim/results", json={"count": 1, "end_time": end_time, "status": "alert"})
    reply.raise_for_status()
    return int(reply.json()["last_sequence_id"])


def _wait_searchable(search: requests.Session, es_url: str, index: str, sequence_id: int) -> None:
    """Poll a search for the result's document every 20 ms (at most 120 s)."""
    query = {"query": {"term": {"sandfly_results.sequence_id": sequence_id}}, "size": 0}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        reply = search.post(f"{es_url}/{index}/_search", json=query)
        if reply.status_code == 200 and reply.json()["hits"]["total"]["value"] > 0:
            return
        time.sleep(0.02)
    raise RuntimeError(f"result {sequence_id} never became searchable in {index}")


if __name__ == "__main__":
    sys.exit(main())
