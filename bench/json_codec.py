"""Where the sync's own CPU goes per result, and what orjson would save.

    .venv/bin/python bench/json_codec.py [--results 5000]

Single-threaded, in-process, no network: decode a results page (what the client does with
each answer), build the documents and tally them (streams), encode the bulk lines (what the
IO manager does). orjson is measured only if it can be imported (it is not a dependency;
`pip install --target DIR orjson` and `PYTHONPATH=DIR` measure it without installing it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sandfly_assets.documents import result_document
from sandfly_assets.es_io_manager import bulk_payload
from sandfly_assets.simulator import SandflySimulator, SimulatorConfig
from sandfly_assets.streams import ResultTally


def per_item_us(action: Callable[[], object], count: int, repeat: int = 3) -> float:
    """Best of `repeat` runs, in microseconds per item."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    return best / count * 1e6


def main() -> int:
    """Print microseconds per result for each stage."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=int, default=5000)
    args = parser.parse_args()
    now = datetime.now(UTC)
    config = SimulatorConfig(days=1, results_per_day=args.results, hosts=200, now=now)
    with SandflySimulator(config) as sim:
        import requests

        session = requests.Session()
        login = {"username": config.username, "password": config.password}
        token = session.post(f"{sim.url}/auth/login", json=login).json()["access_token"]
        body = {"size": args.results, "sort": [{"field": "sequence_id", "sort": "asc"}]}
        headers = {"Authorization": f"Bearer {token}"}
        raw = session.post(f"{sim.url}/results", json=body, headers=headers).content
    records = json.loads(raw)["data"]
    count = len(records)
    documents = [result_document(record) for record in records]
    print(
        f"{count:,} results, {len(raw) / count:,.0f} bytes each as served (since {now - timedelta(days=1)})"
    )

    def tally() -> None:
        t = ResultTally()
        for record in records:
            t.add(record)

    rows = [
        ("decode the page, json.loads", per_item_us(lambda: json.loads(raw), count)),
        (
            "build documents, result_document",
            per_item_us(lambda: [result_document(r) for r in records], count),
        ),
        ("tally, ResultTally.add", per_item_us(tally, count)),
        (
            "encode bulk lines, bulk_payload (json.dumps)",
            per_item_us(lambda: [bulk_payload(d["_id"], d["_source"]) for d in documents], count),
        ),
    ]
    try:
        import orjson
    except ImportError:
        orjson = None
    if orjson is not None:

        def orjson_payload(doc_id: str, source: dict) -> bytes:
            return orjson.dumps({"index": {"_id": doc_id}}) + b"\n" + orjson.dumps(source) + b"\n"

        rows += [
            ("decode the page, orjson.loads", per_item_us(lambda: orjson.loads(raw), count)),
            (
                "encode bulk lines, orjson.dumps",
                per_item_us(lambda: [orjson_payload(d["_id"], d["_source"]) for d in documents], count),
            ),
        ]
    for label, micros in rows:
        print(f"{label:48s} {micros:8.1f} us/result")
    return 0


if __name__ == "__main__":
    sys.exit(main())
