"""Testing a workspace's data source connection: one use case for the CLI
(``lakeworks datasources test``), the API and the console's "Test the connection"."""

from __future__ import annotations

import difflib

from lakeworks.connectors.probe import DEFAULT_TIMEOUT, ProbeResult, probe_data_source
from lakeworks.connectors.registry import ConnectorContext
from lakeworks.errors import NotFound
from lakeworks.spec.models import Workspace

MAX_TIMEOUT = 60.0
"""The longest a connection test may be allowed to wait."""


def check_connection(ws: Workspace, name: str, *, timeout: float = DEFAULT_TIMEOUT) -> ProbeResult:
    """Connect to the data source ``name`` of ``ws``, sign in and list one thing, within
    ``timeout`` seconds. A failed connection is a result (with a hint), not an error;
    an unknown name is ``NotFound`` with the closest names."""
    sources = ws.config.data_sources
    raw = sources.get(name)
    if raw is None:
        close = difflib.get_close_matches(name, list(sources), n=3, cutoff=0.5)
        hint = (
            f"did you mean {' or '.join(repr(c) for c in close)}?"
            if close
            else f"the workspace's data sources: {', '.join(sorted(sources)) or 'none'}"
        )
        raise NotFound(f"data source '{name}' does not exist", hint=hint)
    limit = max(0.5, min(timeout, MAX_TIMEOUT))
    return probe_data_source(name, dict(raw), ConnectorContext(root=ws.root), timeout=limit)
