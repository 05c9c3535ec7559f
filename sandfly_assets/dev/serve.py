"""`make dev`: the local simulator and Elasticsearch plus `dagster dev`, for the UI.

The UI (http://127.0.0.1:3000) then shows the three assets, their daily partitions, the
checks and the sensor, all pointed at the local services. Ctrl-C stops everything this
command started. Runs are kept in `.local/dagster_home` (shared with `make demo`).
For a real Sandfly server and cluster, skip this and run `dagster dev` with the SANDFLY_* and
ELASTICSEARCH_* variables set (README "Configuration").
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from sandfly_assets.dev.demo import DEMO_PASSWORD, DEMO_USER, DemoSettings, local_environment, local_instance
from sandfly_assets.dev.local_elasticsearch import LocalElasticsearch
from sandfly_assets.simulator import SandflySimulator, SimulatorConfig


def _dagster_dev(port: int, env: dict[str, str]) -> subprocess.Popen:
    """`dagster dev` in its own process group: it ignores signals when backgrounded by a shell."""
    command = [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-w",
        "workspace.yaml",
        "-p",
        str(port),
        "-h",
        "127.0.0.1",
    ]
    return subprocess.Popen(command, env=env, start_new_session=True)


def _stop_group(process: subprocess.Popen, timeout: float = 20.0) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _stop_on_signals() -> None:
    """Ctrl-C and `kill` both end in the cleanup below, even when started in the background
    (a non-interactive shell starts background jobs with SIGINT ignored)."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ui-port", type=int, default=3000)
    parser.add_argument("--simulator-port", type=int, default=8443)
    parser.add_argument("--elasticsearch-port", type=int, default=9200)
    args = parser.parse_args(argv)
    _stop_on_signals()
    settings = DemoSettings()
    state = Path(".local")
    sim_config = SimulatorConfig(
        username=DEMO_USER,
        password=DEMO_PASSWORD,
        seed=settings.seed,
        hosts=settings.hosts,
        ssh_keys=settings.ssh_keys,
        days=settings.fetch_days,
        results_per_day=settings.results_per_day,
        port=args.simulator_port,
        admin=True,
    )
    with (
        SandflySimulator(sim_config) as sim,
        LocalElasticsearch(
            state_dir=state / "elasticsearch", port=args.elasticsearch_port, keep_data=True
        ) as es,
    ):
        local_instance(state)
        env = {**os.environ, **local_environment(sim.url, es.url, settings.fetch_days)}
        print(f"Sandfly simulator {sim.url}, Elasticsearch {es.url}; starting dagster dev ...")
        ui = _dagster_dev(args.ui_port, env)
        print(f"Open http://127.0.0.1:{args.ui_port} — Ctrl-C stops everything.")
        try:
            while ui.poll() is None:
                time.sleep(0.5)
        except KeyboardInterrupt:
            print("\nStopping ...")
        finally:
            _stop_group(ui)
    return 0


if __name__ == "__main__":
    sys.exit(main())
