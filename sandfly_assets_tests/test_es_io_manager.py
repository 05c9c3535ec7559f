"""Tests for sandfly_assets.es_io_manager.

Writes and reads go to the real local Elasticsearch (``es_url`` / ``es_client`` fixtures),
each test under its own index base. Only what a single-node test cluster cannot be made to
do on demand (429 rejections, 413 answers, dropped connections) uses a fake client.
"""

import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import pandas as pd
import pytest
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
from elastic_transport import ConnectionError as TransportConnectionError
from elasticsearch import ApiError, Elasticsearch

from sandfly_assets.es_io_manager import (
    TEMPLATE_PRIORITY,
    BulkRequestError,
    BulkSettings,
    BulkWriter,
    DocumentFailure,
    DocumentWriteError,
    ElasticsearchIOManager,
    WriteReport,
    ensure_index_template,
    index_name,
    index_template,
)
from sandfly_assets.es_resource import ElasticsearchConfigError, ElasticsearchResource

DAILY = dg.DailyPartitionsDefinition(start_date="2025-01-01", timezone="UTC")
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
MAPPING_ERROR_TYPES = ("mapper_parsing_exception", "document_parsing_exception")  # ES 7 / ES 8+


# --- helpers --------------------------------------------------------------------------


@pytest.fixture
def base(es_client: Elasticsearch) -> Iterator[str]:
    """A fresh index base for one test; its indices and template are removed afterwards."""
    name = f"t{uuid.uuid4().hex[:8]}"
    yield name
    es_client.indices.delete(index=f"{name}-*", ignore_unavailable=True, allow_no_indices=True)
    if es_client.indices.exists_index_template(name=name):
        es_client.indices.delete_index_template(name=name)


def _io_manager(es_url: str, base: str, **settings: object) -> ElasticsearchIOManager:
    return ElasticsearchIOManager(
        elasticsearch=ElasticsearchResource(url=es_url, index=base), refresh_after_write=True, **settings
    )


def _document(doc_id: str, moment: datetime, **fields: object) -> dict:
    """A small document shaped like the ones `documents` builds."""
    return {
        "_id": doc_id,
        "_source": {
            "id": doc_id,
            "@timestamp": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "sandfly_data_type": "sandfly_results",
            "sandfly_key_data": f"/tmp/{doc_id}",
            "sandfly_results": {"external_id": doc_id, "data": {"status": "alert", "severity": 3}},
            **fields,
        },
    }


