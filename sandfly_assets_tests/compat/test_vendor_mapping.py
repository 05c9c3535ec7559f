"""Our index template against the vendor's connector mapping (run on request, see conftest.py).

Users' Kibana dashboards were built on the vendor's mapping for the connector index. These
checks hold our template to it: the fields we map explicitly have the vendor's types, our
dynamic rules give unmapped record fields the vendor's types, and the documents we build
fit an index created with the vendor's own mapping.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from sandfly_assets.documents import host_document, result_document, ssh_key_document
from sandfly_assets.es_io_manager import TOTAL_FIELDS_LIMIT, index_mappings
from sandfly_assets_tests.test_documents import HOST_RECORD, RESULT_RECORD, SSH_KEY_RECORD, SYNCED_AT

REFERENCE_DIR = Path(
    os.environ.get("SANDFLY_REFERENCE_DIR", Path(__file__).resolve().parents[3] / "shared" / "reference")
)
MAPPINGS_FILE = REFERENCE_DIR / "sandfly_elastic_mappings.json"
SETTINGS_FILE = REFERENCE_DIR / "sandfly_elastic_settings.json"

if not MAPPINGS_FILE.is_file() or not SETTINGS_FILE.is_file():
    pytest.skip(f"vendor reference files not found in {REFERENCE_DIR}", allow_module_level=True)

# Our ECS layer: top-level fields the connector does not have (so they cannot clash).
OWN_TOP_LEVEL_FIELDS = {"@timestamp", "event", "rule", "host"}


def _vendor_properties() -> dict:
    return json.loads(MAPPINGS_FILE.read_text())["properties"]


def _leaf_fields(properties: dict, prefix: str = "") -> Iterator[tuple[str, dict]]:
    """(dotted path, field mapping) for every leaf of a mapping's properties."""
    for name, field in properties.items():
        path = f"{prefix}{name}"
        if "properties" in field:
            yield from _leaf_fields(field["properties"], f"{path}.")
        else:
            yield path, field


def _same_type(ours: str, vendor: str) -> bool:
    """ES 7 has no unsigned_long; Sandfly's values fit a long."""
    return ours == vendor or (ours == "long" and vendor == "unsigned_long")


VENDOR = dict(_leaf_fields(_vendor_properties()))
OURS = index_mappings()


def test_every_explicitly_mapped_field_has_the_vendor_type() -> None:
    compared = 0
    for path, field in _leaf_fields(OURS["properties"]):
        if path.split(".")[0] in OWN_TOP_LEVEL_FIELDS:
            assert path not in VENDOR
            continue
        vendor = VENDOR.get(path)
        assert vendor is not None, f"{path} is mapped by us but unknown to the vendor mapping"
        assert _same_type(field["type"], vendor["type"]), (path, field, vendor)
        if vendor["type"] == "text":
            assert field.get("fields") == vendor.get("fields"), path  # the dashboards' .keyword
        compared += 1
    assert compared >= 40


def _dynamic_type(path: str, json_type: str) -> str:
    """The type our dynamic templates give an unmapped field, as Elasticsearch picks it."""
    leaf = path.rsplit(".", 1)[-1]
    for entry in OURS["dynamic_templates"]:
        [rule] = entry.values()
        if rule.get("match_mapping_type", "*") not in ("*", json_type):
            continue
        if "path_match" in rule and not fnmatch.fnmatchcase(path, rule["path_match"]):
            continue
        if "match" in rule and not re.fullmatch(rule["match"], leaf):
            continue
        return rule["mapping"]["type"]
    return {"string": "text", "long": "long", "double": "float", "boolean": "boolean"}[json_type]


def _explicit_type(path: str) -> str | None:
    node: dict = OURS
    for step in path.split("."):
        node = node.get("properties", {}).get(step, {})
    return node.get("type")


@pytest.mark.parametrize(
    ("vendor_type", "json_types"),
    [
        ("date", ["string"]),
        ("float", ["long", "double"]),
        ("long", ["long"]),
        ("unsigned_long", ["long"]),
        ("text", ["string"]),
        ("boolean", ["boolean"]),
    ],
)
def test_unmapped_record_fields_get_the_vendor_type(vendor_type: str, json_types: list[str]) -> None:
    """Dates and floats anywhere in a record are recognised, and nothing else is mistaken for one."""
    mismatches = []
    for path, field in VENDOR.items():
        if field["type"] != vendor_type or _explicit_type(path) is not None:
            continue
        for json_type in json_types:
            ours = _dynamic_type(path, json_type)
            if not _same_type(ours, vendor_type):
                mismatches.append((path, json_type, ours))
    assert mismatches == []


def _example_documents() -> list[dict]:
    return [
        result_document(RESULT_RECORD),
        host_document(HOST_RECORD, SYNCED_AT),
        ssh_key_document(SSH_KEY_RECORD, SYNCED_AT),
    ]


def _value_paths(value: object, prefix: str = "") -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _value_paths(inner, f"{prefix}{key}.")
    elif isinstance(value, list):
        for inner in value:
            yield from _value_paths(inner, prefix)
    else:
        yield prefix.rstrip(".")


def test_example_documents_use_only_vendor_paths_outside_our_ecs_layer() -> None:
    paths = {path for document in _example_documents() for path in _value_paths(document["_source"])}
    connector_paths = {path for path in paths if path.split(".")[0] not in OWN_TOP_LEVEL_FIELDS}
    assert sorted(connector_paths - set(VENDOR)) == []
    assert {"id", "_timestamp", "sandfly_data_type", "sandfly_key_data"} <= connector_paths


def test_total_fields_limit_matches_the_vendor_setting() -> None:
    vendor_settings = json.loads(SETTINGS_FILE.read_text())
    assert int(vendor_settings["mapping"]["total_fields"]["limit"]) == TOTAL_FIELDS_LIMIT


def _as_creatable(properties: dict) -> dict:
    """The vendor mapping with unsigned_long as long, so ES 7 can create it."""
    text = json.dumps(properties).replace('"unsigned_long"', '"long"')
    return json.loads(text)


def test_our_documents_index_into_an_index_with_the_vendor_mapping(es_client: Elasticsearch) -> None:
    """What a user migrating from the connector has: our documents must fit their index."""
    index = f"compat-{uuid.uuid4().hex[:8]}"
    es_client.indices.create(
        index=index,
        settings=json.loads(SETTINGS_FILE.read_text()),
        mappings={"properties": _as_creatable(_vendor_properties())},
    )
    try:
        operations: list[dict] = []
        for document in _example_documents():
            operations += [{"index": {"_id": document["_id"]}}, document["_source"]]
        response = es_client.bulk(index=index, operations=operations, refresh=True)
        assert [item["index"].get("error") for item in response["items"]] == [None, None, None]
        assert es_client.count(index=index)["count"] == 3
    finally:
        es_client.indices.delete(index=index)
