"""Helpers for the fault scenarios: small simulators, tuned resources, run outcome readers.

Each scenario builds its own simulator (fault switches and call counters are per server, and
tests of different modules may run in parallel) and writes to a fresh index base, so every
count asserted is the exact figure of that scenario alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import dagster as dg
from elasticsearch import Elasticsearch

from sandfly_assets.es_io_manager import ElasticsearchIOManager
from sandfly_assets.es_resource import ElasticsearchResource
from sandfly_assets.sandfly_resource import SandflyResource
from sandfly_assets.simulator import SandflySimulator, SimulatorConfig
from sandfly_assets_tests.sync_support import PASSWORD, USER

# Calls the simulator exempts from faults (they do not advance its data-call counter).
EXEMPT_CALLS = frozenset({"POST /auth/login", "POST /auth/login_refresh", "DELETE /auth/logout"})


def day(offset: int) -> str:
    """The partition key `offset` days before today (UTC)."""
    return (datetime.now(UTC) - timedelta(days=offset)).strftime("%Y-%m-%d")


def simulator(**overrides: object) -> SandflySimulator:
    """A small started simulator: 5 days x 60 results, few hosts and keys (fast to sync)."""
    settings: dict = {
        "username": USER,
        "password": PASSWORD,
        "seed": 21,
        "hosts": 6,
        "ssh_keys": 6,
        "days": 5,
        "results_per_day": 60,
        "pass_share": 0.5,
        "error_share": 0.1,
    }
    settings.update(overrides)
    return SandflySimulator(SimulatorConfig(**settings)).start()


def resources(
    sim_url: str, es_url: str, *, password: str = PASSWORD, es_secrets: dict | None = None, **sandfly: object
) -> dict:
    """Resources for one scenario: a fresh index base and the given Sandfly settings.

    `max_retries` defaults to 2 so a persistent fault fails within seconds instead of after
    the production budget of six backed-off retries.
    """
    settings: dict = {"verify_ssl": False, "max_retries": 2, **sandfly}
    elasticsearch = ElasticsearchResource(url=es_url, index=f"f{uuid.uuid4().hex[:10]}", **(es_secrets or {}))
    return {
        "sandfly": SandflyResource(server_url=sim_url, username=USER, password=password, **settings),
        "elasticsearch": elasticsearch,
        "es_io_manager": ElasticsearchIOManager(elasticsearch=elasticsearch, refresh_after_write=True),
    }


def data_calls(sim: SandflySimulator) -> int:
    """How many calls advanced the simulator's fault counter (every call but login/refresh/logout)."""
    return sum(count for name, count in sim.call_counts.items() if name not in EXEMPT_CALLS)


def error_texts(result: dg.ExecuteInProcessResult) -> list[str]:
    """Every step failure's message, with its causes and contexts (what the UI shows)."""
    texts: list[str] = []
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        texts.extend(chain(error))
    return texts


def chain(error) -> Iterator[str]:
    """The message of a serialized error and of its causes and contexts, depth first."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error.message
        for extra in error.context, error.cause:
            if extra is not None:
                yield from chain(extra)
        error = None  # causes and contexts were followed recursively above


def log_messages(instance: dg.DagsterInstance, run_id: str, level: int | None = None) -> list[str]:
    """The user messages (context.log) of a run, optionally only those of one logging level."""
    return [
        entry.user_message for entry in instance.all_logs(run_id) if level is None or entry.level == level
    ]


def ids_in(es: Elasticsearch, res: dict, suffix: str = "results") -> list[int]:
    """Sequence ids of every results document of the scenario's index (empty if absent)."""
    index = f"{res['elasticsearch'].index}-{suffix}"
    if not es.indices.exists(index=index):
        return []
    es.indices.refresh(index=index)
    response = es.search(
        index=index, size=10000, source=["sandfly_results.sequence_id"], query={"match_all": {}}
    )
    return [int(hit["_source"]["sandfly_results"]["sequence_id"]) for hit in response["hits"]["hits"]]
