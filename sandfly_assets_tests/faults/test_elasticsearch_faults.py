"""Elasticsearch failing under a real sync: nothing lost, nothing duplicated.

Every scenario runs the real `sandfly_results` asset through `dagster.materialize` against the
Sandfly simulator over HTTP and the real local Elasticsearch, with a fault-injecting
`CompatProxy` between the two (chained in front of the session's `es_url`, so the same
scenarios run against any cluster given by `ELASTICSEARCH_URL`). Counts are compared with
the simulator's ground truth, exactly.

The IO manager backs off in milliseconds here (the production delays are seconds), so a
cluster that stays down fails a run within a second or two.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import dagster as dg
import pytest
from elasticsearch import Elasticsearch

from sandfly_assets.assets import sandfly_results
from sandfly_assets.dev.es_compat_proxy import CompatProxy, ProxyFaults
from sandfly_assets.documents import result_document
from sandfly_assets.es_io_manager import (
    ElasticsearchIOManager,
    bulk_payload,
    ensure_index_template,
    index_name,
)
from sandfly_assets.es_resource import ElasticsearchResource
from sandfly_assets.sandfly_resource import SandflyResource
from sandfly_assets.simulator import SandflySimulator, SimulatorConfig
from sandfly_assets_tests.sync_support import PASSWORD, USER, materialize_days, window

# The simulator's clock: noon three days ago, so its "today" is a complete partition in the
# past whatever the time of the test run, and only its earlier days carry the fractional
# 23:59:59.999 results.
SIM_NOW = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=3)
FULL_DAY = (SIM_NOW - timedelta(days=1)).strftime("%Y-%m-%d")
SIM_TODAY = SIM_NOW.strftime("%Y-%m-%d")
DATA_CALLS = ("POST /results", "GET /results/getMaxID", "GET /hosts", "GET /sshhunter/summary")


@pytest.fixture(scope="module")
def sim() -> Iterator[SandflySimulator]:
    config = SimulatorConfig(
        username=USER,
        password=PASSWORD,
        seed=55,
        hosts=6,
        ssh_keys=4,
        days=3,
        results_per_day=300,
        pass_share=0.2,
        error_share=0.1,
        now=SIM_NOW,
    )
    with SandflySimulator(config) as simulator:
        yield simulator


@contextmanager
def fault_proxy(es_url: str, **faults: object) -> Iterator[CompatProxy]:
    """A fault-injecting proxy in front of the session's cluster."""
    parts = urlsplit(es_url)
    assert parts.scheme == "http" and parts.hostname and parts.port, (
        f"need a plain http cluster URL: {es_url}"
    )
    proxy = CompatProxy(upstream_port=parts.port, upstream_host=parts.hostname, faults=ProxyFaults(**faults))
    with proxy:
        yield proxy


def _resources(sim_url: str, es_url: str, base: str, **io_settings: object) -> dict:
    """Resources writing to `base`, backing off in milliseconds, small chunks (several requests)."""
    elasticsearch = ElasticsearchResource(url=es_url, index=base)
    settings: dict = {"chunk_max_docs": 40, "backoff_base_seconds": 0.005, "backoff_max_seconds": 0.02}
    settings.update(io_settings)
    return {
        "sandfly": SandflyResource(
            server_url=sim_url, username=USER, password=PASSWORD, verify_ssl=False, max_retries=2
        ),
        "elasticsearch": elasticsearch,
        "es_io_manager": ElasticsearchIOManager(
            elasticsearch=elasticsearch, refresh_after_write=True, **settings
        ),
    }


@pytest.fixture
def base(es_client: Elasticsearch) -> Iterator[str]:
    """A fresh index base for one scenario; removed afterwards."""
    name = f"ef{uuid.uuid4().hex[:8]}"
    yield name
    es_client.indices.delete(index=f"{name}-*", ignore_unavailable=True, allow_no_indices=True)
    if es_client.indices.exists_index_template(name=name):
        es_client.indices.delete_index_template(name=name)


