"""Child process of `bench/throughput.py`: one `dg.materialize` of `sandfly_results` for one day.

Run in its own process so its peak resident memory (`VmHWM`) is the sync's alone and it
shares the GIL with neither the simulator nor Elasticsearch's compat proxy. Prints one JSON
line: wall seconds of the materialization, documents written, the IO manager's own figures,
and the resident memory before the run and at its peak (``VmHWM``: the whole process,
Dagster's own imports included, which is what an operator's run worker would show).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import time
import warnings


def _rss_mb(field: str = "VmRSS") -> float:
    """Resident memory of this process in MB (Linux): now (VmRSS) or at its peak (VmHWM).

    Not ``ru_maxrss``: Linux carries that over from before ``exec``, when this process was a
    fork of its parent and shared the parent's pages, so it shows the benchmark driver's size.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _raw_port_resource(base: type) -> type:
    """The resource with a client that talks to a 7.x node directly (bench only).

    The official 9.x client needs the dev compat proxy in front of Elasticsearch 7.9.2. To see
    what that extra hop costs, this node class does the proxy's two rewrites in-process
    (workaround B of the local Elasticsearch notes): compatible-with media types become plain
    JSON/NDJSON on the way out, and the product header is added to the answer.
    """
    import re

    from elastic_transport import HttpHeaders, Urllib3HttpNode

    compat = re.compile(r"application/vnd\.elasticsearch\+(json|x-ndjson);\s*compatible-with=\d+")

    class CompatNode(Urllib3HttpNode):
        def perform_request(self, method, target, body=None, headers=None, **kwargs):  # type: ignore[override]
            rewritten = HttpHeaders()
            for name, value in (headers or {}).items():
                rewritten[name] = compat.sub(r"application/\1", value)
            response = super().perform_request(method, target, body=body, headers=rewritten, **kwargs)
            if "x-elastic-product" not in response.meta.headers:
                with contextlib.suppress(TypeError, ValueError):
                    response.meta.headers["X-Elastic-Product"] = "Elasticsearch"
            return response

    class RawPortResource(base):  # type: ignore[misc, valid-type]
        def client_arguments(self) -> dict:
            return {**super().client_arguments(), "node_class": CompatNode}

    return RawPortResource


def main() -> int:
    """Parse the options, run one materialization, print its figures as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sim-url", required=True)
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--es-url", required=True)
    parser.add_argument("--index", required=True, help="base index name (writes <index>-results)")
    parser.add_argument("--day", required=True, help="partition key, YYYY-MM-DD")
    parser.add_argument("--chunk-max-docs", type=int, default=None)
    parser.add_argument("--chunk-max-bytes", type=int, default=None)
    parser.add_argument("--prefetch-pages", type=int, default=None, help="pages fetched ahead (0 = off)")
    parser.add_argument("--encode-ahead", type=int, default=None, help="bulk chunks encoded ahead (0 = off)")
    parser.add_argument(
        "--raw-es",
        action="store_true",
        help="--es-url is the raw 7.x port: adapt the 9.x client in-process instead of the proxy",
    )
    args = parser.parse_args()

    warnings.filterwarnings("ignore")
    import dagster as dg

    from sandfly_assets import streams

    if args.prefetch_pages is not None:
        streams.PREFETCH_PAGES = args.prefetch_pages

    from sandfly_assets.assets import sandfly_results
    from sandfly_assets.es_io_manager import ElasticsearchIOManager
    from sandfly_assets.es_resource import ElasticsearchResource
    from sandfly_assets.sandfly_resource import SandflyResource

    resource_class = _raw_port_resource(ElasticsearchResource) if args.raw_es else ElasticsearchResource
    elasticsearch = resource_class(url=args.es_url, index=args.index)
    chunking = {}
    if args.chunk_max_docs:
        chunking["chunk_max_docs"] = args.chunk_max_docs
    if args.chunk_max_bytes:
        chunking["chunk_max_bytes"] = args.chunk_max_bytes
    if args.encode_ahead is not None:
        chunking["encode_ahead_chunks"] = args.encode_ahead
    resources = {
        "sandfly": SandflyResource(
            server_url=args.sim_url,
            username=args.username,
            password=args.password,
            verify_ssl=False,
            enable_pass=True,
        ),
        "es_io_manager": ElasticsearchIOManager(elasticsearch=elasticsearch, **chunking),
    }
    instance = dg.DagsterInstance.ephemeral()
    logging.getLogger("dagster").setLevel(logging.WARNING)
    rss_before = _rss_mb()
    started = time.perf_counter()
    result = dg.materialize(
        [sandfly_results],
        resources=resources,
        partition_key=args.day,
        instance=instance,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        raise_on_error=False,
    )
    seconds = time.perf_counter() - started
    peak_mb = _rss_mb("VmHWM")
    metadata = {}
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        metadata = {key: getattr(value, "value", value) for key, value in materialization.metadata.items()}
    print(
        json.dumps(
            {
                "success": result.success,
                "seconds": round(seconds, 3),
                "written": metadata.get("documents_written", 0),
                "failed": metadata.get("documents_failed", 0),
                "bulk_requests": metadata.get("bulk_requests", 0),
                "write_seconds": metadata.get("duration_seconds", 0.0),
                "rss_before_mb": round(rss_before, 1),
                "peak_rss_mb": round(peak_mb, 1),
                "prefetch_pages": streams.PREFETCH_PAGES,
            }
        )
    )
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
