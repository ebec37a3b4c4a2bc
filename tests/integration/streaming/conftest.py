"""Fixtures of the stream tests."""

from tests.integration.streaming.pg_source import source

__all__ = ["source"]