def _run(resources: dict, day: str, instance: dg.DagsterInstance | None = None) -> dg.ExecuteInProcessResult:
    return materialize_days(resources, day, selection=[sandfly_results], instance=instance)


def _expected_ids(sim: SandflySimulator, day: str) -> list[int]:
    start, end = window(day, day)
    return sim.result_sequence_ids(end_time_from=start, end_time_before=end, include_pass=False)


def _indexed(es: Elasticsearch, base: str) -> list[tuple[str, int]]:
    """(`_id`, sequence_id) of every document in the results index, duplicates kept."""
    index = index_name(base, "results")
    es.indices.refresh(index=index)
    hits = es.search(
        index=index, size=10_000, source=["sandfly_results.sequence_id"], query={"match_all": {}}
    )
    return [(hit["_id"], hit["_source"]["sandfly_results"]["sequence_id"]) for hit in hits["hits"]["hits"]]


def _assert_exactly_once(es: Elasticsearch, base: str, expected: list[int]) -> None:
    """Every expected result is indexed once, under its deterministic id, and nothing else is."""
    indexed = _indexed(es, base)
    sequence_ids = sorted(sequence_id for _, sequence_id in indexed)
    assert sequence_ids == sorted(expected)
    assert len({doc_id for doc_id, _ in indexed}) == len(expected)
    assert es.count(index=index_name(base, "results"))["count"] == len(expected)


def _metadata(result: dg.ExecuteInProcessResult) -> dict:
    [materialization] = result.asset_materializations_for_node("sandfly_results")
    return {key: value.value for key, value in materialization.metadata.items()}


def _failure_texts(result: dg.ExecuteInProcessResult) -> str:
    """Every error of the run (step failures, resource init failures) with its causes, as one text."""
    texts = []
    for event in result.all_events:
        data = event.event_specific_data
        error = getattr(data, "error", None)
        while error is not None:
            texts.append(error.message)
            error = error.cause or error.context
    return "\n".join(texts)


def _failure_metadata(result: dg.ExecuteInProcessResult) -> dict:
    [event] = result.get_step_failure_events()
    user_failure = event.step_failure_data.user_failure_data
    assert user_failure is not None
    return {key: value.value for key, value in user_failure.metadata.items()}


def _day_documents(resources: dict, sim: SandflySimulator, day: str) -> list[dict]:
    """The documents the asset builds for `day`, through the real client and document model."""
    start, end = window(day, day)
    with resources["sandfly"].get_client() as client:
        pages = client.iter_result_pages(
            include_pass=False, max_sequence_id=sim.max_result_id(), end_time_from=start, end_time_before=end
        )
        return [result_document(record) for page in pages for record in page]


# --- the scenarios ----------------------------------------------------------------------


def test_a_cluster_down_at_run_start_fails_before_any_sandfly_data_call(
    sim: SandflySimulator, es_url: str, es_client: Elasticsearch, base: str
) -> None:
    with fault_proxy(es_url, down=True) as proxy:
        resources = _resources(sim.url, proxy.url, base)
        sim.reset_call_counts()
        result = _run(resources, FULL_DAY)
        calls = sim.call_counts
        faults = proxy.fault_counts
        url = proxy.url

    assert not result.success
    text = _failure_texts(result)
    assert f"Elasticsearch at {url} is not reachable: ConnectionError" in text
    assert "Check ELASTICSEARCH_URL (or ELASTICSEARCH_CLOUD_ID), that the cluster is running" in text
    assert {name: count for name, count in calls.items() if name in DATA_CALLS} == {}
    assert faults["down"] >= 1  # the preflight's attempts, and nothing after it
    assert faults.get("requests", 0) == 0  # no bulk request was even tried
    assert result.asset_materializations_for_node("sandfly_results") == []
    assert not es_client.indices.exists(index=index_name(base, "results"))