def _documents_for(window: dg.TimeWindow, per_day: int, prefix: str = "doc") -> Iterator[dict]:
    """``per_day`` documents for each day of the window, spread over the day."""
    day = window.start
    while day < window.end:
        for number in range(per_day):
            moment = day + timedelta(seconds=number * 86_400 // per_day)
            yield _document(f"{prefix}-{day:%Y%m%d}-{number:05d}", moment)
        day += timedelta(days=1)


class _Lazy:
    """Wraps a generator: Dagster treats a generator returned by an asset as yielded events."""

    def __init__(self, documents: Iterator[dict]) -> None:
        self.documents = documents

    def __iter__(self) -> Iterator[dict]:
        return self.documents


def _writer_asset(
    make_documents: Callable[[dg.TimeWindow], Iterable[dict]],
    metadata: dict | None = None,
    partitions_def: dg.PartitionsDefinition | None = DAILY,
) -> dg.AssetsDefinition:
    """A test asset named ``docs`` that hands a lazy document stream to the IO manager."""

    @dg.asset(
        name="docs",
        partitions_def=partitions_def,
        io_manager_key="es_io",
        metadata={"index_suffix": "results"} if metadata is None else metadata,
    )
    def docs(context: dg.AssetExecutionContext) -> Any:  # Any: the IO manager checks the stream
        window = context.partition_time_window if partitions_def is not None else None
        documents = make_documents(window)
        return _Lazy(documents) if isinstance(documents, Iterator) else documents

    return docs


def _reader_asset(captured: list[pd.DataFrame], partitions_def: dg.PartitionsDefinition | None = DAILY):
    """A downstream asset that receives ``docs`` through the IO manager and keeps the frame."""

    @dg.asset(partitions_def=partitions_def, io_manager_key="memory")
    def reader(docs: pd.DataFrame) -> int:
        captured.append(docs)
        return len(docs)

    return reader


def _metadata(result: dg.ExecuteInProcessResult, node: str = "docs") -> dict:
    """The IO manager's metadata; a range run records the same on each partition's materialization."""
    materializations = result.asset_materializations_for_node(node)
    found = [{key: value.value for key, value in m.metadata.items()} for m in materializations]
    assert found and all(metadata == found[0] for metadata in found)
    return found[0]


def _range_tags(first: str, last: str) -> dict[str, str]:
    return {RANGE_START_TAG: first, RANGE_END_TAG: last}


def _day(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)


def _count(client: Elasticsearch, index: str) -> int:
    client.indices.refresh(index=index)
    return client.count(index=index)["count"]


# --- names and the template -----------------------------------------------------------


def test_index_name() -> None:
    assert index_name("sandfly", "results") == "sandfly-results"
    assert index_name("soc", "ssh-keys") == "soc-ssh-keys"
    with pytest.raises(ElasticsearchConfigError):
        index_name("sandfly", "Results")


def test_template_and_mappings_as_read_back(es_client: Elasticsearch, es_url: str, base: str) -> None:
    result = dg.materialize(
        [_writer_asset(lambda window: _documents_for(window, 2))],
        resources={"es_io": _io_manager(es_url, base)},
        partition_key="2025-06-01",
    )
    assert result.success

    [stored] = es_client.indices.get_index_template(name=base)["index_templates"]
    template = stored["index_template"]
    assert template["index_patterns"] == [f"{base}-*"]
    assert template["priority"] == TEMPLATE_PRIORITY
    assert template["template"]["aliases"] == {base: {}}

    index = f"{base}-results"
    settings = es_client.indices.get_settings(index=index)[index]["settings"]["index"]
    assert settings["mapping"]["total_fields"]["limit"] == "5000"
    assert es_client.indices.get_alias(name=base) == {index: {"aliases": {base: {}}}}

    mappings = es_client.indices.get_mapping(index=index)[index]["mappings"]
    assert mappings["date_detection"] is False
    fields = mappings["properties"]
    text_keyword = {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}}
    lenient_date = {"type": "date", "ignore_malformed": True}
    lenient_long = {"type": "long", "ignore_malformed": True}
    keyword = {"type": "keyword", "ignore_above": 1024}
    assert fields["@timestamp"] == {"type": "date"}
    assert fields["_timestamp"] == {"type": "date"}
    for name in ("id", "sandfly_data_type", "sandfly_key_data"):
        assert fields[name] == text_keyword
    assert fields["event"]["properties"] == {
        "kind": keyword,
        "module": keyword,
        "dataset": keyword,
        "id": keyword,
        "severity": {"type": "long"},
    }
    assert fields["rule"]["properties"] == {"name": keyword}
    assert fields["host"]["properties"] == {
        "name": keyword,
        "hostname": keyword,
        "id": keyword,
        "ip": {"type": "ip"},
    }

    results = fields["sandfly_results"]["properties"]
    assert results["sequence_id"] == lenient_long
    assert results["external_id"] == text_keyword
    assert results["first_seen"] == results["last_seen"] == lenient_date
    header, data = results["header"]["properties"], results["data"]["properties"]
    assert header["end_time"] == header["start_time"] == lenient_date
    assert header["ip_addr"] == header["node_name"] == text_keyword
    assert data["end_time"] == data["start_time"] == lenient_date
    assert data["severity"] == lenient_long
    for name in ("status", "name", "type", "engine", "tags", "key_data"):
        assert data[name] == text_keyword

    hosts = fields["sandfly_hosts"]["properties"]
    assert hosts["date_last_seen"] == hosts["date_first_seen"] == hosts["date_last_scan"] == lenient_date
    assert hosts["host_id"] == hosts["hostname"] == hosts["last_seen_ip_addr"] == text_keyword
    keys = fields["sandfly_ssh_keys"]["properties"]
    assert keys["last_seen"] == keys["first_seen"] == lenient_date
    assert keys["id"] == lenient_long
    assert keys["hash"]["properties"]["sha512"] == text_keyword


