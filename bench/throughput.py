"""Throughput, memory and latency of the sync, measured against what the hardware allows.

    .venv/bin/python bench/throughput.py                   # 10k, 100k, 1M results (~25 min on 2 cores)
    .venv/bin/python bench/throughput.py --quick           # a smoke run (~3 min)
    .venv/bin/python bench/throughput.py --sizes 100000 --skip-latency

Everything runs in separate processes, so no two parts share a GIL: a local Elasticsearch
7.9.2 (own temp state dir, its compat proxy as its own process), the Sandfly simulator (its
CLI, one per day size), the materialization (`bench/_sync_once.py`, one process per run, so
its peak resident memory is its own) and the sensor path (`bench/_incremental.py`).

Printed, in one run:
1. end-to-end sync throughput (simulator -> Elasticsearch, one day partition, pass results
   included) per day size;
2. the limit: the same documents, serialized beforehand, sent with plain sequential `_bulk`
   requests into the same Elasticsearch (through the proxy the sync uses, and to the raw port),
   and the same prebuilt documents sent with the client's plain `helpers.bulk`;
3. the ratio of 1 to 2;
4. peak resident memory of the materialization process;
5. fetch-only throughput of our client beside the reference connector's sequential walk;
6. incremental latency through the sensor path.
The figures are printed as markdown tables (docs/performance.md shows one run).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from elasticsearch import Elasticsearch, helpers  # noqa: E402

from sandfly_assets.dev.local_elasticsearch import ES_VERSION, LocalElasticsearch  # noqa: E402
from sandfly_assets.documents import result_document  # noqa: E402
from sandfly_assets.es_io_manager import bulk_payload, ensure_index, ensure_index_template  # noqa: E402
from sandfly_assets.partitions import day_window  # noqa: E402
from sandfly_assets.prefetch import Prefetcher  # noqa: E402
from sandfly_assets.sandfly_client import SandflyClient  # noqa: E402
from sandfly_assets.streams import PREFETCH_PAGES  # noqa: E402

USER = "bench"
PASSWORD = "bench-password-5d1e"
PAGE_SIZE = 999
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (2_000, 20_000)
CHUNK_DOCS = 1000  # the IO manager's default chunk, so the limit sends requests of the same size


# ------------------------------------------------------------------------------ processes


@dataclass
class Simulator:
    """A simulator CLI process (its own GIL) and its base URL."""

    process: subprocess.Popen[str]
    url: str

    def stop(self) -> None:
        """SIGTERM, then wait; the CLI exits 0 on SIGTERM."""
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_simulator(results_per_day: int, ssh_keys: int, admin: bool = False) -> Simulator:
    """Two days of history (yesterday is complete) with `results_per_day` results each."""
    command = [
        sys.executable,
        "-m",
        "sandfly_assets.simulator",
        "--username",
        USER,
        "--password",
        PASSWORD,
        "--port",
        "0",
        "--days",
        "2",
        "--results-per-day",
        str(results_per_day),
        "--hosts",
        "200",
        "--ssh-keys",
        str(ssh_keys),
    ]
    if admin:
        command.append("--admin")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert process.stdout is not None
    line = process.stdout.readline().strip()  # printed once it accepts connections
    if not line.startswith("http"):
        process.kill()
        raise RuntimeError(f"the simulator did not start (said {line!r})")
    return Simulator(process, line)


def upstream_url(es: LocalElasticsearch) -> str:
    """The raw Elasticsearch port behind the compat proxy."""
    return f"http://127.0.0.1:{es.upstream_port}"


def load_average() -> str:
    """The 1/5/15-minute load averages, as `uptime` shows them."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# ------------------------------------------------------------------------------ measurements


