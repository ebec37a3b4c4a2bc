"""Suite-wide fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="session")
def _services() -> None:
    """The quality gate, scheduled quality nodes and sync nodes, as every Lakeworks process
    installs them at start.

    The Data Map and alerts are left out (tests that need them install them), so that
    runs in tests do only the work they check.
    """
    from lakeworks.bootstrap import (
        install_control_flow,
        install_quality_gate,
        install_quality_nodes,
        install_sync_nodes,
    )

    install_quality_gate()
    install_quality_nodes()
    install_sync_nodes()
    install_control_flow()


@pytest.fixture(autouse=True, scope="session")
def _close_warehouse_connections() -> Iterator[None]:
    """Close the process's DuckDB connections once the suite is done."""
    yield
    from lakeworks.engines.duckdb_engine import close_all

    close_all()