def test_a_cluster_stopping_mid_run_fails_it_and_a_rerun_completes_exactly(
    sim: SandflySimulator, es_url: str, es_client: Elasticsearch, base: str
) -> None:
    expected = _expected_ids(sim, FULL_DAY)
    assert len(expected) > 3 * 40  # the day needs more than the 3 chunks written before the outage
    instance = dg.DagsterInstance.ephemeral()
    with fault_proxy(es_url, down_after=3) as proxy:
        resources = _resources(sim.url, proxy.url, base)
        failed = _run(resources, FULL_DAY, instance)
        assert proxy.fault_counts["down"] >= 1

        assert not failed.success
        text = _failure_texts(failed)
        assert f"Bulk request to Elasticsearch index '{base}-results' failed after 9 attempt(s)" in text
        assert "120 document(s) had been written before" in text
        assert f"Cluster: {proxy.url}." in text
        assert _failure_metadata(failed)["documents_written"] == 120
        assert len(_indexed(es_client, base)) == 120
        # The partition is not marked materialized: nothing moves past the unwritten results.
        assert failed.asset_materializations_for_node("sandfly_results") == []
        assert instance.get_latest_materialization_event(dg.AssetKey("sandfly_results")) is None

        proxy.clear_faults()  # the cluster is back
        rerun = _run(resources, FULL_DAY, instance)

    assert rerun.success
    metadata = _metadata(rerun)
    assert metadata["records_fetched"] == metadata["documents_written"] == len(expected)
    assert (metadata["documents_created"], metadata["documents_updated"]) == (len(expected) - 120, 120)
    _assert_exactly_once(es_client, base, expected)


def test_a_document_the_mapping_rejects_is_named_and_the_rest_are_written(
    sim: SandflySimulator, es_url: str, es_client: Elasticsearch, base: str
) -> None:
    # One result with a millisecond end time, into an index whose (wrongly strict) explicit
    # mapping accepts end times only without fractions: that one document is rejected.
    [odd] = sim.add_results(1, end_time=SIM_NOW - timedelta(hours=2, milliseconds=-123), status="alert")
    expected = _expected_ids(sim, SIM_TODAY)
    assert odd in expected
    index = index_name(base, "results")
    strict_end_time = {"type": "date", "format": "strict_date_time_no_millis"}
    ensure_index_template(es_client, base)
    es_client.indices.create(
        index=index,
        mappings={
            "properties": {
                "sandfly_results": {"properties": {"data": {"properties": {"end_time": strict_end_time}}}}
            }
        },
    )
    resources = _resources(sim.url, es_url, base)
    [odd_document] = [
        doc
        for doc in _day_documents(resources, sim, SIM_TODAY)
        if doc["_source"]["sandfly_results"]["sequence_id"] == odd
    ]
    external_id = odd_document["_source"]["sandfly_results"]["external_id"]
    assert odd_document["_id"] == hashlib.md5(external_id.encode()).hexdigest()

    failed = _run(resources, SIM_TODAY)

    assert not failed.success
    text = _failure_texts(failed)
    assert (
        f"1 document(s) could not be written to Elasticsearch index '{index}'; the other "
        f"{len(expected) - 1} document(s) were written. First failures: id={odd_document['_id']} "
        f"(event.id={external_id}) status=400 mapper_parsing_exception: failed to parse field "
        "[sandfly_results.data.end_time]"
    ) in text
    metadata = _failure_metadata(failed)
    assert (metadata["documents_written"], metadata["documents_failed"]) == (len(expected) - 1, 1)
    assert metadata["records_fetched"] == len(expected)
    _assert_exactly_once(es_client, base, [sequence_id for sequence_id in expected if sequence_id != odd])

    # The fix: the field goes back to lenient parsing (as our template maps it).
    es_client.indices.put_mapping(
        index=index,
        properties={
            "sandfly_results": {
                "properties": {
                    "data": {"properties": {"end_time": {**strict_end_time, "ignore_malformed": True}}}
                }
            }
        },
    )
    rerun = _run(resources, SIM_TODAY)

    assert rerun.success
    metadata = _metadata(rerun)
    assert (metadata["documents_created"], metadata["documents_updated"]) == (1, len(expected) - 1)
    assert metadata["documents_failed"] == 0
    _assert_exactly_once(es_client, base, expected)