def yesterday() -> str:
    """The last complete day of the simulator's history: a full `results_per_day`."""
    return (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")


def run_sync(sim_url: str, es_url: str, index: str, day: str, extra: list[str]) -> dict[str, Any]:
    """One materialization of `sandfly_results` for `day` in a fresh process; its JSON figures."""
    command = [sys.executable, str(ROOT / "bench" / "_sync_once.py"), "--sim-url", sim_url]
    command += ["--username", USER, "--password", PASSWORD, "--es-url", es_url, "--index", index]
    command += ["--day", day, *extra]
    completed = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"sync failed: {completed.stderr[-2000:]}")
    figures = json.loads(lines[-1])
    if not figures["success"]:
        raise RuntimeError(f"sync failed: {completed.stderr[-2000:]}")
    return figures


def client(sim_url: str, concurrency: int = 8) -> SandflyClient:
    """Our client, configured as the resource configures it by default."""
    return SandflyClient(sim_url, USER, PASSWORD, verify=False, page_size=PAGE_SIZE, concurrency=concurrency)


def write_bulk_file(sim_url: str, day: str, path: Path) -> tuple[int, list[tuple[int, int]]]:
    """Fetch the day's results, build and serialize their documents as the IO manager does.

    Returns the document count and (offset, length) of each chunk of CHUNK_DOCS documents, so
    the limit run only reads bytes and sends them.
    """
    start, end = day_window(day)
    chunks: list[tuple[int, int]] = []
    count = 0
    with client(sim_url) as sandfly, path.open("wb") as out:
        upper = sandfly.get_max_result_id()
        chunk_start, in_chunk = 0, 0
        for page in sandfly.iter_result_pages(
            include_pass=True, max_sequence_id=upper, end_time_from=start, end_time_before=end
        ):
            for record in page:
                document = result_document(record)
                out.write(bulk_payload(document["_id"], document["_source"]))
                count += 1
                in_chunk += 1
                if in_chunk == CHUNK_DOCS:
                    position = out.tell()
                    chunks.append((chunk_start, position - chunk_start))
                    chunk_start, in_chunk = position, 0
        if in_chunk:
            chunks.append((chunk_start, out.tell() - chunk_start))
    return count, chunks


def plain_bulk(es_url: str, index: str, path: Path, chunks: list[tuple[int, int]]) -> float:
    """Send the pre-serialized chunks one after another on one connection; return seconds."""
    session = requests.Session()
    headers = {"Content-Type": "application/x-ndjson"}
    with path.open("rb") as source:
        bodies = _chunk_bodies(source, chunks)
        started = time.perf_counter()
        for body in bodies:
            response = session.post(
                f"{es_url}/{index}/_bulk", data=body, headers=headers, params={"filter_path": "errors"}
            )
            response.raise_for_status()
            if response.json().get("errors"):
                raise RuntimeError(f"plain _bulk into {index} reported item errors")
        seconds = time.perf_counter() - started
    session.close()
    return seconds


def helpers_bulk(es_url: str, index: str, path: Path) -> float:
    """The same documents as prebuilt actions, sent with the client's plain ``helpers.bulk``.

    The actions are decoded from the bulk file before the clock starts, so only what
    ``helpers.bulk`` does (serialize, chunk, send, read the answers) is timed. Holds every
    action in memory: used only up to ``--variant-max-size``.
    """
    actions = []
    with path.open("rb") as source:
        for action_line in source:
            doc_id = json.loads(action_line)["index"]["_id"]
            actions.append({"_index": index, "_id": doc_id, "_source": json.loads(source.readline())})
    with Elasticsearch(es_url, request_timeout=300) as es_client:
        started = time.perf_counter()
        written, errors = helpers.bulk(es_client, actions, chunk_size=CHUNK_DOCS, raise_on_error=False)
        seconds = time.perf_counter() - started
    if errors or written != len(actions):
        raise RuntimeError(f"helpers.bulk into {index}: {written} written, {len(errors)} errors")
    return seconds


def _chunk_bodies(source: Any, chunks: list[tuple[int, int]]) -> Iterator[bytes]:
    for offset, length in chunks:
        source.seek(offset)
        yield source.read(length)


def fresh_index(es: Elasticsearch, base: str) -> str:
    """`<base>-results` with the product's template, created empty."""
    ensure_index_template(es, base)
    name = f"{base}-results"
    if es.indices.exists(index=name):
        es.indices.delete(index=name)
    ensure_index(es, base, "results")
    return name


