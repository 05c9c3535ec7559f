"""Chaos run: a full sync with random faults on both sides must index every result exactly once.

    .venv/bin/python bench/chaos.py                              # 100,000 results, 30 days, 5% faults
    .venv/bin/python bench/chaos.py --results 5000 --days 5 --fault-rate 0.1 --seed 3

What it does:

1. starts the Sandfly simulator (in this process) with faults on about ``--fault-rate`` of its
   data calls: a 429 every N calls (``rate_limit_every``), plus server errors, malformed
   (truncated) bodies and dropped connections at randomly drawn call numbers (seeded);
2. starts a local Elasticsearch 7.9.2 (own temp state dir) and a fault-injecting
   ``CompatProxy`` in front of its HTTP port: each ``_bulk`` request is, with probability
   ``--fault-rate`` in all, answered 429 or 503 without being written, has a share of its items
   rejected with per-item 429s, or loses its connection (before forwarding, or after the
   write with the answer lost);
3. syncs the last ``--days`` day partitions of ``sandfly_results`` the way users do: one
   single-run backfill (``dg.materialize`` with the partition range tags), pass results
   included so every result counts; a failed run is re-run over the same range, as Dagster's
   run retries would, up to ``--max-runs`` runs;
4. compares Elasticsearch with the simulator's ground truth and prints expected, indexed,
   duplicates, lost, the faults injected per side, runs and attempts, and wall time.

Exit status 0 only if expected == indexed and nothing is duplicated, lost or unexpected.
A script, not a test: it takes minutes (the 100,000-result default about 3 on 2 cores).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import random
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

warnings.filterwarnings("ignore")

import dagster as dg  # noqa: E402
from elasticsearch import Elasticsearch, helpers  # noqa: E402

from sandfly_assets.assets import sandfly_results  # noqa: E402
from sandfly_assets.dev.es_compat_proxy import CompatProxy, ProxyFaults  # noqa: E402
from sandfly_assets.dev.local_elasticsearch import LocalElasticsearch  # noqa: E402
from sandfly_assets.es_io_manager import ElasticsearchIOManager, index_name  # noqa: E402
from sandfly_assets.es_resource import ElasticsearchResource  # noqa: E402
from sandfly_assets.partitions import day_window, last_days_keys  # noqa: E402
from sandfly_assets.sandfly_resource import SandflyResource  # noqa: E402
from sandfly_assets.simulator import SandflySimulator, SimulatorConfig  # noqa: E402
from sandfly_assets.simulator.config import FaultSettings  # noqa: E402

USER = "chaos"
PASSWORD = "chaos-password-3c9e"  # the simulator's own throwaway credential
INDEX_BASE = "chaos"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
# Targeted simulator faults are drawn for this many data call numbers (far more than a sync makes).
SIM_CALL_HORIZON = 20_000
# Simulator calls exempt from its faults (they do not advance its data-call counter).
SIM_EXEMPT_CALLS = frozenset({"POST /auth/login", "POST /auth/login_refresh", "DELETE /auth/logout"})


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--results", type=int, default=100_000, help="results in the window (default %(default)s)"
    )
    parser.add_argument("--days", type=int, default=30, help="day partitions synced (default %(default)s)")
    parser.add_argument(
        "--fault-rate",
        type=float,
        default=0.05,
        help="share of calls faulted on each side (default %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of data and faults (default %(default)s)")
    parser.add_argument("--max-runs", type=int, default=4, help="runs before giving up (default %(default)s)")
    parser.add_argument("--page-size", type=int, default=999, help="Sandfly page size (default %(default)s)")
    parser.add_argument(
        "--chunk-docs", type=int, default=1000, help="documents per _bulk (default %(default)s)"
    )
    parser.add_argument("--heap-mb", type=int, default=512, help="Elasticsearch heap (default %(default)s)")
    args = parser.parse_args(argv)
    if args.results < 1 or args.days < 1 or args.max_runs < 1:
        parser.error("--results, --days and --max-runs must be at least 1")
    if not 0.0 <= args.fault_rate < 1.0:
        parser.error("--fault-rate must be in [0, 1)")
    return args


@dataclass
class SimulatorFaultPlan:
    """The simulator's faults: periodic 429s plus errors, malformed bodies and drops at drawn calls."""

    rate_limit_every: int
    error_calls: tuple[int, ...]
    malformed_calls: tuple[int, ...]
    drop_calls: tuple[int, ...]

    @classmethod
    def draw(cls, rate: float, seed: int) -> SimulatorFaultPlan:
        """A quarter of ``rate`` for each kind; call 1 (the license check) is left alone."""
        if rate <= 0:
            return cls(0, (), (), ())
        rng = random.Random(seed)
        every = max(2, round(4 / rate))
        drawn: dict[str, list[int]] = {"error": [], "malformed": [], "drop": []}
        for number in range(2, SIM_CALL_HORIZON + 1):
            if number % every and rng.random() < rate * 3 / 4:
                drawn[rng.choice(sorted(drawn))].append(number)
        return cls(every, tuple(drawn["error"]), tuple(drawn["malformed"]), tuple(drawn["drop"]))

    def settings(self) -> FaultSettings:
        return FaultSettings(
            rate_limit_every=self.rate_limit_every,
            retry_after_seconds=1,
            error_calls=self.error_calls,
            malformed_calls=self.malformed_calls,
            drop_calls=self.drop_calls,
        )

    def injected(self, data_calls: int) -> dict[str, int]:
        """What the simulator injected in its first ``data_calls`` calls (its own precedence)."""
        counts = {"rate_limit_429": 0, "server_error": 0, "malformed": 0, "dropped": 0}
        errors, malformed, drops = set(self.error_calls), set(self.malformed_calls), set(self.drop_calls)
        for number in range(1, data_calls + 1):
            if self.rate_limit_every and number % self.rate_limit_every == 0:
                counts["rate_limit_429"] += 1
            elif number in errors:
                counts["server_error"] += 1
            elif number in malformed:
                counts["malformed"] += 1
            elif number in drops:
                counts["dropped"] += 1
        return counts


