"""`python -m sandfly_assets.full_sync`: one clear line for bad settings, a default Dagster
home when DAGSTER_HOME is unset, and a summary of what was written."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from sandfly_assets import full_sync
from sandfly_assets.simulator import SandflySimulator, SimulatorConfig
from sandfly_assets_tests.sync_support import PASSWORD, USER, index_count, make_resources, window

SETTINGS = ("SANDFLY_", "ELASTICSEARCH_", "DAGSTER_HOME")


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No Sandfly, Elasticsearch or Dagster settings from the outside; cwd in a temp dir."""

    for name in list(os.environ):
        if name.startswith(SETTINGS):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_missing_variables_are_one_line_naming_them(clean_env, capsys):
    clean_env.setenv("SANDFLY_USERNAME", "siem_api")
    assert full_sync.main([]) == 2
    error = capsys.readouterr().err
    assert error == (
        "error: SANDFLY_SERVER_URL, SANDFLY_PASSWORD are not set; set them in the environment "
        "(.env.example lists every variable)\n"
    )


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "SANDFLY_SERVER_URL",
            "https://sandfly.example.com",
            "SANDFLY_SERVER_URL must end in /v4, e.g. https://sandfly.example.com/v4 "
            "(got 'https://sandfly.example.com')",
        ),
        ("SANDFLY_FETCH_DAYS", "0", "SANDFLY_FETCH_DAYS must be a positive integer such as 30 (got '0')"),
        ("ELASTICSEARCH_VERIFY_CERTS", "maybe", "ELASTICSEARCH_VERIFY_CERTS"),
    ],
)
def test_a_malformed_setting_fails_before_any_run(clean_env, capsys, variable, value, message):
    clean_env.setenv("SANDFLY_SERVER_URL", "https://sandfly.example.com/v4")
    clean_env.setenv("SANDFLY_USERNAME", "siem_api")
    clean_env.setenv("SANDFLY_PASSWORD", "secret-Pa55-3e1c")
    clean_env.setenv(variable, value)
    assert full_sync.main([]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and message in captured.err
    assert "secret-Pa55-3e1c" not in captured.out + captured.err
    assert not (full_sync.DEFAULT_DAGSTER_HOME).exists()  # nothing was started


def test_fetch_days_flag_must_be_positive(clean_env, capsys):
    with pytest.raises(SystemExit) as exited:
        full_sync.main(["--fetch-days", "-1"])
    assert exited.value.code == 2
    assert "--fetch-days must be a positive integer (got -1)" in capsys.readouterr().err


def test_print_range_notes_days_before_the_first_partition(clean_env, capsys):
    clean_env.setenv(
        "SANDFLY_PARTITIONS_START_DATE", (datetime.now(UTC) - timedelta(days=4)).date().isoformat()
    )
    assert full_sync.main(["--print-range", "--fetch-days", "30"]) == 0
    captured = capsys.readouterr()
    first = (datetime.now(UTC) - timedelta(days=4)).date().isoformat()
    assert captured.out == f"{first}...{datetime.now(UTC).date().isoformat()}\n"
    assert f"note: only 5 of the 30 days are partitions: the first partition is {first}" in captured.err


def test_a_full_sync_without_dagster_home_records_in_the_default_home(clean_env, capsys, es_url, es_client):
    config = SimulatorConfig(username=USER, password=PASSWORD, seed=3, hosts=4, ssh_keys=4, days=3)
    with SandflySimulator(config) as sim:
        resources = make_resources(sim.url, es_url)  # for its fresh index name
        index = resources["elasticsearch"].index
        for name, value in {
            "SANDFLY_SERVER_URL": sim.url,
            "SANDFLY_USERNAME": USER,
            "SANDFLY_PASSWORD": PASSWORD,
            "SANDFLY_VERIFY_SSL": "false",
            "ELASTICSEARCH_URL": es_url,
            "ELASTICSEARCH_INDEX": index,
        }.items():
            clean_env.setenv(name, value)
        assert full_sync.main(["--fetch-days", "3"]) == 0
        first, last = full_sync.full_sync_range(3)
        start, end = window(first, last)
        expected = len(sim.result_sequence_ids(end_time_from=start, end_time_before=end, include_pass=False))
    home = full_sync.DEFAULT_DAGSTER_HOME.resolve()
    assert (home / "dagster.yaml").read_text() == full_sync.INSTANCE_YAML
    out = capsys.readouterr().out
    assert f"DAGSTER_HOME is not set: runs are recorded in {home}" in out
    assert index_count(es_client, resources, "results") == expected > 0
    assert f"sandfly_results {expected:,}" in out
    assert "Full sync succeeded (run " in out