def count_docs(es: Elasticsearch, index: str) -> int:
    es.indices.refresh(index=index)
    return int(es.count(index=index)["count"])


def fetch_ours(sim_url: str, day: str, limit: int) -> tuple[int, float]:
    """Our client as the sync drives it: keyset pages bounded by getMaxID and the day window,
    the next pages fetched ahead by the stream's background thread (PREFETCH_PAGES)."""
    start, end = day_window(day)
    count = 0
    with client(sim_url) as sandfly:
        started = time.perf_counter()
        upper = sandfly.get_max_result_id()
        pages = sandfly.iter_result_pages(
            include_pass=True, max_sequence_id=upper, end_time_from=start, end_time_before=end
        )
        with Prefetcher(pages, PREFETCH_PAGES) as prefetched:
            for page in prefetched:
                count += len(page)
                if count >= limit:
                    break
        return count, time.perf_counter() - started


def fetch_reference(sim_url: str, day: str, limit: int) -> tuple[int, float]:
    """The reference connector's walk: `time_since` first, then `sequence_id > last`, 999 a page.

    One requests.Session (one connection), sequential, legacy filter dialect, pass results
    included (enable_pass). It has no upper bound, so it stops after `limit` results.
    """
    session = requests.Session()
    token = session.post(f"{sim_url}/auth/login", json={"username": USER, "password": PASSWORD}).json()
    session.headers["Authorization"] = f"Bearer {token['access_token']}"
    sort = [{"Field": "sequence_id", "sort": "asc"}]
    body: dict[str, Any] = {"size": PAGE_SIZE, "time_since": f"{day}T00:00:00Z", "sort": sort}
    count = 0
    started = time.perf_counter()
    while True:
        response = session.post(f"{sim_url}/results", json=body)
        response.raise_for_status()
        page = response.json()
        records = page["data"]
        count += len(records)
        if not page.get("more_results") or count >= limit:
            break
        last = records[-1]["sequence_id"]
        items = [{"columnField": "sequence_id", "operatorValue": ">", "value": last}]
        body = {"size": PAGE_SIZE, "filter": {"items": items, "linkoperator": "and"}, "sort": sort}
    seconds = time.perf_counter() - started
    session.close()
    return count, seconds


def keys_ours(sim_url: str, concurrency: int) -> tuple[int, float]:
    """Our client: summary pages, then details concurrently (bounded by `concurrency`)."""
    count = 0
    with client(sim_url, concurrency) as sandfly:
        started = time.perf_counter()
        for page in sandfly.iter_ssh_key_summary_pages():
            count += sum(1 for _ in sandfly.iter_ssh_key_details([key["id"] for key in page]))
        return count, time.perf_counter() - started


def keys_reference(sim_url: str) -> tuple[int, float]:
    """One at a time on one connection: the summary, then GET /sshhunter/key/{id} per key."""
    session = requests.Session()
    token = session.post(f"{sim_url}/auth/login", json={"username": USER, "password": PASSWORD}).json()
    session.headers["Authorization"] = f"Bearer {token['access_token']}"
    started = time.perf_counter()
    ids: list[Any] = []
    page = 1
    while True:
        response = session.get(f"{sim_url}/sshhunter/summary", params={"size": 10000, "page": page})
        if response.status_code == 404:
            break
        body = response.json()
        ids += [key["id"] for key in body["data"]]
        if not body.get("more_results"):
            break
        page += 1
    for key_id in ids:
        session.get(f"{sim_url}/sshhunter/key/{key_id}").raise_for_status()
    seconds = time.perf_counter() - started
    session.close()
    return len(ids), seconds


def set_sim_delay(sim_url: str, seconds: float) -> None:
    """Simulated server latency on every data call (admin endpoint)."""
    session = requests.Session()
    token = session.post(f"{sim_url}/auth/login", json={"username": USER, "password": PASSWORD}).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    session.put(f"{sim_url}/_sim/faults", json={"delay_seconds": seconds}, headers=headers).raise_for_status()
    session.close()


