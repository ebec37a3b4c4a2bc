"""Data sources a Python or shell node declares, given to it as environment variables.

A node lists the data sources it uses in its header (``connections: [pg_sales]``);
each setting of each one reaches the child as ``LAKEWORKS_CONN_<NAME>_<KEY>``
(``LAKEWORKS_CONN_PG_SALES_HOST``, ``…_PORT``, ``…_USER``, ``…_DATABASE``), and its
password, resolved by the control plane, as ``LAKEWORKS_CONN_<NAME>_PASSWORD``. The
child never needs the key file or the metadata store, and gets only what it declared.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from lakeworks.connectors.credentials import resolve_password
from lakeworks.errors import Location, UserError
from lakeworks.spec.models import Node, Workspace

PREFIX = "LAKEWORKS_CONN_"
_INDIRECT = ("password_env", "password_encrypted")


def env_name(source: str, key: str) -> str:
    """``LAKEWORKS_CONN_<SOURCE>_<KEY>`` with anything but letters and digits as ``_``."""
    return PREFIX + re.sub(r"[^A-Za-z0-9]", "_", f"{source}_{key}").upper()


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def _unknown(node: Node, name: str, data_sources: Mapping[str, Any]) -> UserError:
    known = ", ".join(sorted(data_sources)) or "none"
    return UserError(
        f"node {node.key} declares connection '{name}', which is not a data source",
        location=Location(node.path, key="connections"),
        hint=f"declare it under data_sources: in lakeworks.yml (known: {known})",
    )


def unknown_connections(workspace: Workspace) -> list[UserError]:
    """Every declared connection that names no data source (``lakeworks validate``)."""
    sources = workspace.config.data_sources
    return [
        _unknown(node, name, sources)
        for node in workspace.nodes()
        for name in node.header.connections
        if name not in sources
    ]


def connection_env(node: Node, data_sources: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """The variables of every data source ``node`` declares; ``UserError`` for unknown ones."""
    out: dict[str, str] = {}
    for name in node.header.connections:
        config = data_sources.get(name)
        if config is None:
            raise _unknown(node, name, data_sources)
        for key, value in config.items():
            if key not in _INDIRECT and value is not None:
                out[env_name(name, key)] = _text(value)
        password = resolve_password(
            name, config.get("password_env"), config.get("password_encrypted")
        )
        if password is not None:
            out[env_name(name, "password")] = password.get_secret_value()
    return out
