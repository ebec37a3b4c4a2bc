"""Fixtures of the stream tests."""

from tests.integration.streaming.pg_cluster import cluster
from tests.integration.streaming.pg_source import source

__all__ = ["cluster", "source"]
