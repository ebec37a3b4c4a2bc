"""Real services the tests use, and how a test asks for one.

A test that needs a service calls ``require_postgres()`` (etc.). When the service is
down the test is skipped with a clear reason — except under ``CI=true``, where a
missing service is a failure.
"""

from __future__ import annotations

import os
import socket

import pytest

POSTGRES_URL = os.environ.get(
    "LAKEWORKS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MYSQL_HOST = "127.0.0.1"
MYSQL_PORT = 3306


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _missing(what: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is required under CI=true but is not reachable")
    pytest.skip(f"{what} is not reachable")


def require_postgres() -> str:
    """The SQLAlchemy URL of the test PostgreSQL database; skips if it is down."""
    if not _port_open("127.0.0.1", 5432):
        _missing("PostgreSQL on 127.0.0.1:5432")
    return POSTGRES_URL


def require_mysql() -> tuple[str, int]:
    """Host and port of the test MariaDB; skips if it is down."""
    if not _port_open(MYSQL_HOST, MYSQL_PORT):
        _missing("MariaDB on 127.0.0.1:3306")
    return MYSQL_HOST, MYSQL_PORT


def require_sandbox() -> None:
    """Skips (fails under CI) unless Python and shell nodes run inside an OS boundary."""
    from lakeworks.runtime.sandbox import current

    if not current().isolated:
        _missing("an OS sandbox for nodes (bubblewrap, or running as root)")


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


CHROMIUM = "/usr/bin/chromium"


def require_chromium() -> str:
    """The path of Debian's Chromium (driven by Playwright); skips if it is missing."""
    if not os.path.exists(CHROMIUM):
        _missing(f"Chromium at {CHROMIUM}")
    return CHROMIUM
