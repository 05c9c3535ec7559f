"""The three Sandfly assets and their checks: what a day partition means for each.

- `sandfly_results` day D: results whose end time (`data.end_time`) falls on D (UTC).
- `sandfly_hosts` / `sandfly_ssh_keys` day D: hosts / keys *last seen* on D, written with
  their current state. The API only knows the present, so materializing a past day writes
  only the hosts whose latest sighting is that day: their current state, never an older
  one. A host or key that was seen again later belongs to the later day and is left alone.
  Hosts and keys never seen at all (no last-seen time) belong to the day the sync runs.

Each asset checks the license before anything is fetched, then hands a lazy document
stream to the Elasticsearch IO manager, which writes it in bulk and records the counts.
All three accept a range of days in one run (a full sync is one run over the range).
"""

import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import dagster as dg

from sandfly_assets.documents import (
    host_document,
    host_last_seen,
    result_document,
    ssh_key_document,
    ssh_key_last_seen,
)
from sandfly_assets.partitions import daily_partitions
from sandfly_assets.sandfly_client import SandflyClient, SandflyFeatureNotLicensed
from sandfly_assets.sandfly_resource import SandflyResource
from sandfly_assets.streams import DocumentStream, InventoryTally, ResultTally

T = TypeVar("T")

# `backfill_policy` is beta in this Dagster version; single-run backfills are what we want.
warnings.filterwarnings("ignore", category=dg.BetaWarning)

ES_IO_MANAGER_KEY = "es_io_manager"
GROUP = "sandfly"
RESULTS_KEY = dg.AssetKey("sandfly_results")
HOSTS_KEY = dg.AssetKey("sandfly_hosts")
SSH_KEYS_KEY = dg.AssetKey("sandfly_ssh_keys")


class ResultsConfig(dg.Config):
    """Which `sequence_id` range a results run fetches.

    A full sync leaves both unset: every result of the days in the run, up to the server's
    replication-safe maximum id at the start of the run. The sensor sets both, so an
    incremental run fetches only the new results of its day.
    """

    after_sequence_id: int | None = None
    max_sequence_id: int | None = None


@dg.asset(
    key=RESULTS_KEY,
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key=ES_IO_MANAGER_KEY,
    metadata={"index_suffix": "results"},
    group_name=GROUP,
    kinds={"elasticsearch"},
    description="Sandfly investigation results (alert and error; pass too with SANDFLY_ENABLE_PASS), "
    "by the UTC day of their end time.",
)
def sandfly_results(
    context: dg.AssetExecutionContext, config: ResultsConfig, sandfly: SandflyResource
) -> DocumentStream:
    """Results of the run's days, streamed page by page to Elasticsearch."""
    window = context.partition_time_window
    client = sandfly.get_client()
    _closing_on_error(client, _check_license, context, client)
    after = config.after_sequence_id or 0
    upper = (
        config.max_sequence_id
        if config.max_sequence_id is not None
        else _closing_on_error(client, client.get_max_result_id)
    )
    context.log.info(
        f"Fetching results ending in [{window.start.isoformat()}, {window.end.isoformat()}) with "
        f"{after} < sequence_id <= {upper} (pass results {'included' if sandfly.enable_pass else 'excluded'})"
    )
    context.add_output_metadata(
        {
            "sequence_id_after": dg.MetadataValue.int(after),
            "sequence_id_upper_bound": dg.MetadataValue.int(upper),
            "include_pass": dg.MetadataValue.bool(sandfly.enable_pass),
        }
    )
    pages = client.iter_result_pages(
        include_pass=sandfly.enable_pass,
        after_sequence_id=after,
        max_sequence_id=upper,
        end_time_from=window.start,
        end_time_before=window.end,
    )
    return DocumentStream(pages, result_document, ResultTally(), on_close=client.close)


@dg.asset(
    key=HOSTS_KEY,
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key=ES_IO_MANAGER_KEY,
    metadata={"index_suffix": "hosts"},
    group_name=GROUP,
    kinds={"elasticsearch"},
    description="Sandfly hosts by the UTC day they were last seen, each with its current state.",
)
def sandfly_hosts(context: dg.AssetExecutionContext, sandfly: SandflyResource) -> DocumentStream:
    """Hosts last seen in the run's days: summary pages select them, details fill them in."""
    window = context.partition_time_window
    client = sandfly.get_client()
    _closing_on_error(client, _check_license, context, client)
    synced_at = datetime.now(UTC)

    def in_window(summary: dict) -> bool:
        seen = host_last_seen(summary) or synced_at
        return window.start <= seen < window.end

    def pages() -> Iterator[list[dict]]:
        for page in client.iter_host_summary_pages():
            host_ids = [str(host.get("host_id")) for host in page if in_window(host)]
            if host_ids:
                yield list(client.iter_host_details(host_ids))

    tally = InventoryTally(["host_id", "hostname", "date_last_seen", "os.info.node", "active"])
    return DocumentStream(
        pages(), lambda record: host_document(record, synced_at), tally, on_close=client.close
    )


