"""Suite-wide fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="session")
def _close_warehouse_connections() -> Iterator[None]:
    """Close the process's DuckDB connections once the suite is done."""
    yield
    from lakeworks.engines.duckdb_engine import close_all

    close_all()