@pytest.mark.parametrize("chunk_max_bytes", [None, "limit"], ids=["split-by-413", "sent-alone"])
def test_a_document_over_the_request_size_limit_never_sinks_its_chunk(
    sim: SandflySimulator, es_url: str, es_client: Elasticsearch, base: str, chunk_max_bytes: str | None
) -> None:
    probe = _resources(sim.url, es_url, base)
    sizes = {
        doc["_id"]: len(bulk_payload(doc["_id"], doc["_source"]))
        for doc in _day_documents(probe, sim, FULL_DAY)
    }
    largest = max(sizes.values())
    limit = max(size for size in sizes.values() if size < largest)  # the largest documents are over it
    too_large = sorted(doc_id for doc_id, size in sizes.items() if size > limit)
    expected = _expected_ids(sim, FULL_DAY)
    assert len(sizes) == len(expected) and 1 <= len(too_large) < len(expected)
    # Without a byte bound the whole day goes in one request and the cluster refuses it (413):
    # halving isolates the large documents. With the bound at the limit they travel alone.
    io_settings: dict = {"chunk_max_docs": 1000}
    if chunk_max_bytes == "limit":
        io_settings["chunk_max_bytes"] = limit

    with fault_proxy(es_url, max_content_length=limit) as proxy:
        failed = _run(_resources(sim.url, proxy.url, base, **io_settings), FULL_DAY)
        refused = proxy.fault_counts["status_413"]

    assert not failed.success
    metadata = _failure_metadata(failed)
    assert (metadata["documents_written"], metadata["documents_failed"]) == (
        len(expected) - len(too_large),
        len(too_large),
    )
    text = _failure_texts(failed)
    for doc_id in too_large:
        assert f"id={doc_id} (event.id=" in text
        assert f"status=413 request_entity_too_large: the document ({sizes[doc_id]} bytes)" in text
    if chunk_max_bytes == "limit":
        assert refused == len(too_large)  # each refused alone, nothing else refused
    else:
        assert refused > len(too_large)
    indexed = {doc_id for doc_id, _ in _indexed(es_client, base)}
    assert indexed == set(sizes) - set(too_large)


@pytest.mark.parametrize(
    "faults",
    [
        {"status_429_every": 2},
        {"status_503_every": 2},
        {"item_429_every": 2, "item_429_share": 0.3},
        {"drop_every": 2},
        {
            "status_429_every": 5,
            "status_503_every": 7,
            "item_429_every": 3,
            "drop_every": 4,
            "item_429_share": 0.5,
        },
    ],
    ids=["429-storm", "503s", "item-429s", "drops", "all-together"],
)
def test_rejections_and_lost_answers_write_every_document_exactly_once(
    sim: SandflySimulator, es_url: str, es_client: Elasticsearch, base: str, faults: dict
) -> None:
    expected = _expected_ids(sim, FULL_DAY)
    with fault_proxy(es_url, **faults) as proxy:
        result = _run(_resources(sim.url, proxy.url, base, chunk_max_docs=25), FULL_DAY)
        injected = proxy.fault_counts

    assert result.success, _failure_texts(result)
    for switch in faults:
        if switch.endswith("_every"):
            kind = switch.removesuffix("_every")
            assert sum(count for name, count in injected.items() if name.startswith(kind)) > 0, injected
    metadata = _metadata(result)
    assert metadata["records_fetched"] == metadata["documents_written"] == len(expected)
    assert metadata["documents_failed"] == 0
    if "drop_every" in faults:
        # A write whose answer was lost is resent and then reported as an update, not a copy.
        assert metadata["documents_updated"] > 0
    _assert_exactly_once(es_client, base, expected)