def proxy_faults(rate: float, seed: int) -> ProxyFaults:
    """A quarter of ``rate`` for each kind of bulk fault."""
    share = rate / 4
    return ProxyFaults(
        seed=seed,
        status_429_probability=share,
        status_503_probability=share,
        item_429_probability=share,
        drop_probability=share,
        item_429_share=0.1,
    )


@dataclass
class Outcome:
    """What the comparison with the ground truth found."""

    expected: int = 0
    indexed: int = 0
    duplicates: int = 0
    lost: int = 0
    unexpected: int = 0
    wrong_ids: int = 0
    runs: list[str] = field(default_factory=list)


def run_sync(
    resources: dict, first: str, last: str, instance: dg.DagsterInstance
) -> dg.ExecuteInProcessResult:
    """One single-run backfill of ``sandfly_results`` over [first, last], as the UI launches it."""
    return dg.materialize(
        [sandfly_results],
        resources=resources,
        instance=instance,
        tags={RANGE_START_TAG: first, RANGE_END_TAG: last, "sandfly/sync": "chaos"},
        run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}},
        raise_on_error=False,
    )


def first_error(result: dg.ExecuteInProcessResult) -> str:
    for event in result.all_events:
        error = getattr(event.event_specific_data, "error", None)
        if error is not None:
            return error.message.strip().splitlines()[0][:300]
    return "unknown error"


