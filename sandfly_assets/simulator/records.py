"""Build full and summary result records on demand from compact state.

A record is a pure function of (seed, stored row): the same sequence id always
gives byte-identical JSON, so nothing but the row needs to be stored.

The full record is assembled directly as JSON text from pre-encoded fragments
(per host, per sandfly and status, per finding), because building and encoding
nested dicts for every result was the bottleneck of large pages. The dict form is
parsed back from that text, so the two can never disagree.

Value types are fixed per field (ints stay ints, floats are always floats, lists
stay lists) because Elasticsearch's dynamic mapping would otherwise conflict.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache

from . import catalog
from .findings import SUBJECTS, Finding, Minutes, detail_fragment
from .hosts import HostIdentity, os_block
from .rand import Draws, rng_for
from .results import ResultStore
from .timeutil import format_ms

HOUR_MS = 3_600_000
FINDING_CACHE_LIMIT = 20_000
RUN_ID_CACHE_LIMIT = 50_000
_ENCODER = json.JSONEncoder(separators=(",", ":"), check_circular=False)


def _bool(value: bool) -> str:
    """JSON literal of a bool."""
    return "true" if value else "false"


@lru_cache(maxsize=4096)
def _quoted(text: str) -> str:
    """JSON string literal; cached because the same catalog strings recur constantly."""
    return json.dumps(text)


def _members(values: dict) -> str:
    """Encode a dict and drop the braces, to splice its members into a larger object."""
    return _ENCODER.encode(values)[1:-1]


@dataclass(slots=True)
class Core:
    """The scalar values of a result that both the full and the summary forms show."""

    sequence_id: int
    status: str
    sandfly: catalog.SandflyDef
    host: HostIdentity
    end_ms: int
    end_text: str
    header_end_text: str
    header_start_text: str
    data_start_text: str
    first_seen_text: str
    exec_seconds: int
    count: int
    superseded: bool
    whitelisted: bool
    drift_result: bool
    manual_scan: bool
    subject_index: int
    external_id: str
    key_data: str
    status_msg: str
    run_id: str


class RecordBuilder:
    """Turns a stored row into the JSON the real server would return."""

    def __init__(self, seed: int, store: ResultStore, hosts: list[HostIdentity], anchor_ms: int) -> None:
        self.seed = seed
        self.store = store
        self.hosts = hosts
        self.anchor_ms = anchor_ms
        self._header_parts = [self._header_parts_for(host) for host in hosts]
        self._data_parts = {
            (sandfly.name, status): self._data_part_for(sandfly, status)
            for sandfly in catalog.SANDFLIES
            for status in catalog.STATUS_NAMES
        }
        self._hash_cache: dict[tuple[str, int, int], str] = {}
        self._finding_cache: dict[tuple[str, int, int], tuple[str, Minutes]] = {}
        self._os_cache: dict[int, dict | None] = {}
        self._run_ids: dict[tuple[int, int], str] = {}

    def core(self, index: int) -> Core:
        """Scalar values of the result at `index`, drawn from its hash in a fixed order."""
        row = self.store.row(index)
        draws = Draws(self.seed, row.sequence_id)
        sandfly = catalog.SANDFLIES[row.sandfly]
        host = self.hosts[row.host]
        status = catalog.STATUS_NAMES[row.status]
        external_hex = draws.hex(40)
        exec_seconds = draws.take(6)
        header_end = row.end_ms + draws.take(3) * 1000
        scan_seconds = 15 + draws.take(105)
        repeated = draws.chance(0.25)
        count = 2 + draws.take(39) if repeated else 1
        first_back_hours = 1 + draws.take(719)
        superseded = draws.chance(0.03)
        whitelisted = draws.chance(0.02)
        drift_result = draws.chance(0.05)
        manual_scan = draws.chance(0.03)
        subject = draws.take(65_536)
        blank_key_data = draws.chance(0.05)
        subjects = SUBJECTS[sandfly.detail]
        key_data = ""
        if status == "alert" and not blank_key_data:
            key_data = subjects[subject % len(subjects)] or host.node_name
        status_msg = (
            catalog.ERROR_MESSAGES[subject % len(catalog.ERROR_MESSAGES)] if status == "error" else "ok"
        )
        header_end_text = format_ms(header_end)
        return Core(
            sequence_id=row.sequence_id,
            status=status,
            sandfly=sandfly,
            host=host,
            end_ms=row.end_ms,
            end_text=format_ms(row.end_ms),
            header_end_text=header_end_text,
            header_start_text=format_ms(header_end - scan_seconds * 1000),
            data_start_text=format_ms(row.end_ms - exec_seconds * 1000),
            first_seen_text=format_ms(header_end - first_back_hours * HOUR_MS)
            if repeated
            else header_end_text,
            exec_seconds=exec_seconds,
            count=count,
            superseded=superseded,
            whitelisted=whitelisted,
            drift_result=drift_result,
            manual_scan=manual_scan,
            subject_index=subject % len(subjects),
            external_id=_external_id(header_end_text, external_hex),
            key_data=key_data,
            status_msg=status_msg,
            run_id=self._run_id(row.host, header_end),
        )

    def _run_id(self, host: int, header_end_ms: int) -> str:
        """Results of one host within a ten-minute scan window share a run id (cached: runs recur)."""
        key = (host, header_end_ms // 600_000)
        run_id = self._run_ids.get(key)
        if run_id is None:
            value = _md5(f"{self.seed}:run:{key[0]}:{key[1]}")
            run_id = f"{value[:8]}-{value[8:12]}-4{value[13:16]}-a{value[17:20]}-{value[20:32]}"
            if len(self._run_ids) < RUN_ID_CACHE_LIMIT:
                self._run_ids[key] = run_id
        return run_id

    def summary(self, index: int) -> dict:
        """A `ResultSummary` row: flat keys that contain dots."""
        core = self.core(index)
        host = core.host
        sandfly = core.sandfly
        return {
            "id": str(core.sequence_id),
            "sequence_id": core.sequence_id,
            "external_id": core.external_id,
            "data.status": core.status,
            "whitelisted": core.whitelisted,
            "containerized": False,
            "count": core.count,
            "first_seen": core.first_seen_text,
            "last_seen": core.header_end_text,
            "superseded": core.superseded,
            "header.host_id": host.host_id,
            "header.hostname": host.hostname,
            "header.node_name": host.node_name,
            "header.host_sequence_id": host.host_sequence_id,
            "data.tags": sandfly.tags,
            "data.name": sandfly.name,
            "data.engine": sandfly.engine,
            "header.ip_addr": host.ip_addr,
            "header.queue_name": host.queue_name,
            "header.run_id": core.run_id,
            "data.severity": sandfly.severity,
            "data.end_time": core.end_text,
            "header.tags": list(host.tags),
            "data.exec_seconds": core.exec_seconds,
            "data.type": sandfly.type,
            "data.key_data": core.key_data,
            "data.masked": False,
        }

    def field_value(self, index: int, path: str) -> object:
        """One field of a result for filtering: from the scalar core when possible, else the full record."""
        getter = CORE_FIELDS.get(path)
        if getter is not None:
            return getter(self.core(index))
        return dotted_value(self.full(index), path)

    def summary_json(self, index: int) -> str:
        """The summary row as JSON text."""
        return _ENCODER.encode(self.summary(index))

    def full(self, index: int) -> dict:
        """A full `Result` as a dict (parsed from `full_json`, so both always agree)."""
        return json.loads(self.full_json(index))

    def full_json(self, index: int) -> str:
        """A full `Result` with header, data and engine detail, as JSON text."""
        core = self.core(index)
        return (
            f'{{"id":"{core.sequence_id}","sequence_id":{core.sequence_id},"external_id":"{core.external_id}",'
            f'"count":{core.count},"first_seen":"{core.first_seen_text}","last_seen":"{core.header_end_text}",'
            f'"superseded":{_bool(core.superseded)},"whitelisted":{_bool(core.whitelisted)},'
            f'"drift_result":{_bool(core.drift_result)},"containerized":false,'
            f'"header":{self._header_json(core)},"data":{self._data_json(core)}}}'
        )

    def _header_json(self, core: Core) -> str:
        """`header`: where and when the scan ran."""
        before_run, after_run = self._header_parts[core.host.index]
        return (
            f'{{"start_time":"{core.header_start_text}","end_time":"{core.header_end_text}",{before_run},'
            f'"run_id":"{core.run_id}","manual_scan":{_bool(core.manual_scan)},'
            f'"ad_hoc":{_bool(core.manual_scan)},{after_run}}}'
        )

    @staticmethod
    def _header_parts_for(host: HostIdentity) -> tuple[str, str]:
        """Pre-encoded host fields of a result header, before and after the per-result ones."""
        profile = catalog.OS_PROFILES[host.os_index]
        before_run = {
            "hostname": host.hostname,
            "ip_addr": host.ip_addr,
            "node_name": host.node_name,
            "host_id": host.host_id,
            "host_sequence_id": host.host_sequence_id,
            "host_id_version": 2,
            "ssh_port": 22,
            "queue_name": host.queue_name,
            "credentials_id": host.credentials_id,
            "jump_hosts": [],
        }
        after_run = {
            "simulated": False,
            "tags": list(host.tags),
            "containerized": False,
            "override_directory": "",
            "verify_host_key": False,
            "status": "ok",
            "status_msg": "",
            "ssh": {"banner": profile.ssh_banner, "negotiated_key_type": "ssh-ed25519", "port": 22},
        }
        return _members(before_run), _members(after_run)

    @staticmethod
    def _data_part_for(sandfly: catalog.SandflyDef, status: str) -> str:
        """Pre-encoded sandfly fields of `data`."""
        return _members(
            {
                "name": sandfly.name,
                "status": status,
                "severity": sandfly.severity,
                "type": sandfly.type,
                "engine": sandfly.engine,
                "tags": sandfly.tags,
            }
        )

    def _data_json(self, core: Core) -> str:
        """`data`: the sandfly's verdict and its findings."""
        sandfly = core.sandfly
        return (
            f"{{{self._data_parts[sandfly.name, core.status]},"
            f'"status_msg":{_quoted(core.status_msg)},"key_data":{_quoted(core.key_data)},'
            f'"exec_seconds":{core.exec_seconds},"start_time":"{core.data_start_text}",'
            f'"end_time":"{core.end_text}","masked":false,"output_format":"json",'
            f'"pid":{4000 + core.sequence_id % 60000},"uid":0,"euid":0,"uid_username":"root",'
            f'"euid_username":"root","results":{self._results_json(core)}}}'
        )

    def _results_json(self, core: Core) -> str:
        """`data.results`: explanation, match hashes and, for alerts, the engine detail."""
        if core.status == "alert":
            explanation = core.sandfly.explanation
        elif core.status == "error":
            explanation = core.status_msg
        else:
            explanation = catalog.PASS_EXPLANATION
        detail = ""
        if core.status == "alert":
            fragment, minutes = self._finding(core)
            detail = "," + minutes.render(fragment, core.end_ms)
        return (
            f'{{"explanation":{_quoted(explanation)},"match_hashes":{self._match_hashes(core)},'
            f'"containerized":false,"drift_result":{_bool(core.drift_result)},'
            f'"whitelisted":{_bool(core.whitelisted)}{detail}}}'
        )

    def _match_hashes(self, core: Core) -> str:
        """Finding fingerprints (JSON): the same finding on the same host gets the same strict hash."""
        key = (core.sandfly.name, core.subject_index, core.host.index)
        cached = self._hash_cache.get(key)
        if cached is None:
            subject = SUBJECTS[core.sandfly.detail][core.subject_index]
            name = core.sandfly.name
            cached = _members(
                {
                    "version": 1,
                    "strict": _md5(f"{name}|{subject}|{core.host.host_id}"),
                    "moderate": _md5(f"{name}|{subject}"),
                    "permissive": _md5(name),
                }
            )
            cached = "{" + cached + "}"
            if len(self._hash_cache) < FINDING_CACHE_LIMIT:
                self._hash_cache[key] = cached
        return cached

    def _finding(self, core: Core) -> tuple[str, Minutes]:
        """The cached detail of this result's finding (generated on first use).

        Findings are shared across hosts (one campaign hits the fleet), except the
        OS identification, which describes the host itself.
        """
        per_host = core.sandfly.detail == "os"
        key = (core.sandfly.name, core.subject_index, core.host.index if per_host else -1)
        cached = self._finding_cache.get(key)
        if cached is None:
            rng = rng_for(self.seed, f"finding:{core.sandfly.name}:{core.subject_index}", key[2])
            finding = Finding(
                sandfly=core.sandfly,
                subject_index=core.subject_index,
                anchor_ms=self.anchor_ms - rng.randrange(7 * 86_400) * 1000,
                uptime_days=rng.randrange(1, 400),
            )
            cached = detail_fragment(finding, rng, self._os(core.host) if per_host else None)
            if len(self._finding_cache) < FINDING_CACHE_LIMIT:
                self._finding_cache[key] = cached
        return cached

    def _os(self, host: HostIdentity) -> dict | None:
        """The host's OS block (for OS identification results)."""
        if host.index not in self._os_cache:
            self._os_cache[host.index] = os_block(self.seed, host)
        return self._os_cache[host.index]


