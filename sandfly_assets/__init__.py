"""Sandfly Security (REST API v4) to Elasticsearch, as Dagster assets."""