def compare(es: Elasticsearch, index: str, expected_ids: list[int]) -> Outcome:
    """Every document in the index against the simulator's ids; ``_id`` must be md5(external_id)."""
    es.indices.refresh(index=index)
    seen: dict[int, int] = {}
    wrong_ids = 0
    for hit in helpers.scan(
        es,
        index=index,
        query={"query": {"match_all": {}}},
        _source=["sandfly_results.sequence_id", "sandfly_results.external_id"],
        size=5000,
    ):
        record = hit["_source"]["sandfly_results"]
        sequence_id = int(record["sequence_id"])
        seen[sequence_id] = seen.get(sequence_id, 0) + 1
        if hit["_id"] != hashlib.md5(str(record["external_id"]).encode()).hexdigest():
            wrong_ids += 1
    expected = set(expected_ids)
    return Outcome(
        expected=len(expected),
        indexed=sum(seen.values()),
        duplicates=sum(count - 1 for count in seen.values()),
        lost=len(expected - set(seen)),
        unexpected=len(set(seen) - expected),
        wrong_ids=wrong_ids,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.getLogger("elastic_transport").setLevel(logging.ERROR)
    logging.getLogger("dagster").setLevel(logging.ERROR)
    started = time.monotonic()
    keys = last_days_keys(args.days)
    first, last = keys[0], keys[-1]
    per_day = -(-args.results // args.days)  # ceiling: the last day is only partly over
    plan = SimulatorFaultPlan.draw(args.fault_rate, args.seed)
    config = SimulatorConfig(
        username=USER,
        password=PASSWORD,
        seed=args.seed,
        hosts=25,
        ssh_keys=10,
        days=args.days,
        results_per_day=per_day,
        faults=plan.settings(),
    )
    state_dir = Path(tempfile.mkdtemp(prefix="sandfly-chaos-es-"))
    print(
        f"chaos: {args.days} days ({first}...{last}), ~{per_day} results/day, "
        f"fault rate {args.fault_rate:.0%} per side, seed {args.seed}",
        flush=True,
    )
    try:
        with (
            SandflySimulator(config) as sim,
            LocalElasticsearch(state_dir=state_dir, port=0, heap_mb=args.heap_mb) as local,
            CompatProxy(
                upstream_port=local.upstream_port, faults=proxy_faults(args.fault_rate, args.seed)
            ) as proxy,
        ):
            print(
                f"chaos: simulator {sim.url}, Elasticsearch {local.url}, fault proxy {proxy.url} "
                f"(ready after {time.monotonic() - started:.1f} s)",
                flush=True,
            )
            start, end = day_window(first)[0], day_window(last)[1]
            expected_ids = sim.result_sequence_ids(
                end_time_from=start, end_time_before=end, include_pass=True
            )
            elasticsearch = ElasticsearchResource(url=proxy.url, index=INDEX_BASE)
            resources = {
                "sandfly": SandflyResource(
                    server_url=sim.url,
                    username=USER,
                    password=PASSWORD,
                    verify_ssl=False,
                    enable_pass=True,
                    page_size=args.page_size,
                ),
                "es_io_manager": ElasticsearchIOManager(
                    elasticsearch=elasticsearch, chunk_max_docs=args.chunk_docs
                ),
            }
            instance = dg.DagsterInstance.ephemeral()
            runs: list[str] = []
            written = retried = bulk_requests = bulk_request_retries = 0
            sync_started = time.monotonic()
            for number in range(1, args.max_runs + 1):
                result = run_sync(resources, first, last, instance)
                if result.success:
                    [materialization, *_] = result.asset_materializations_for_node("sandfly_results")
                    metadata = {key: value.value for key, value in materialization.metadata.items()}
                    written = metadata["documents_written"]
                    retried = metadata["documents_retried"]
                    bulk_requests = metadata["bulk_requests"]
                    bulk_request_retries = metadata["bulk_request_retries"]
                    runs.append(f"run {number}: success, {written} documents written")
                    break
                runs.append(f"run {number}: failed: {first_error(result)}")
            sync_seconds = time.monotonic() - sync_started
            with Elasticsearch(local.url) as reader:
                outcome = compare(reader, index_name(INDEX_BASE, "results"), expected_ids)
            sim_calls = sim.call_counts
            data_calls = sum(count for name, count in sim_calls.items() if name not in SIM_EXEMPT_CALLS)
            sim_faults = plan.injected(data_calls)
            es_faults = proxy.fault_counts
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)

    es_injected = {
        kind: es_faults.get(kind, 0)
        for kind in (
            "status_429",
            "status_503",
            "item_429_requests",
            "item_429_items",
            "drop_before_forward",
            "drop_after_forward",
            "drop_partial_answer",
        )
    }
    es_faulted = sum(es_injected[kind] for kind in es_injected if kind != "item_429_items")
    sim_faulted = sum(sim_faults.values())
    print()
    print(f"expected documents (simulator ground truth): {outcome.expected}")
    print(f"indexed documents:                           {outcome.indexed}")
    print(f"duplicates:                                  {outcome.duplicates}")
    print(f"lost:                                        {outcome.lost}")
    print(f"unexpected (not in the ground truth):        {outcome.unexpected}")
    print(f"ids not md5(external_id):                    {outcome.wrong_ids}")
    print(
        f"faults injected, Sandfly side: {sim_faulted} of {data_calls} data calls "
        f"({sim_faulted / max(data_calls, 1):.1%}): "
        + ", ".join(f"{kind} {count}" for kind, count in sim_faults.items())
    )
    print(
        f"faults injected, Elasticsearch side: {es_faulted} of {es_faults.get('requests', 0)} bulk requests "
        f"({es_faulted / max(es_faults.get('requests', 0), 1):.1%}): "
        + ", ".join(f"{kind} {count}" for kind, count in es_injected.items())
    )
    print(f"runs: {len(runs)} (cap {args.max_runs})")
    for line in runs:
        print(f"  {line}")
    print(
        f"last run: {bulk_requests} bulk requests, {bulk_request_retries} resent whole, "
        f"{retried} items resent; {written} documents written"
    )
    print(f"sync wall time: {sync_seconds:.1f} s; total wall time: {time.monotonic() - started:.1f} s")
    ok = (
        outcome.expected == outcome.indexed
        and outcome.duplicates == outcome.lost == outcome.unexpected == outcome.wrong_ids == 0
    )
    print("RESULT: " + ("OK, every document exactly once" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
