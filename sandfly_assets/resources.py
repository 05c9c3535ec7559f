"""The resources every entry point uses, configured from the environment.

Shared by the Dagster definitions, the full-sync command and the local demo, so all three
read the same documented variables (README "Configuration")."""

from __future__ import annotations

from sandfly_assets.es_io_manager import ElasticsearchIOManager
from sandfly_assets.es_resource import elasticsearch_resource_from_env
from sandfly_assets.sandfly_resource import sandfly_resource_from_env


def build_resources() -> dict[str, object]:
    """Resources from the environment; malformed settings fail here, naming the variable."""
    elasticsearch = elasticsearch_resource_from_env()
    return {
        "sandfly": sandfly_resource_from_env(),
        "elasticsearch": elasticsearch,
        "es_io_manager": ElasticsearchIOManager(elasticsearch=elasticsearch),
    }
