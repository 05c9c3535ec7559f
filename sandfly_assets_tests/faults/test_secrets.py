"""Secrets stay secret: no password, API key or token in logs, exceptions, event logs or metadata.

Three runs through every fault that makes the code talk about its credentials (token expiry,
revocation, 429s, a 500, a malformed and a dropped answer, a server that goes down, a refused
login), with every secret read through `dagster.EnvVar` as users configure them. Everything a
user or an operator could see is captured: Python logging at DEBUG from every logger, the
process's stdout and stderr, and each Dagster event log entry serialized whole (messages,
metadata, step failures with their causes). Then every secret, and every token the simulator
issued, is searched for in all of it.
"""

from __future__ import annotations

import logging

import dagster as dg

from sandfly_assets.assets import sandfly_assets
from sandfly_assets_tests.faults.conftest import day, error_texts, resources, simulator
from sandfly_assets_tests.sync_support import materialize_days

SANDFLY_PASSWORD = "sandfly-Pa55-6b1f0c2e"
WRONG_PASSWORD = "wrong-Pa55-90d3a7e1"
ES_API_KEY = "ZXNrZXktMjcxODI4OmFwaWtleS1zZWNyZXQ="
ES_PASSWORD = "es-Pa55-4c8e2b7d"


def event_log_text(instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult) -> str:
    """Every event of the run, serialized as Dagster stores it (metadata and errors included)."""
    return "\n".join(dg.serialize_value(entry) for entry in instance.all_logs(result.run_id))


def test_no_secret_reaches_logs_errors_event_logs_or_metadata(monkeypatch, caplog, capfd, es_url):
    monkeypatch.setenv("TEST_SANDFLY_PASSWORD", SANDFLY_PASSWORD)
    monkeypatch.setenv("TEST_SANDFLY_WRONG_PASSWORD", WRONG_PASSWORD)
    monkeypatch.setenv("TEST_ES_API_KEY", ES_API_KEY)
    monkeypatch.setenv("TEST_ES_PASSWORD", ES_PASSWORD)
    caplog.set_level(logging.DEBUG)
    sim = simulator(password=SANDFLY_PASSWORD, token_ttl_seconds=2.0, results_per_day=80)
    instance = dg.DagsterInstance.ephemeral()
    try:
        # 1. A successful sync of all three assets through faults of every kind.
        sim.set_faults(
            delay_seconds=0.05,
            rate_limit_every=9,
            error_calls=(4,),
            malformed_calls=(6,),
            drop_calls=(8,),
            revoke_tokens_at_call=11,
        )
        good = resources(
            sim.url,
            es_url,
            password=dg.EnvVar("TEST_SANDFLY_PASSWORD"),
            es_secrets={"api_key": dg.EnvVar("TEST_ES_API_KEY")},
            page_size=20,
        )
        synced = materialize_days(good, day(4), day(0), sandfly_assets, instance=instance)
        assert synced.success
        (materialization, *_) = synced.asset_materializations_for_node("sandfly_results")
        assert materialization.metadata["documents_written"].value > 100

        # 2. A server that goes down for good: the run fails with errors that name the calls.
        sim.set_faults(error_from_call=3)
        down = resources(
            sim.url,
            es_url,
            password=dg.EnvVar("TEST_SANDFLY_PASSWORD"),
            es_secrets={"username": "elastic", "password": dg.EnvVar("TEST_ES_PASSWORD")},
            max_retries=1,
        )
        failed = materialize_days(down, day(1), None, sandfly_assets, instance=instance)
        assert not failed.success

        # 3. A refused login: the error names server and user, not the password tried.
        sim.clear_faults()
        refused = resources(sim.url, es_url, password=dg.EnvVar("TEST_SANDFLY_WRONG_PASSWORD"))
        rejected = materialize_days(refused, day(1), None, sandfly_assets, instance=instance)
        assert not rejected.success
        assert "rejected the login of user" in "\n".join(error_texts(rejected))

        tokens = sim.issued_tokens()
    finally:
        sim.stop()

    # The faults really made the client renew its credentials: there are many tokens to leak.
    assert len(tokens) >= 6
    captured = capfd.readouterr()
    seen = {
        "python logging": "\n".join(
            f"{record.name} {record.getMessage()} {record.exc_text or ''}" for record in caplog.records
        ),
        "stdout and stderr": captured.out + captured.err,
        "event logs": "\n".join(event_log_text(instance, result) for result in (synced, failed, rejected)),
        "step errors": "\n".join(text for result in (failed, rejected) for text in error_texts(result)),
    }
    # The capture holds what a user reads: the license line, retried faults, the failures.
    assert "Sandfly license OK" in seen["event logs"]
    assert "HTTP 500" in seen["step errors"]
    assert "documents_written" in seen["event logs"]
    secrets = {
        "Sandfly password": SANDFLY_PASSWORD,
        "wrong Sandfly password": WRONG_PASSWORD,
        "Elasticsearch API key": ES_API_KEY,
        "Elasticsearch password": ES_PASSWORD,
        **{f"token {number}": token for number, token in enumerate(tokens)},
    }
    leaks = [
        f"{secret_name} in {place}"
        for secret_name, secret in secrets.items()
        for place, text in seen.items()
        if secret in text
    ]
    assert leaks == []