@dg.asset(
    key=SSH_KEYS_KEY,
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key=ES_IO_MANAGER_KEY,
    metadata={"index_suffix": "ssh-keys"},
    group_name=GROUP,
    kinds={"elasticsearch"},
    description="SSH Hunter keys by the UTC day they were last seen, each with its current detail. "
    "A license without ssh_hunter writes nothing and says so (warning check), without failing.",
)
def sandfly_ssh_keys(context: dg.AssetExecutionContext, sandfly: SandflyResource) -> DocumentStream:
    """SSH keys last seen in the run's days, details fetched concurrently."""
    window = context.partition_time_window
    client = sandfly.get_client()
    license_ = _closing_on_error(client, _check_license, context, client)
    synced_at = datetime.now(UTC)
    tally = SshKeyTally(["id", "friendly_name", "key_type", "last_seen", "num_hosts_current"])
    to_document = lambda record: ssh_key_document(record, synced_at)  # noqa: E731

    if "ssh_hunter" not in license_.features:
        return _ssh_hunter_unlicensed(context, client, tally, to_document)

    def in_window(summary: dict) -> bool:
        seen = ssh_key_last_seen(summary) or synced_at
        return window.start <= seen < window.end

    def pages() -> Iterator[list[dict]]:
        # Runs while the IO manager writes, after the output was handed over: the outcome goes
        # into the tally (read through summary_metadata), never through add_output_metadata.
        try:
            for page in client.iter_ssh_key_summary_pages():
                key_ids = [key.get("id") for key in page if in_window(key)]
                if key_ids:
                    yield list(client.iter_ssh_key_details(key_ids))
        except SandflyFeatureNotLicensed as error:
            context.log.warning(
                f"{error}. The license listed ssh_hunter when the run started; "
                f"{tally.fetched} SSH key(s) had been fetched and are written, the rest are not synced."
            )
            tally.licensed = False

    return DocumentStream(pages(), to_document, tally, on_close=client.close)


class SshKeyTally(InventoryTally):
    """The inventory tally plus whether the server let us read SSH Hunter at all."""

    def __init__(self, preview_fields: list[str]) -> None:
        super().__init__(preview_fields)
        self.licensed = True

    def metadata(self) -> dict[str, Any]:
        metadata = super().metadata()
        metadata["ssh_hunter_licensed"] = dg.MetadataValue.bool(self.licensed)
        return metadata


def _ssh_hunter_unlicensed(context, client, tally, to_document) -> DocumentStream:
    """The license lacks SSH Hunter: write nothing, say so, and let the check flag it."""
    context.log.warning(
        "The Sandfly license does not include the ssh_hunter feature, so there are no SSH keys to sync. "
        "Hosts and results are unaffected."
    )
    tally.licensed = False
    client.close()
    return DocumentStream([], to_document, tally)


def _closing_on_error(client: SandflyClient, call: Callable[..., T], *args: Any) -> T:
    """Run a setup call; if it fails, close the client now (logout, sessions) and re-raise.

    Before the stream is handed over nothing else would close it until the run ends.
    """
    try:
        return call(*args)
    except BaseException:
        client.close()
        raise


def _check_license(context: dg.AssetExecutionContext, client: SandflyClient):
    """Fail the run before any data call when the license is expired or lacks replication."""
    license_ = client.check_license()
    expiry = license_.expiry.isoformat() if license_.expiry else "no expiry date"
    context.log.info(f"Sandfly license OK (customer {license_.customer_name!r}, expires {expiry})")
    return license_


# ---- asset checks: read the figures the IO manager recorded on the materialization ----


def _latest_metadata(context: dg.AssetCheckExecutionContext, key: dg.AssetKey) -> dict:
    event = context.instance.get_latest_materialization_event(key)
    if event is None or event.asset_materialization is None:
        return {}
    return {name: value.value for name, value in event.asset_materialization.metadata.items()}


def _written_equals_fetched(context: dg.AssetCheckExecutionContext, key: dg.AssetKey) -> dg.AssetCheckResult:
    metadata = _latest_metadata(context, key)
    fetched = metadata.get("records_fetched")
    written = metadata.get("documents_written")
    rejected = metadata.get("records_rejected", 0)
    return dg.AssetCheckResult(
        passed=fetched is not None and fetched == written and not rejected,
        metadata={
            "records_fetched": fetched if fetched is not None else -1,
            "documents_written": written if written is not None else -1,
            "records_rejected": rejected,
        },
        description="Every record fetched from Sandfly was acknowledged by Elasticsearch.",
    )


def _no_failed_documents(context: dg.AssetCheckExecutionContext, key: dg.AssetKey) -> dg.AssetCheckResult:
    failed = _latest_metadata(context, key).get("documents_failed")
    return dg.AssetCheckResult(
        passed=failed == 0, metadata={"documents_failed": failed if failed is not None else -1}
    )


def delivery_checks(key: dg.AssetKey) -> list[dg.AssetChecksDefinition]:
    """The two checks every asset gets: nothing fetched went unwritten, nothing failed."""

    @dg.asset_check(asset=key, name="written_equals_fetched")
    def written_equals_fetched(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        return _written_equals_fetched(context, key)

    @dg.asset_check(asset=key, name="no_failed_documents")
    def no_failed_documents(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        return _no_failed_documents(context, key)

    return [written_equals_fetched, no_failed_documents]


@dg.asset_check(asset=SSH_KEYS_KEY, name="ssh_hunter_licensed")
def ssh_keys_licensed(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    licensed = _latest_metadata(context, SSH_KEYS_KEY).get("ssh_hunter_licensed", True)
    return dg.AssetCheckResult(
        passed=bool(licensed),
        severity=dg.AssetCheckSeverity.WARN,
        description="The Sandfly license includes SSH Hunter (otherwise no SSH keys can be synced).",
    )


sandfly_assets = [sandfly_results, sandfly_hosts, sandfly_ssh_keys]
sandfly_asset_checks = [
    *delivery_checks(RESULTS_KEY),
    *delivery_checks(HOSTS_KEY),
    *delivery_checks(SSH_KEYS_KEY),
    ssh_keys_licensed,
]
