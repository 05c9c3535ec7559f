"""Lazy document streams handed from the assets to the Elasticsearch IO manager.

An asset decides *which* records belong to its partitions; the stream turns those records
into documents one page at a time, so a whole day never sits in memory, and tallies what
passed through so the materialization can show counts, top hosts and a preview. The IO
manager consumes the stream once and then asks it for `summary_metadata()`.

Pages are prefetched (`sandfly_assets.prefetch`): while the IO manager waits for a `_bulk`
answer, a background thread already waits for the next page from Sandfly. At most
`PREFETCH_PAGES` pages wait ahead, so memory stays bounded (docs/performance.md has the numbers).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

import dagster as dg

from sandfly_assets.documents import get_path, result_time
from sandfly_assets.prefetch import Prefetcher

PREVIEW_ROWS = 10
TOP_HOSTS = 10
# Pages fetched ahead while the current one is written; 0 turns prefetching off (same thread).
PREFETCH_PAGES = 2


class RecordsRejected(Exception):
    """Records that could not become documents (e.g. no usable id). Raised after the rest is written."""


class DocumentStream:
    """Iterates documents built from pages of records, counting what it saw.

    Records that cannot become a document are collected, not dropped: once every other
    document has been handed over, the stream raises `RecordsRejected` naming them, so the
    run fails loudly after the good documents were written.

    Pages are pulled and turned into documents by a background thread, up to
    `prefetch_pages` pages ahead (default `PREFETCH_PAGES`; 0 = no thread). The thread is
    stopped and the page source closed before `on_close` runs, whether the stream ends, fails
    or is abandoned by its consumer.
    """

    def __init__(
        self,
        pages: Iterable[list[dict]],
        to_document: Callable[[Mapping[str, Any]], dict],
        tally: RecordTally,
        on_close: Callable[[], None] | None = None,
        prefetch_pages: int | None = None,
    ) -> None:
        self._pages = pages
        self._prefetch_pages = PREFETCH_PAGES if prefetch_pages is None else prefetch_pages
        self._to_document = to_document
        self.tally = tally
        self._on_close = on_close
        self.rejected: list[str] = []

    def __iter__(self) -> Iterator[dict]:
        built = self._document_pages()
        pages = Prefetcher(built, self._prefetch_pages) if self._prefetch_pages > 0 else None
        try:
            for documents in pages if pages is not None else built:
                yield from documents
        finally:
            try:
                if pages is not None:
                    pages.close()
                else:
                    built.close()
            finally:
                if self._on_close is not None:
                    self._on_close()
        if self.rejected:
            raise RecordsRejected(
                f"{len(self.rejected)} record(s) could not be turned into documents and were not "
                f"written; first: {'; '.join(self.rejected[:5])}"
            )

    def _document_pages(self) -> Iterator[list[dict]]:
        """Each page's documents, built (and tallied) where the pages are fetched.

        With prefetching this runs in the background thread, so building documents overlaps
        the IO manager's wait for Elasticsearch too, not only the wait for Sandfly. The tally
        and `rejected` are read only after the stream ended, when the thread has finished.
        """
        for page in self._pages:
            documents = []
            for record in page:
                self.tally.add(record)
                try:
                    documents.append(self._to_document(record))
                except ValueError as error:
                    self.rejected.append(str(error))
            yield documents

    def summary_metadata(self) -> dict[str, Any]:
        """Metadata about the records that went through, added to the materialization."""
        metadata = self.tally.metadata()
        metadata["records_rejected"] = dg.MetadataValue.int(len(self.rejected))
        return metadata


class RecordTally:
    """Counts records fetched; subclasses add per-type figures."""

    def __init__(self) -> None:
        self.fetched = 0

    def add(self, record: Mapping[str, Any]) -> None:
        self.fetched += 1

    def metadata(self) -> dict[str, Any]:
        return {"records_fetched": dg.MetadataValue.int(self.fetched)}


class ResultTally(RecordTally):
    """Counts results by status, severity, day and alerting host; keeps a small preview."""

    def __init__(self) -> None:
        super().__init__()
        self.by_status: Counter[str] = Counter()
        self.by_severity: Counter[str] = Counter()
        self.by_day: Counter[str] = Counter()
        self.alerting_hosts: Counter[str] = Counter()
        self.min_sequence_id: int | None = None
        self.max_sequence_id: int | None = None
        self.preview: list[dict[str, str]] = []

    def add(self, record: Mapping[str, Any]) -> None:
        super().add(record)
        status = str(get_path(record, "data.status") or "unknown")
        self.by_status[status] += 1
        self.by_severity[str(get_path(record, "data.severity"))] += 1
        instant = result_time(record)
        self.by_day[instant.date().isoformat() if instant else "unknown"] += 1
        host = _host_label(record)
        if status == "alert":
            self.alerting_hosts[host] += 1
        self._track_sequence(record.get("sequence_id"))
        if len(self.preview) < PREVIEW_ROWS:
            self.preview.append(_preview_row(record, instant, host, status))

    def _track_sequence(self, raw: Any) -> None:
        try:
            sequence_id = int(raw)
        except (TypeError, ValueError):
            return
        if self.min_sequence_id is None or sequence_id < self.min_sequence_id:
            self.min_sequence_id = sequence_id
        if self.max_sequence_id is None or sequence_id > self.max_sequence_id:
            self.max_sequence_id = sequence_id

    def metadata(self) -> dict[str, Any]:
        metadata = super().metadata()
        metadata.update(
            {
                "results_by_status": dg.MetadataValue.json(dict(sorted(self.by_status.items()))),
                "results_by_severity": dg.MetadataValue.json(dict(sorted(self.by_severity.items()))),
                "results_by_day": dg.MetadataValue.json(dict(sorted(self.by_day.items()))),
                "top_alerting_hosts": dg.MetadataValue.md(_top_hosts_table(self.alerting_hosts)),
                "preview": dg.MetadataValue.md(_markdown_table(self.preview)),
            }
        )
        if self.max_sequence_id is not None:
            metadata["min_sequence_id"] = dg.MetadataValue.int(self.min_sequence_id or 0)
            metadata["max_sequence_id"] = dg.MetadataValue.int(self.max_sequence_id)
        return metadata


class InventoryTally(RecordTally):
    """Counts hosts or SSH keys and keeps a small preview of chosen fields."""

    def __init__(self, preview_fields: list[str]) -> None:
        super().__init__()
        self.preview_fields = preview_fields
        self.preview: list[dict[str, str]] = []

    def add(self, record: Mapping[str, Any]) -> None:
        super().add(record)
        if len(self.preview) < PREVIEW_ROWS:
            self.preview.append({name: _cell(get_path(record, name)) for name in self.preview_fields})

    def metadata(self) -> dict[str, Any]:
        metadata = super().metadata()
        metadata["preview"] = dg.MetadataValue.md(_markdown_table(self.preview))
        return metadata


def _host_label(record: Mapping[str, Any]) -> str:
    return str(
        get_path(record, "header.node_name")
        or get_path(record, "header.hostname")
        or get_path(record, "header.host_id")
        or "unknown"
    )


def _preview_row(
    record: Mapping[str, Any], instant: datetime | None, host: str, status: str
) -> dict[str, str]:
    return {
        "sequence_id": _cell(record.get("sequence_id")),
        "end_time": instant.isoformat() if instant else "",
        "host": host,
        "sandfly": _cell(get_path(record, "data.name")),
        "status": status,
        "severity": _cell(get_path(record, "data.severity")),
        "key_data": _cell(get_path(record, "data.key_data")),
    }


def _cell(value: Any, limit: int = 60) -> str:
    """A markdown-safe, shortened table cell."""
    text = "" if value is None else str(value)
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _markdown_table(rows: list[dict[str, str]]) -> str:
    if not rows:
        return "_no records_"
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "| " + " | ".join("---" for _ in columns) + " |"]
    lines += ["| " + " | ".join(row.get(column, "") for column in columns) + " |" for row in rows]
    return "\n".join(lines)


def _top_hosts_table(counter: Counter[str]) -> str:
    rows = [{"host": _cell(host), "alerts": str(count)} for host, count in counter.most_common(TOP_HOSTS)]
    return _markdown_table(rows)
