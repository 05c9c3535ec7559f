"""Command line: `python -m sandfly_assets.simulator --username U --password P [options]`.

Prints the base URL (ending in /v4) on one line once the server accepts
connections, then serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from datetime import UTC, datetime, timedelta

from .config import FaultSettings, SimulatorConfig
from .server import SandflySimulator
from .timeutil import parse_to_us

DESCRIPTION = """\
A local simulator of the Sandfly Security server REST API v4 (hosts, SSH Hunter,
results, auth, license). Data is deterministic for a seed. The results history
covers the last --days UTC days up to now (today only up to now), with
--results-per-day results each.
"""

EPILOG = """\
admin endpoints (--admin; bearer token from /v4/auth/login required, exempt from faults):
  POST   /v4/_sim/results        {"count": N, "end_time": "2026-12-01T10:00:00Z", "status": "alert"}
                                 commit N new results (end_time default now; a past time is a
                                 late commit: new, higher sequence ids with old end times)
  POST   /v4/_sim/revoke_tokens  invalidate every token
  PUT    /v4/_sim/faults         {"error_every": 3, ...} merge fault settings, restart the counter
  DELETE /v4/_sim/faults         clear every fault
  GET    /v4/_sim/stats          result count, max id, call counts, faults

faults: one counter numbers every data call (login, login_refresh, logout and /_sim are
exempt and not counted); call n gets 429 if --rate-limit-every divides n, else the error
status if --error-every divides n, else a truncated JSON body if --malformed-every divides
n, else a dropped connection if --drop-every divides n.
"""


def _utc_datetime(text: str) -> datetime:
    """Parse --now (ISO-8601; a missing zone means UTC)."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=parse_to_us(text))


