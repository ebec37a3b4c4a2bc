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
from lakeworks.spec.models import Node

PREFIX = "LAKEWORKS_CONN_"
_INDIRECT = ("password_env", "password_encrypted")


def env_name(source: str, key: str) -> str:
    """``LAKEWORKS_CONN_<SOURCE>_<KEY>`` with anything but letters and digits as ``_``."""
    return PREFIX + re.sub(r"[^A-Za-z0-9]", "_", f"{source}_{key}").upper()


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def connection_env(node: Node, data_sources: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """The variables of every data source ``node`` declares; ``UserError`` for unknown ones."""
    out: dict[str, str] = {}
    for name in node.header.connections:
        config = data_sources.get(name)
        if config is None:
            known = ", ".join(sorted(data_sources)) or "none"
            raise UserError(
                f"node {node.key} declares connection '{name}', which is not a data source",
                location=Location(node.path),
                hint=f"declare it under data_sources: in lakeworks.yml (known: {known})",
            )
        for key, value in config.items():
            if key not in _INDIRECT and value is not None:
                out[env_name(name, key)] = _text(value)
        password = resolve_password(
            name, config.get("password_env"), config.get("password_encrypted")
        )
        if password is not None:
            out[env_name(name, "password")] = password.get_secret_value()
    return out