def test_the_template_is_put_once_per_process_and_index(
    es_url: str, base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    indices_class = type(Elasticsearch(es_url).indices)
    original = indices_class.put_index_template

    def counting(self: object, **kwargs: object) -> object:
        calls.append(str(kwargs["name"]))
        return original(self, **kwargs)

    monkeypatch.setattr(indices_class, "put_index_template", counting)
    asset = _writer_asset(lambda window: _documents_for(window, 3))
    for day in ("2025-06-01", "2025-06-02"):
        assert dg.materialize(
            [asset], resources={"es_io": _io_manager(es_url, base)}, partition_key=day
        ).success
    assert calls == [base]


def test_unmapped_record_fields_get_vendor_compatible_types(es_client: Elasticsearch, base: str) -> None:
    """Dates and floats deep in records are typed by name; odd values never reject a document."""
    ensure_index_template(es_client, base)
    index = index_name(base, "hosts")
    moment = datetime(2025, 6, 1, tzinfo=UTC)
    first = _document(
        "h1",
        moment,
        sandfly_hosts={
            "os": {
                "info": {"uptime_date": "2025-05-20T08:14:02Z", "uptime_days": 12},
                "hardware": {"cpu": {"mhz": 2600, "bios_date": "11/12/2020"}},
                "performance": {"cpu": {"one_min": 0}},
            },
            "data": {
                "results": {"file": {"date": {"created": "2025-05-01T00:00:00Z", "created_minutes": 3}}}
            },
        },
    )
    odd = _document(
        "h2",
        moment,
        sandfly_hosts={
            "os": {
                "info": {"uptime_date": "", "uptime_days": "n/a"},
                "performance": {"cpu": {"one_min": 0.25}},
            },
            "date_last_seen": "yesterday",
        },
    )
    report = BulkWriter(es_client, index).write([first, odd])
    assert (report.created, report.failed) == (2, 0)

    host = es_client.indices.get_mapping(index=index)[index]["mappings"]["properties"]["sandfly_hosts"][
        "properties"
    ]
    info = host["os"]["properties"]["info"]["properties"]
    assert info["uptime_date"] == {"type": "date", "ignore_malformed": True}
    assert info["uptime_days"] == {"type": "long", "ignore_malformed": True}
    cpu = host["os"]["properties"]["hardware"]["properties"]["cpu"]["properties"]
    assert cpu["mhz"] == {"type": "float", "ignore_malformed": True}
    assert cpu["bios_date"]["type"] == "text"
    assert host["os"]["properties"]["performance"]["properties"]["cpu"]["properties"]["one_min"] == {
        "type": "float",
        "ignore_malformed": True,
    }
    file_date = host["data"]["properties"]["results"]["properties"]["file"]["properties"]["date"][
        "properties"
    ]
    assert file_date["created"] == {"type": "date", "ignore_malformed": True}
    assert file_date["created_minutes"] == {"type": "long", "ignore_malformed": True}


# --- writing through Dagster ----------------------------------------------------------


def test_writing_5000_documents_twice_upserts_in_place(
    es_client: Elasticsearch, es_url: str, base: str
) -> None:
    asset = _writer_asset(lambda window: _documents_for(window, 5000))
    resources = {"es_io": _io_manager(es_url, base)}

    first = dg.materialize([asset], resources=resources, partition_key="2025-06-01")
    second = dg.materialize([asset], resources=resources, partition_key="2025-06-01")

    index = f"{base}-results"
    assert _count(es_client, index) == 5000
    metadata = _metadata(first)
    assert {
        key: metadata[key] for key in ("index", "documents_written", "documents_created", "documents_updated")
    } == {
        "index": index,
        "documents_written": 5000,
        "documents_created": 5000,
        "documents_updated": 0,
    }
    assert metadata["documents_failed"] == 0
    assert metadata["documents_retried"] == 0
    assert metadata["bulk_requests"] == 5  # 1,000 documents per request
    assert metadata["partition_count"] == 1
    assert metadata["time_window_start"] == "2025-06-01T00:00:00+00:00"
    assert metadata["time_window_end"] == "2025-06-02T00:00:00+00:00"
    assert metadata["duration_seconds"] > 0
    assert metadata["documents_per_second"] == pytest.approx(5000 / metadata["duration_seconds"], rel=0.01)
    again = _metadata(second)
    assert (again["documents_created"], again["documents_updated"], again["documents_written"]) == (
        0,
        5000,
        5000,
    )


def test_a_document_that_breaks_the_mapping_fails_the_run_after_the_others_are_written(
    es_client: Elasticsearch, es_url: str, base: str
) -> None:
    def make_documents(window: dg.TimeWindow) -> Iterator[dict]:
        for number, document in enumerate(_documents_for(window, 999)):
            if number == 500:
                yield {"_id": "bad-doc", "_source": {"@timestamp": "not a date", "sandfly_data_type": "x"}}
            yield document

    result = dg.materialize(
        [_writer_asset(make_documents)],
        resources={"es_io": _io_manager(es_url, base)},
        partition_key="2025-06-01",
        raise_on_error=False,
    )

    assert not result.success
    assert _count(es_client, f"{base}-results") == 999
    failure = result.failure_data_for_node("docs")
    message = failure.user_failure_data.description
    pattern = (
        rf"^1 document\(s\) could not be written to Elasticsearch index '{base}-results'; "
        r"the other 999 document\(s\) were written\. First failures: id=bad-doc status=400 "
        rf"({'|'.join(MAPPING_ERROR_TYPES)}): failed to parse field \[@timestamp\] of type \[date\]"
    )
    assert re.match(pattern, message), message
    failure_metadata = {key: value.value for key, value in failure.user_failure_data.metadata.items()}
    assert failure_metadata["documents_failed"] == 1
    assert failure_metadata["documents_written"] == 999
    assert failure_metadata["documents_created"] == 999


def test_range_run_writes_every_day_and_records_the_window(
    es_client: Elasticsearch, es_url: str, base: str
) -> None:
    result = dg.materialize(
        [_writer_asset(lambda window: _documents_for(window, 10))],
        resources={"es_io": _io_manager(es_url, base)},
        tags=_range_tags("2025-06-01", "2025-06-03"),
    )
    assert result.success
    metadata = _metadata(result)
    assert metadata["time_window_start"] == "2025-06-01T00:00:00+00:00"
    assert metadata["time_window_end"] == "2025-06-04T00:00:00+00:00"
    assert metadata["partition_count"] == 3
    assert metadata["documents_created"] == 30
    assert len(result.asset_materializations_for_node("docs")) == 3
    assert _count(es_client, f"{base}-results") == 30


def test_summary_metadata_is_merged_after_the_stream_is_consumed(es_url: str, base: str) -> None:
    class Stream:
        def __init__(self, window: dg.TimeWindow) -> None:
            self.window = window
            self.seen = 0

        def __iter__(self) -> Iterator[dict]:
            for document in _documents_for(self.window, 4):
                self.seen += 1
                yield document

        def summary_metadata(self) -> dict:
            return {
                "records_fetched": self.seen,
                "results_by_status": dg.MetadataValue.json({"alert": self.seen}),
            }

    result = dg.materialize(
        [_writer_asset(Stream)], resources={"es_io": _io_manager(es_url, base)}, partition_key="2025-06-01"
    )
    metadata = _metadata(result)
    assert metadata["records_fetched"] == 4
    assert metadata["results_by_status"] == {"alert": 4}
    assert metadata["documents_written"] == 4


def test_a_failing_stream_still_writes_what_it_gave(es_client: Elasticsearch, es_url: str, base: str) -> None:
    def make_documents(window: dg.TimeWindow) -> Iterator[dict]:
        yield from _documents_for(window, 7)
        raise RuntimeError("Sandfly went away mid-page")

    result = dg.materialize(
        [_writer_asset(make_documents)],
        resources={"es_io": _io_manager(es_url, base)},
        partition_key="2025-06-01",
        raise_on_error=False,
    )
    assert not result.success
    error = result.failure_data_for_node("docs").error  # Dagster wraps non-Dagster errors
    assert error.cause.message == "RuntimeError: Sandfly went away mid-page\n"
    assert _count(es_client, f"{base}-results") == 7


def test_rejected_documents_and_a_failing_stream_are_reported_together(
    es_client: Elasticsearch, es_url: str, base: str
) -> None:
    def make_documents(window: dg.TimeWindow) -> Iterator[dict]:
        yield from _documents_for(window, 3)
        yield {"_id": "bad-doc", "_source": {"@timestamp": "not a date"}}
        raise RuntimeError("Sandfly went away mid-page")

    result = dg.materialize(
        [_writer_asset(make_documents)],
        resources={"es_io": _io_manager(es_url, base)},
        partition_key="2025-06-01",
        raise_on_error=False,
    )
    description = result.failure_data_for_node("docs").user_failure_data.description
    assert description.startswith(
        f"1 document(s) could not be written to Elasticsearch index '{base}-results'; "
        "the other 3 document(s) were written. First failures: id=bad-doc status=400 "
    )
    assert description.endswith(
        "a re-run is safe. The document stream also failed: Sandfly went away mid-page"
    )
    assert _count(es_client, f"{base}-results") == 3


def test_missing_index_suffix_is_a_clear_error(es_url: str, base: str) -> None:
    result = dg.materialize(
        [_writer_asset(lambda window: _documents_for(window, 1), metadata={})],
        resources={"es_io": _io_manager(es_url, base)},
        partition_key="2025-06-01",
        raise_on_error=False,
    )
    assert not result.success
    message = result.failure_data_for_node("docs").error.message
    assert message == (
        "dagster._core.errors.DagsterInvariantViolationError: Asset docs uses ElasticsearchIOManager but has "
        "no 'index_suffix' in its definition metadata; add e.g. metadata={'index_suffix': 'results'} to the "
        "asset.\n"
    )


def test_an_object_that_is_not_a_document_stream_is_refused(es_url: str, base: str) -> None:
    result = dg.materialize(
        [_writer_asset(lambda window: {"_id": "x", "_source": {}})],
        resources={"es_io": _io_manager(es_url, base)},
        partition_key="2025-06-01",
        raise_on_error=False,
    )
    message = result.failure_data_for_node("docs").error.cause.message
    assert message == (
        "TypeError: ElasticsearchIOManager expects an iterable of documents {'_id': ..., '_source': {...}}, "
        "got dict.\n"
    )


# --- chunking and oversized documents on the real cluster ------------------------------


class _SpyClient:
    """Passes bulk requests to a real client and records the ids of each request."""

    def __init__(self, client: Elasticsearch) -> None:
        self.client = client
        self.requests: list[list[str]] = []

    def bulk(self, **kwargs: object) -> object:
        self.requests.append(_ids_of(kwargs["operations"]))
        return self.client.bulk(**kwargs)


def _ids_of(operations: object) -> list[str]:
    lines = bytes(operations).decode().splitlines()
    return [json.loads(line)["index"]["_id"] for line in lines[0::2]]


def test_chunks_are_bounded_by_count_and_bytes(es_client: Elasticsearch, base: str) -> None:
    spy = _SpyClient(es_client)
    moment = datetime(2025, 6, 1, tzinfo=UTC)
    documents = [_document(f"d{number}", moment, padding="x" * 100) for number in range(10)]
    size = len(json.dumps({"index": {"_id": "d0"}})) + len(
        json.dumps(documents[0]["_source"], separators=(",", ":"))
    )
    settings = BulkSettings(chunk_max_docs=4, chunk_max_bytes=3 * (size + 2))
    report = BulkWriter(spy, index_name(base, "results"), settings).write(iter(documents))
    assert spy.requests == [["d0", "d1", "d2"], ["d3", "d4", "d5"], ["d6", "d7", "d8"], ["d9"]]
    assert (report.created, report.failed, report.requests) == (10, 0, 4)

    by_count = _SpyClient(es_client)
    BulkWriter(by_count, index_name(base, "results"), BulkSettings(chunk_max_docs=4)).write(iter(documents))
    assert [len(ids) for ids in by_count.requests] == [4, 4, 2]


def test_an_oversized_document_is_sent_alone_and_its_neighbours_are_written(
    es_client: Elasticsearch, base: str
) -> None:
    spy = _SpyClient(es_client)
    moment = datetime(2025, 6, 1, tzinfo=UTC)
    documents = [_document(f"d{number}", moment) for number in range(6)]
    documents.insert(3, _document("big", moment, padding="x" * 50_000))
    index = index_name(base, "results")
    report = BulkWriter(spy, index, BulkSettings(chunk_max_bytes=20_000)).write(documents)
    assert spy.requests == [["d0", "d1", "d2"], ["big"], ["d3", "d4", "d5"]]
    assert (report.created, report.failed) == (7, 0)
    assert _count(es_client, index) == 7


# --- read-back ------------------------------------------------------------------------


def _write_days(es_url: str, base: str, first: str, last: str, per_day: int) -> None:
    writer = _writer_asset(lambda window: _documents_for(window, per_day))
    assert dg.materialize(
        [writer], resources={"es_io": _io_manager(es_url, base)}, tags=_range_tags(first, last)
    ).success


def _read(es_url: str, base: str, **run: object) -> pd.DataFrame:
    captured: list[pd.DataFrame] = []
    writer = _writer_asset(lambda window: [])
    result = dg.materialize(
        [writer, _reader_asset(captured)],
        selection=["reader"],
        resources={"es_io": _io_manager(es_url, base), "memory": dg.InMemoryIOManager()},
        **run,
    )
    assert result.success
    [frame] = captured
    return frame


def _expected_ids(first: str, last: str, per_day: int) -> list[str]:
    window = dg.TimeWindow(_day(first), _day(last) + timedelta(days=1))
    return sorted(document["_id"] for document in _documents_for(window, per_day))


def test_round_trip_one_day(es_url: str, base: str) -> None:
    _write_days(es_url, base, "2025-06-01", "2025-06-03", per_day=25)

    frame = _read(es_url, base, partition_key="2025-06-02")

    assert list(frame["_id"]) == _expected_ids("2025-06-02", "2025-06-02", 25)
    first = frame.iloc[0]
    assert first["_id"] == "doc-20250602-00000"
    assert first["@timestamp"] == "2025-06-02T00:00:00Z"
    assert first["sandfly_key_data"] == "/tmp/doc-20250602-00000"
    assert first["sandfly_results.external_id"] == "doc-20250602-00000"
    assert first["sandfly_results.data.status"] == "alert"
    assert first["sandfly_results.data.severity"] == 3
    assert set(frame["sandfly_data_type"]) == {"sandfly_results"}


def test_round_trip_a_range(es_url: str, base: str) -> None:
    _write_days(es_url, base, "2025-06-01", "2025-06-04", per_day=5)

    frame = _read(es_url, base, tags=_range_tags("2025-06-02", "2025-06-03"))

    assert list(frame["_id"]) == _expected_ids("2025-06-02", "2025-06-03", 5)
    assert len(frame) == 10
    assert frame["@timestamp"].min() == "2025-06-02T00:00:00Z"
    assert frame["@timestamp"].max() == "2025-06-03T19:12:00Z"


def test_reading_a_day_never_written_gives_an_empty_frame(es_url: str, base: str) -> None:
    frame = _read(es_url, base, partition_key="2025-06-02")
    assert list(frame.columns) == ["_id"]
    assert len(frame) == 0


def test_unpartitioned_upstream_reads_the_whole_index(es_url: str, base: str) -> None:
    moment = datetime(2025, 6, 1, tzinfo=UTC)
    writer = _writer_asset(
        lambda window: [_document("k1", moment), _document("k2", moment + timedelta(days=40))],
        metadata={"index_suffix": "ssh-keys"},
        partitions_def=None,
    )
    captured: list[pd.DataFrame] = []
    result = dg.materialize(
        [writer, _reader_asset(captured, partitions_def=None)],
        resources={"es_io": _io_manager(es_url, base), "memory": dg.InMemoryIOManager()},
    )
    assert result.success
    assert list(captured[0]["_id"]) == ["k1", "k2"]
    assert _metadata(result)["index"] == f"{base}-ssh-keys"
    assert "time_window_start" not in _metadata(result)
    assert _metadata(result)["partition_count"] == 0


# --- retries and per-item failures with a fake client ---------------------------------


def _api_error(status: int) -> ApiError:
    meta = ApiResponseMeta(
        status=status,
        http_version="1.1",
        headers=HttpHeaders(),
        duration=0.0,
        node=NodeConfig("http", "es", 9200),
    )
    return ApiError(message=f"status {status}", meta=meta, body={})


class _FakeClient:
    """A bulk endpoint that answers from a script; records the ids of every request.

    ``item_statuses`` maps an id to the statuses of its successive attempts (201 after them);
    ``request_errors`` are raised by the first requests, one each.
    """

    def __init__(
        self,
        item_statuses: dict[str, list[int]] | None = None,
        request_errors: list[Exception] | None = None,
        too_large: set[str] | None = None,
    ) -> None:
        self.item_statuses = {key: list(value) for key, value in (item_statuses or {}).items()}
        self.request_errors = list(request_errors or [])
        self.too_large = too_large or set()
        self.requests: list[list[str]] = []

    def bulk(self, *, index: str, operations: bytes, filter_path: str) -> dict:
        ids = _ids_of(operations)
        self.requests.append(ids)
        if self.request_errors:
            raise self.request_errors.pop(0)
        if self.too_large & set(ids):
            raise _api_error(413)
        items = [{"index": self._answer(doc_id)} for doc_id in ids]
        return {"errors": any(item["index"]["status"] >= 300 for item in items), "items": items}

    def _answer(self, doc_id: str) -> dict:
        statuses = self.item_statuses.get(doc_id)
        status = statuses.pop(0) if statuses else 201
        if status < 300:
            return {"_id": doc_id, "status": status, "result": "created"}
        error = {
            "type": "es_rejected_execution_exception" if status == 429 else "x_exception",
            "reason": "busy",
        }
        return {"_id": doc_id, "status": status, "error": error}


def _simple_documents(*ids: str) -> list[dict]:
    return [{"_id": doc_id, "_source": {"n": number}} for number, doc_id in enumerate(ids)]


def test_429_and_503_items_are_resent_alone_with_backoff() -> None:
    client = _FakeClient(item_statuses={"b": [429], "d": [429, 503]})
    sleeps: list[float] = []
    writer = BulkWriter(client, "x-results", BulkSettings(), sleep=sleeps.append)
    report = writer.write(_simple_documents("a", "b", "c", "d"))
    assert client.requests == [["a", "b", "c", "d"], ["b", "d"], ["d"]]
    assert sleeps == [0.5, 1.0]
    assert (report.created, report.updated, report.failed, report.retried, report.requests) == (4, 0, 0, 3, 3)


def test_items_still_rejected_after_the_last_retry_are_failures() -> None:
    client = _FakeClient(item_statuses={"b": [429] * 10})
    sleeps: list[float] = []
    settings = BulkSettings(max_retries=3, backoff_base_seconds=1, backoff_max_seconds=3)
    report = BulkWriter(client, "x-results", settings, sleep=sleeps.append).write(_simple_documents("a", "b"))
    assert client.requests == [["a", "b"], ["b"], ["b"], ["b"]]
    assert sleeps == [1, 2, 3]
    assert report.created == 1
    assert report.failures == [DocumentFailure("b", 429, "es_rejected_execution_exception", "busy")]


def test_other_item_errors_are_collected_not_retried() -> None:
    client = _FakeClient(item_statuses={"a": [400], "c": [409]})
    report = BulkWriter(client, "x-results", sleep=lambda _: None).write(_simple_documents("a", "b", "c"))
    assert client.requests == [["a", "b", "c"]]
    assert report.failures == [
        DocumentFailure("a", 400, "x_exception", "busy"),
        DocumentFailure("c", 409, "x_exception", "busy"),
    ]
    assert (report.created, report.failed) == (1, 2)


def test_whole_request_429_and_connection_errors_are_retried() -> None:
    errors: list[Exception] = [_api_error(429), TransportConnectionError("connection reset"), _api_error(503)]
    client = _FakeClient(request_errors=errors)
    sleeps: list[float] = []
    report = BulkWriter(client, "x-results", sleep=sleeps.append).write(_simple_documents("a", "b"))
    assert client.requests == [["a", "b"]] * 4
    assert sleeps == [0.5, 1.0, 2.0]
    assert (report.created, report.failed) == (2, 0)


def test_a_cluster_that_stays_down_stops_the_write_with_a_clear_error() -> None:
    refused = TransportConnectionError("refused", errors=(ConnectionRefusedError(111, "Connection refused"),))
    client = _FakeClient(request_errors=[refused] * 3)
    writer = BulkWriter(client, "x-results", BulkSettings(max_retries=2), sleep=lambda _: None)
    with pytest.raises(BulkRequestError) as raised:
        writer.write(_simple_documents("a"))
    assert str(raised.value) == (
        "Bulk request to Elasticsearch index 'x-results' failed after 3 attempt(s): ConnectionError: "
        "Connection error caused by: ConnectionRefusedError([Errno 111] Connection refused). "
        "0 document(s) had been written before; re-running the partition is safe "
        "(documents are upserted by id)."
    )


def test_a_non_retryable_request_error_is_not_retried() -> None:
    client = _FakeClient(request_errors=[_api_error(401)])
    with pytest.raises(BulkRequestError, match=r"failed after 1 attempt\(s\): HTTP 401 status 401\."):
        BulkWriter(client, "x-results", sleep=lambda _: None).write(_simple_documents("a"))
    assert client.requests == [["a"]]


def test_a_413_document_is_reported_alone_and_a_413_chunk_is_split() -> None:
    client = _FakeClient(too_large={"big"})
    # The chunk limit is generous, so "big" travels with its neighbours until ES refuses.
    report = BulkWriter(client, "x-results", sleep=lambda _: None).write(
        _simple_documents("a", "b", "big", "c")
    )
    assert client.requests == [["a", "b", "big", "c"], ["a", "b"], ["big", "c"], ["big"], ["c"]]
    assert report.created == 3
    [failure] = report.failures
    assert (failure.doc_id, failure.status, failure.error_type) == ("big", 413, "request_entity_too_large")
    assert failure.reason == "the document (34 bytes) exceeds the cluster's http.max_content_length"


def test_malformed_documents_are_failures_not_crashes() -> None:
    client = _FakeClient()
    documents = [
        {"_id": "ok", "_source": {"n": 1}},
        {"_source": {"n": 2}},
        {"_id": "", "_source": {}},
        {"_id": "no-source"},
        "not a document",
        {"_id": "nan", "_source": {"x": float("nan")}},
        {"_id": "object", "_source": {"x": object()}},
        {"_id": "surrogate", "_source": {"x": "\ud800"}},
    ]
    report = BulkWriter(client, "x-results", sleep=lambda _: None).write(documents)
    assert client.requests == [["ok"]]
    assert [(f.doc_id, f.error_type) for f in report.failures] == [
        ("<missing _id>", "invalid_document"),
        ("<missing _id>", "invalid_document"),
        ("no-source", "invalid_document"),
        ("<missing _id>", "invalid_document"),
        ("nan", "serialization_error"),
        ("object", "serialization_error"),
        ("surrogate", "serialization_error"),
    ]
    assert report.failures[4].reason == "Out of range float values are not JSON compliant"


# --- encoding ahead -----------------------------------------------------------------


def _mixed_documents() -> list[object]:
    """Ordinary documents around an oversized one and two that cannot be encoded."""
    documents: list[object] = _simple_documents(*(f"d{number}" for number in range(9)))
    documents.insert(4, {"_id": "big", "_source": {"x": "y" * 500}})
    documents.insert(2, {"_id": "nan", "_source": {"x": float("nan")}})
    documents.insert(7, {"_source": {}})
    return documents


def _write_mixed(encode_ahead_chunks: int) -> tuple[_FakeClient, WriteReport]:
    client = _FakeClient(item_statuses={"d5": [400], "d6": [429]})
    settings = BulkSettings(chunk_max_docs=3, chunk_max_bytes=300, encode_ahead_chunks=encode_ahead_chunks)
    report = BulkWriter(client, "x-results", settings, sleep=lambda _: None).write(iter(_mixed_documents()))
    return client, report


def test_encoding_ahead_sends_the_same_requests_as_encoding_in_line() -> None:
    in_line_client, in_line = _write_mixed(0)
    ahead_client, ahead = _write_mixed(1)
    assert in_line_client.requests == [
        ["d0", "d1", "d2"],
        ["d3"],
        ["big"],
        ["d4", "d5", "d6"],
        ["d6"],
        ["d7", "d8"],
    ]
    assert ahead_client.requests == in_line_client.requests
    for report in (in_line, ahead):
        assert (report.created, report.failed, report.retried, report.requests) == (9, 3, 1, 6)
        assert sorted((f.doc_id, f.error_type) for f in report.failures) == [
            ("<missing _id>", "invalid_document"),
            ("d5", "x_exception"),
            ("nan", "serialization_error"),
        ]


class _SlowClient(_FakeClient):
    """Each bulk call takes a while; notes how many documents the stream had given by its end."""

    def __init__(self, produced: list[int]) -> None:
        super().__init__()
        self.produced = produced
        self.given_after_call: list[int] = []

    def bulk(self, **kwargs: Any) -> dict:
        answer = super().bulk(**kwargs)
        time.sleep(0.3)
        self.given_after_call.append(self.produced[0])
        return answer


def _counting(documents: list[dict], produced: list[int]) -> Iterator[dict]:
    for document in documents:
        produced[0] += 1
        yield document


def test_the_next_chunk_is_encoded_while_the_last_one_is_sent() -> None:
    """While the first request (3 documents) is in flight, the next chunks are taken and
    encoded: the one waiting in the queue and the one the worker holds (3 + 3 + 3)."""
    documents = _simple_documents(*(f"d{number}" for number in range(12)))
    for ahead, expected in ((1, 9), (0, 3)):
        produced = [0]
        client = _SlowClient(produced)
        settings = BulkSettings(chunk_max_docs=3, encode_ahead_chunks=ahead)
        report = BulkWriter(client, "x-results", settings).write(_counting(documents, produced))
        assert report.created == 12
        assert client.given_after_call[0] == expected


def test_a_write_that_fails_closes_the_stream_and_its_encoding_thread() -> None:
    closed: list[bool] = []

    def stream() -> Iterator[dict]:
        try:
            yield from _simple_documents(*(f"d{number}" for number in range(100)))
        finally:
            closed.append(True)

    client = _FakeClient(request_errors=[_api_error(401)])
    writer = BulkWriter(client, "x-results", BulkSettings(chunk_max_docs=5), sleep=lambda _: None)
    with pytest.raises(BulkRequestError):
        writer.write(stream())
    assert closed == [True]
    assert client.requests == [["d0", "d1", "d2", "d3", "d4"]]
    assert not [thread for thread in threading.enumerate() if thread.name == "bulk-encode"]


def test_document_write_error_message_shows_the_first_five_failures() -> None:
    client = _FakeClient(item_statuses={f"bad{number}": [400] for number in range(7)})
    ids = ["good1", *(f"bad{number}" for number in range(7)), "good2"]
    report = BulkWriter(client, "x-results", sleep=lambda _: None).write(_simple_documents(*ids))
    error = DocumentWriteError(report)
    shown = "; ".join(f"id=bad{number} status=400 x_exception: busy" for number in range(5))
    assert str(error) == (
        "7 document(s) could not be written to Elasticsearch index 'x-results'; the other 2 document(s) "
        f"were written. First failures: {shown} (and 2 more). Fix the cause and re-run the partition: "
        "documents are upserted by id, so a re-run is safe."
    )


def test_index_template_body_is_self_consistent() -> None:
    body = index_template("sandfly")
    assert body["index_patterns"] == ["sandfly-*"]
    assert body["template"]["aliases"] == {"sandfly": {}}
    assert body["template"]["settings"] == {"index": {"mapping": {"total_fields": {"limit": 5000}}}}
    assert body["template"]["mappings"]["date_detection"] is False
