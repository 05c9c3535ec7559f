"""Measure the simulator: start-up time, memory and keyset page throughput.

    python -m sandfly_assets.simulator.bench --days 1 --results-per-day 1000000

Reports (1) how fast pages are built in-process (the simulator's own cost) and
(2) how fast a plain `requests` client receives them over HTTP, with and without
parsing the JSON. Numbers depend on the machine; they are not asserted anywhere.
"""

from __future__ import annotations

import argparse
import time

import requests

from .config import SimulatorConfig
from .filters import parse_results_query
from .server import SandflySimulator


def _rss_mb() -> float:
    """Resident memory of this process (Linux), in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _keyset_body(last: int, size: int, include_pass: bool) -> dict:
    """The replication query: sequence_id > last, ascending, optionally without pass results."""
    items: list[dict] = [{"field": "sequence_id", "operator": ">", "value": last}]
    if not include_pass:
        items.append({"field": "data.status", "operator": "notEquals", "value": "pass"})
    return {
        "size": size,
        "filter": {"items": items, "logicOperator": "and"},
        "sort": [{"field": "sequence_id", "sort": "asc"}],
    }


def _in_process(sim: SandflySimulator, pages: int, size: int, include_pass: bool) -> tuple[int, float]:
    """Build `pages` keyset pages without HTTP; returns (results, seconds)."""
    state = sim._state
    last, total = 0, 0
    started = time.perf_counter()
    for _ in range(pages):
        page = state.engine.execute(parse_results_query(_keyset_body(last, size, include_pass)))
        if not page.positions:
            break
        body = ",".join(state.builder.full_json(position) for position in page.positions)
        total += len(page.positions)
        last = state.store.seq[page.positions[-1]]
        del body
    return total, time.perf_counter() - started


def _over_http(
    sim: SandflySimulator, pages: int, size: int, include_pass: bool, parse: bool
) -> tuple[int, float]:
    """Fetch `pages` keyset pages with requests; returns (results, seconds)."""
    session = requests.Session()
    token = session.post(
        f"{sim.url}/auth/login", json={"username": sim.config.username, "password": sim.config.password}
    ).json()["access_token"]
    session.headers["Authorization"] = f"Bearer {token}"
    last, total = 0, 0
    started = time.perf_counter()
    for _ in range(pages):
        response = session.post(f"{sim.url}/results", json=_keyset_body(last, size, include_pass))
        if response.status_code != 200:
            break
        if parse:
            data = response.json()["data"]
            total += len(data)
            last = data[-1]["sequence_id"]
        else:
            content = response.content
            total += content.count(b'"sequence_id":')
            tail = content.rfind(b'"sequence_id":') + len(b'"sequence_id":')
            last = int(content[tail : content.index(b",", tail)])
    return total, time.perf_counter() - started


def main() -> None:
    """Print the measurements."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--results-per-day", type=int, default=1_000_000)
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--pages", type=int, default=30)
    parser.add_argument("--size", type=int, default=999)
    parser.add_argument("--include-pass", action="store_true", help="do not filter out pass results")
    args = parser.parse_args()

    before = _rss_mb()
    started = time.perf_counter()
    config = SimulatorConfig(
        days=args.days, results_per_day=args.results_per_day, hosts=args.hosts, ssh_keys=50
    )
    with SandflySimulator(config) as sim:
        elapsed = time.perf_counter() - started
        rss = _rss_mb()
        print(f"generated {sim.count_results(include_pass=True):,} results in {elapsed:.1f} s")
        print(f"resident memory: {rss:.0f} MB (process), {rss - before:.0f} MB added by the simulator")
        for label, measure in (
            ("in-process build", lambda: _in_process(sim, args.pages, args.size, args.include_pass)),
            ("HTTP, bytes only", lambda: _over_http(sim, args.pages, args.size, args.include_pass, False)),
            ("HTTP + json parse", lambda: _over_http(sim, args.pages, args.size, args.include_pass, True)),
        ):
            count, seconds = measure()
            print(f"{label:18s}: {count:,} results in {seconds:.2f} s = {count / seconds:,.0f} results/s")


if __name__ == "__main__":
    main()