# ------------------------------------------------------------------------------ the run


@dataclass
class Report:
    """Everything measured, printed as markdown at the end."""

    sizes: list[dict[str, Any]] = field(default_factory=list)
    fetch: list[tuple[str, int, float]] = field(default_factory=list)
    latency: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [
            "### End to end vs plain `_bulk` (one day partition, pass results included)",
            "",
            "| results in the day | sync, results/s | materialize wall, s | write phase, results/s | "
            "plain `_bulk` via proxy, docs/s | plain `_bulk` raw port, docs/s | `helpers.bulk` via proxy, "
            "docs/s | ratio sync / plain (proxy) | ratio sync / plain (raw) | ratio sync / `helpers.bulk` | "
            "peak RSS of the run, MB | RSS before run, MB |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row in self.sizes:
            sync, limit_proxy, limit_raw = row["sync_rate"], row["limit_proxy_rate"], row["limit_raw_rate"]
            limit_helpers = row["limit_helpers_rate"]
            lines.append(
                f"| {row['size']:,} | {sync:,.0f} | {row['seconds']:.1f} | {row['write_rate']:,.0f} | "
                f"{_rate(limit_proxy)} | {_rate(limit_raw)} | {_rate(limit_helpers)} | "
                f"{_ratio(sync, limit_proxy)} | {_ratio(sync, limit_raw)} | {_ratio(sync, limit_helpers)} | "
                f"{row['peak_rss_mb']:.0f} | {row['rss_before_mb']:.0f} |"
            )
        for row in self.sizes:
            for label, figures in row.get("variants", {}).items():
                lines.append(
                    f"| {row['size']:,} ({label}) | {figures['rate']:,.0f} | {figures['seconds']:.1f} | "
                    f"{figures['write_rate']:,.0f} | | | | "
                    f"{_ratio(figures['rate'], row['limit_proxy_rate'])} | "
                    f"{_ratio(figures['rate'], row['limit_raw_rate'])} | "
                    f"{_ratio(figures['rate'], row['limit_helpers_rate'])} | {figures['peak_rss_mb']:.0f} | |"
                )
        if self.fetch:
            lines += ["", "### Fetch only (no Elasticsearch)", "", "| walk | items | seconds | items/s |"]
            lines.append("|---|---:|---:|---:|")
            for label, count, seconds in self.fetch:
                lines.append(f"| {label} | {count:,} | {seconds:.2f} | {count / seconds:,.0f} |")
        if self.latency:
            lat = self.latency
            median = statistics.median(lat["latencies"])
            lines += [
                "",
                "### Incremental latency (result added -> searchable, through the sensor path)",
                "",
                "| sensor interval assumed, s | samples | median, s | worst, s | median processing "
                "(tick start -> searchable), s | worst processing, s |",
                "|---:|---:|---:|---:|---:|---:|",
                f"| {lat['interval']} | {len(lat['latencies'])} | {median:.2f} | "
                f"{max(lat['latencies']):.2f} | {statistics.median(lat['processing']):.2f} | "
                f"{max(lat['processing']):.2f} |",
            ]
        if self.notes:
            lines += ["", *[f"- {note}" for note in self.notes]]
        return "\n".join(lines)


def _rate(value: float | None) -> str:
    return "" if value is None else f"{value:,.0f}"


def _ratio(numerator: float, denominator: float | None) -> str:
    return "" if not denominator else f"{numerator / denominator:.0%}"


def measure_size(
    args: argparse.Namespace, es: LocalElasticsearch, es_client: Elasticsearch, size: int, scratch: Path
) -> dict[str, Any]:
    """Sections 1-4 for one day size.

    Elasticsearch's speed drifts by 10-20% between runs of the same load on this machine (JIT,
    merges), so up to ``--variant-max-size`` the plain ``_bulk`` (proxy) limit and the sync are
    measured ``--rounds`` times, alternately, limit first; the best of each is reported.
    """
    sim = start_simulator(size, ssh_keys=30)
    day = yesterday()
    path = scratch / f"bulk-{size}.ndjson"
    try:
        count, chunks = write_bulk_file(sim.url, day, path)
        if count != size:
            raise RuntimeError(f"prepared {count} documents for the limit, expected {size}")
        row: dict[str, Any] = {"size": size, "variants": {}, "sync_rate": 0.0, "peak_rss_mb": 0.0}
        row["limit_proxy_rate"] = row["limit_raw_rate"] = row["limit_helpers_rate"] = None
        sync_url = args.sync_es_url or es.url
        sync_extra = [*args.sync_args]
        if args.raw_sync:
            sync_url = upstream_url(es)
            sync_extra.append("--raw-es")
        rounds = args.rounds if size <= args.variant_max_size else 1
        for _ in range(rounds):
            if "proxy" in args.limit_paths:
                rate = limit_rate(es_client, es.url, "proxy", size, path, chunks)
                row["limit_proxy_rate"] = max(row["limit_proxy_rate"] or 0.0, rate)
            figures = sync_figures(es_client, sim.url, sync_url, size, day, sync_extra)
            row["peak_rss_mb"] = max(row["peak_rss_mb"], figures["peak_rss_mb"])
            if figures["rate"] > row["sync_rate"]:
                row.update(
                    sync_rate=figures["rate"],
                    seconds=figures["seconds"],
                    write_rate=figures["write_rate"],
                    rss_before_mb=figures["rss_before_mb"],
                )
        if size <= args.variant_max_size:
            if "raw" in args.limit_paths:
                row["limit_raw_rate"] = limit_rate(es_client, upstream_url(es), "raw", size, path, chunks)
            if "helpers" in args.limit_paths:
                row["limit_helpers_rate"] = limit_rate(es_client, es.url, "helpers", size, path, chunks)
            for label, extra in args.variants:
                figures = sync_figures(
                    es_client, sim.url, sync_url, size, day, [*extra, *sync_extra[len(args.sync_args) :]]
                )
                row["variants"][label] = figures
        return row
    finally:
        path.unlink(missing_ok=True)
        sim.stop()


def sync_figures(
    es_client: Elasticsearch, sim_url: str, es_url: str, size: int, day: str, extra: list[str]
) -> dict[str, Any]:
    """One materialization into a fresh index; its rate, write rate and memory."""
    base = f"bench-e2e-{size}"
    fresh_index(es_client, base)
    figures = run_sync(sim_url, es_url, base, day, extra)
    _log(f"{size:,}: sync {figures}")
    written = figures["written"]
    if written != size:
        raise RuntimeError(f"the sync wrote {written} documents, expected {size}")
    es_client.indices.delete(index=f"{base}-results")
    return {
        **figures,
        "rate": written / figures["seconds"],
        "write_rate": written / figures["write_seconds"] if figures["write_seconds"] else 0.0,
    }


def limit_rate(
    es_client: Elasticsearch, url: str, label: str, size: int, path: Path, chunks: list[tuple[int, int]]
) -> float:
    """Documents per second of one limit load into a fresh index: plain ``_bulk`` or ``helpers.bulk``."""
    index = fresh_index(es_client, f"bench-limit-{size}")
    seconds = helpers_bulk(url, index, path) if label == "helpers" else plain_bulk(url, index, path, chunks)
    indexed = count_docs(es_client, index)
    if indexed != size:
        raise RuntimeError(f"{label} limit indexed {indexed} documents, expected {size}")
    _log(f"{size:,}: limit via {label}: {seconds:.1f} s ({size / seconds:,.0f} docs/s)")
    es_client.indices.delete(index=index)
    return size / seconds


def warm_up(es: LocalElasticsearch, es_client: Elasticsearch, size: int, scratch: Path) -> None:
    """One plain `_bulk` of a small day into a throwaway index: the JVM's JIT warms up here,
    not in the first measurement."""
    sim = start_simulator(size, ssh_keys=30)
    try:
        path = scratch / "warmup.ndjson"
        _, chunks = write_bulk_file(sim.url, yesterday(), path)
        index = fresh_index(es_client, "bench-warmup")
        seconds = plain_bulk(es.url, index, path, chunks)
        _log(f"warm-up: {size:,} documents in {seconds:.1f} s")
        es_client.indices.delete(index=index)
        path.unlink()
    finally:
        sim.stop()


def measure_fetch(args: argparse.Namespace, report: Report) -> None:
    """Section 5: our client vs the reference walk, results and SSH keys."""
    sim = start_simulator(args.fetch_results, ssh_keys=args.fetch_keys, admin=True)
    day = yesterday()
    try:
        # The simulator's speed drifts between walks: alternate, keep the best rate of each.
        ours: list[tuple[int, float]] = []
        reference: list[tuple[int, float]] = []
        for _ in range(args.fetch_rounds):
            ours.append(fetch_ours(sim.url, day, args.fetch_results))
            reference.append(fetch_reference(sim.url, day, ours[-1][0]))
        label = "results, our client (keyset, getMaxID + day window, 2 pages ahead)"
        report.fetch.append((label, *max(ours, key=lambda walk: walk[0] / walk[1])))
        label = "results, reference walk (time_since, then sequence_id > last)"
        report.fetch.append((label, *max(reference, key=lambda walk: walk[0] / walk[1])))
        for delay in (0.0, args.key_delay):
            suffix = f", {delay * 1000:.0f} ms server latency" if delay else ""
            set_sim_delay(sim.url, delay)
            count, seconds = keys_reference(sim.url)
            report.fetch.append((f"SSH keys, one at a time{suffix}", count, seconds))
            for concurrency in (4, 8, 16):
                count, seconds = keys_ours(sim.url, concurrency)
                default = " (default)" if concurrency == 8 else ""
                report.fetch.append(
                    (f"SSH keys, our client, concurrency {concurrency}{default}{suffix}", count, seconds)
                )
            _log(f"fetch: {report.fetch[-3:]}")
    finally:
        sim.stop()


def measure_latency(args: argparse.Namespace, es: LocalElasticsearch, report: Report) -> None:
    """Section 6: a child process drives ticks, runs and searches; we keep its figures."""
    sim = start_simulator(1000, ssh_keys=30, admin=True)
    try:
        command = [sys.executable, str(ROOT / "bench" / "_incremental.py"), "--sim-url", sim.url]
        command += ["--username", USER, "--password", PASSWORD, "--es-url", es.url]
        command += ["--samples", str(args.latency_samples), "--interval", str(args.sensor_interval)]
        completed = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
        lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
        if completed.returncode != 0 or not lines:
            raise RuntimeError(f"latency run failed: {completed.stderr[-2000:]}")
        report.latency = json.loads(lines[-1])
        _log(f"latency: {report.latency}")
    finally:
        sim.stop()


def _log(message: str) -> None:
    print(f"[{datetime.now(UTC).strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Options; --quick shrinks every part to a smoke run."""
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--sizes", help="comma-separated day sizes (default 10000,100000,1000000)")
    parser.add_argument("--quick", action="store_true", help="small sizes and few samples: a smoke run")
    parser.add_argument("--heap-mb", type=int, default=512, help="Elasticsearch heap (default 512)")
    parser.add_argument("--fetch-results", type=int, default=100_000, help="results for the fetch-only walk")
    parser.add_argument("--fetch-keys", type=int, default=5_000, help="SSH keys for the fetch-only walk")
    parser.add_argument("--fetch-rounds", type=int, default=3, help="alternating walks of each client")
    parser.add_argument(
        "--key-delay", type=float, default=0.005, help="extra server latency for the second key run (s)"
    )
    parser.add_argument(
        "--warmup", type=int, default=30_000, help="documents of the warm-up: JIT-warms the JVM (0 = none)"
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="alternating limit/sync rounds (sizes up to --variant-max-size)"
    )
    parser.add_argument("--latency-samples", type=int, default=10)
    parser.add_argument(
        "--sensor-interval", type=float, default=10.0, help="sensor interval assumed (s, default 10)"
    )
    parser.add_argument(
        "--sync-es-url", help="Elasticsearch URL for the sync (default: the local compat proxy)"
    )
    parser.add_argument(
        "--raw-sync",
        action="store_true",
        help="point the sync at the raw Elasticsearch port (client adapted in-process, no proxy hop)",
    )
    parser.add_argument("--chunk-max-docs", type=int, help="IO manager chunk size for the sync")
    parser.add_argument("--chunk-max-bytes", type=int, help="IO manager chunk bytes for the sync")
    parser.add_argument(
        "--compare-prefetch", action="store_true", help="also run each size with prefetching off"
    )
    parser.add_argument(
        "--compare-chunks",
        help="also run each size with these chunk_max_docs values, comma-separated (e.g. 500,2000)",
    )
    parser.add_argument(
        "--variant-max-size", type=int, default=100_000, help="largest size the comparison runs cover"
    )
    parser.add_argument(
        "--limit-paths",
        default="proxy,raw,helpers",
        help="limits to measure: proxy and raw (plain _bulk), helpers (helpers.bulk via the proxy)",
    )
    parser.add_argument("--skip-sizes", action="store_true", help="no end-to-end sizes (sections 1-4)")
    parser.add_argument("--skip-fetch", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--output", help="also write the markdown tables to this file")
    args = parser.parse_args(argv)
    if args.sizes:
        args.sizes = [int(size) for size in args.sizes.split(",")]
    else:
        args.sizes = list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    if args.quick:
        args.fetch_results = min(args.fetch_results, 20_000)
        args.fetch_keys = min(args.fetch_keys, 500)
        args.latency_samples = min(args.latency_samples, 3)
        args.sensor_interval = min(args.sensor_interval, 3.0)
        args.warmup = min(args.warmup, 2_000)
    args.sync_args = []
    if args.chunk_max_docs:
        args.sync_args += ["--chunk-max-docs", str(args.chunk_max_docs)]
    if args.chunk_max_bytes:
        args.sync_args += ["--chunk-max-bytes", str(args.chunk_max_bytes)]
    args.variants = []
    if args.compare_prefetch:
        args.variants.append(("prefetch off", [*args.sync_args, "--prefetch-pages", "0"]))
    for docs in (args.compare_chunks or "").split(","):
        if docs.strip():
            args.variants.append((f"chunk {int(docs)} docs", ["--chunk-max-docs", docs.strip()]))
    args.limit_paths = {path.strip() for path in args.limit_paths.split(",")}
    return args


@contextmanager
def local_elasticsearch(heap_mb: int) -> Iterator[LocalElasticsearch]:
    """A local Elasticsearch with its own temp state dir; the proxy in its own process."""
    state_dir = Path(tempfile.mkdtemp(prefix="sandfly-bench-es-"))
    es = LocalElasticsearch(state_dir=state_dir, port=0, heap_mb=heap_mb, detach=True)
    es.start()
    try:
        yield es
    finally:
        es.stop()
        shutil.rmtree(state_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = Report()
    load_before = load_average()
    started = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="sandfly-bench-"))
    try:
        with local_elasticsearch(args.heap_mb) as es:
            es_client = Elasticsearch(es.url, request_timeout=300)
            if args.warmup:
                warm_up(es, es_client, args.warmup, scratch)
            for size in [] if args.skip_sizes else args.sizes:
                report.sizes.append(measure_size(args, es, es_client, size, scratch))
            if not args.skip_fetch:
                measure_fetch(args, report)
            if not args.skip_latency:
                measure_latency(args, es, report)
            es_client.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    minutes = (time.perf_counter() - started) / 60
    report.notes.append(
        f"Elasticsearch {ES_VERSION}, heap {args.heap_mb} MB; sync "
        f"{'to the raw port' if args.raw_sync else 'through the compat proxy (own process)'}; "
        f"{os.cpu_count()} cores; load average before {load_before}, after {load_average()}; "
        f"{minutes:.1f} min in all."
    )
    text = report.markdown()
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