def build_parser() -> argparse.ArgumentParser:
    """All command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m sandfly_assets.simulator",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    server = parser.add_argument_group("server")
    server.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    server.add_argument(
        "--port", type=int, default=8443, help="port to bind, 0 = any free port (default 8443)"
    )
    server.add_argument("--username", required=True, help="the only accepted login user name")
    server.add_argument("--password", required=True, help="the only accepted login password")
    server.add_argument(
        "--tls", action="store_true", help="serve HTTPS with a self-signed cert made at start"
    )
    server.add_argument(
        "--cert-file", help="where to write the generated certificate (PEM; use as CA bundle)"
    )
    server.add_argument(
        "--token-ttl-seconds", type=float, default=1800.0, help="access token life (default 1800)"
    )
    server.add_argument(
        "--refresh-ttl-seconds",
        type=float,
        default=86400.0,
        help="refresh token / session life (default 86400)",
    )
    server.add_argument(
        "--admin", action="store_true", help="enable the /v4/_sim admin endpoints (see below)"
    )
    server.add_argument("--verbose", action="store_true", help="log every request to stderr")

    data = parser.add_argument_group("data")
    data.add_argument("--seed", type=int, default=7, help="random seed; same seed = same data (default 7)")
    data.add_argument("--hosts", type=int, default=20, help="number of hosts (default 20)")
    data.add_argument("--ssh-keys", type=int, default=30, help="number of SSH keys (default 30)")
    data.add_argument("--days", type=int, default=30, help="days of result history (default 30)")
    data.add_argument("--results-per-day", type=int, default=200, help="results per day (default 200)")
    data.add_argument("--pass-share", type=float, default=0.6, help="share of pass results (default 0.6)")
    data.add_argument("--error-share", type=float, default=0.05, help="share of error results (default 0.05)")
    data.add_argument(
        "--now", type=_utc_datetime, help="fixed current time, ISO-8601 (default: the real clock)"
    )

    faults = parser.add_argument_group("faults")
    faults.add_argument("--license-expired", action="store_true", help="license expired a month ago")
    faults.add_argument("--license-missing", action="store_true", help="GET /license answers 404")
    faults.add_argument(
        "--no-elasticsearch-replication",
        action="store_true",
        help="license without the elasticsearch_replication feature",
    )
    faults.add_argument(
        "--no-ssh-hunter", action="store_true", help="license without ssh_hunter: /sshhunter/* answer 402"
    )
    faults.add_argument(
        "--rate-limit-every", type=int, default=0, metavar="N", help="429 on every Nth data call"
    )
    faults.add_argument("--retry-after-seconds", type=int, default=1, help="Retry-After of a 429 (default 1)")
    faults.add_argument("--error-every", type=int, default=0, metavar="N", help="5xx on every Nth data call")
    faults.add_argument(
        "--error-status",
        type=int,
        default=500,
        choices=(500, 502, 503, 504),
        help="status of --error-every (default 500)",
    )
    faults.add_argument(
        "--malformed-every",
        type=int,
        default=0,
        metavar="N",
        help="truncated JSON body on every Nth data call",
    )
    faults.add_argument(
        "--drop-every",
        type=int,
        default=0,
        metavar="N",
        help="connection dropped mid-response on every Nth data call",
    )
    faults.add_argument("--delay-seconds", type=float, default=0.0, help="added latency of every data call")
    faults.add_argument(
        "--error-calls", type=_call_numbers, default=(), metavar="N,N", help="5xx on exactly these data calls"
    )
    faults.add_argument(
        "--error-from-call", type=int, default=0, metavar="N", help="5xx on every data call from the Nth on"
    )
    faults.add_argument(
        "--malformed-calls",
        type=_call_numbers,
        default=(),
        metavar="N,N",
        help="truncated JSON body on exactly these data calls",
    )
    faults.add_argument(
        "--drop-calls",
        type=_call_numbers,
        default=(),
        metavar="N,N",
        help="connection dropped mid-response on exactly these data calls",
    )
    faults.add_argument(
        "--revoke-tokens-at-call",
        type=int,
        default=0,
        metavar="N",
        help="revoke every token just before the Nth data call",
    )
    faults.add_argument(
        "--ssh-hunter-denied",
        action="store_true",
        help="/sshhunter/* answer 402 although the license lists ssh_hunter",
    )
    return parser


def _call_numbers(text: str) -> tuple[int, ...]:
    """A comma-separated list of data call numbers, e.g. 3,4,5."""
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected call numbers like 3,4,5 (got {text!r})") from error


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    """Turn parsed options into a SimulatorConfig."""
    faults = FaultSettings(
        license_expired=args.license_expired,
        license_missing=args.license_missing,
        no_elasticsearch_replication=args.no_elasticsearch_replication,
        no_ssh_hunter=args.no_ssh_hunter,
        rate_limit_every=args.rate_limit_every,
        retry_after_seconds=args.retry_after_seconds,
        error_every=args.error_every,
        error_status=args.error_status,
        malformed_every=args.malformed_every,
        drop_every=args.drop_every,
        delay_seconds=args.delay_seconds,
        error_calls=args.error_calls,
        error_from_call=args.error_from_call,
        malformed_calls=args.malformed_calls,
        drop_calls=args.drop_calls,
        revoke_tokens_at_call=args.revoke_tokens_at_call,
        ssh_hunter_denied=args.ssh_hunter_denied,
    )
    return SimulatorConfig(
        username=args.username,
        password=args.password,
        seed=args.seed,
        hosts=args.hosts,
        ssh_keys=args.ssh_keys,
        days=args.days,
        results_per_day=args.results_per_day,
        pass_share=args.pass_share,
        error_share=args.error_share,
        token_ttl_seconds=args.token_ttl_seconds,
        refresh_ttl_seconds=args.refresh_ttl_seconds,
        tls=args.tls,
        host=args.host,
        port=args.port,
        now=args.now,
        cert_file=args.cert_file,
        admin=args.admin,
        faults=faults,
    )


def main(argv: list[str] | None = None) -> int:
    """Run until SIGTERM/SIGINT; exit status 2 for invalid settings, 1 if the server cannot start."""
    args = build_parser().parse_args(argv)
    try:
        simulator = SandflySimulator(config_from_args(args), verbose=args.verbose)
    except ValueError as error:
        print(f"invalid settings: {error}", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        simulator.start()
    except (OSError, RuntimeError) as error:
        simulator.stop()
        print(f"cannot start the simulator: {error}", file=sys.stderr)
        return 1
    try:
        print(simulator.url, flush=True)
        if simulator.ca_cert_path:
            print(f"CA certificate: {simulator.ca_cert_path}", file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        simulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
