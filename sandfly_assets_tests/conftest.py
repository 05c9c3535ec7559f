"""Shared pytest fixtures for the whole test suite. Add new fixtures below the existing ones."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from sandfly_assets.dev.local_elasticsearch import LocalElasticsearch

# ---------------------------------------------------------------------------------------------
# Elasticsearch: one real server for the whole run, started only if a test asks for it.
# ---------------------------------------------------------------------------------------------

# Read once, when the run starts: code under test (e.g. the demo) may set ELASTICSEARCH_URL
# in os.environ to a server it stops again, and that must not leak into this fixture.
_CONFIGURED_ES_URL = os.environ.get("ELASTICSEARCH_URL", "")


@pytest.fixture(scope="session")
def es_url() -> Iterator[str]:
    """URL of an Elasticsearch that the official 9.x client can use as-is.

    ``ELASTICSEARCH_URL`` picks an existing server (e.g. one from
    ``python -m sandfly_assets.dev.local_elasticsearch start``, which saves the ~10 s start).
    Otherwise a local 7.9.2 behind the compat proxy runs for this session. Its state dir is a
    fresh folder directly under the system temp dir, not pytest's ``tmp_path``: as root the
    server runs as uid 65534, which cannot enter ``/tmp/pytest-of-root`` (mode 0700).
    """
    if _CONFIGURED_ES_URL:
        yield _CONFIGURED_ES_URL.rstrip("/")
        return
    state_dir = Path(tempfile.mkdtemp(prefix="sandfly-test-es-"))
    with LocalElasticsearch(state_dir=state_dir, port=0) as es:
        yield es.url


@pytest.fixture(scope="session")
def es_client(es_url: str) -> Iterator[Elasticsearch]:
    """A plain ``Elasticsearch(es_url)``, as the product builds it; closed at the end of the run."""
    client = Elasticsearch(es_url)
    yield client
    client.close()