def _md5(text: str) -> str:
    """MD5 hex digest (the format real match hashes have)."""
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _external_id(header_end_text: str, hex_part: str) -> str:
    """`YYYYmmddHHMMSSZ.<40 hex>`, from the formatted header end time."""
    stamp = header_end_text
    return f"{stamp[0:4]}{stamp[5:7]}{stamp[8:10]}{stamp[11:13]}{stamp[14:16]}{stamp[17:19]}Z.{hex_part}"


CORE_FIELDS = {
    "external_id": lambda core: core.external_id,
    "count": lambda core: core.count,
    "first_seen": lambda core: core.first_seen_text,
    "last_seen": lambda core: core.header_end_text,
    "whitelisted": lambda core: core.whitelisted,
    "superseded": lambda core: core.superseded,
    "drift_result": lambda core: core.drift_result,
    "containerized": lambda core: False,
    "data.results.containerized": lambda core: False,
    "header.manual_scan": lambda core: core.manual_scan,
    "header.run_id": lambda core: core.run_id,
    "data.exec_seconds": lambda core: core.exec_seconds,
    "data.key_data": lambda core: core.key_data,
}


def dotted_value(record: dict, field: str) -> object:
    """Look up `a.b.c` in nested dicts (None when any level is missing)."""
    value: object = record
    for part in field.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value
