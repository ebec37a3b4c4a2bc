"""Real services the tests use, and how a test asks for one.

A test that needs a service calls ``require_postgres()`` (etc.). When the service is
down the test is skipped with a clear reason — except under ``CI=true``, where a
missing service is a failure.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
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


def lakeworks_command() -> str:
    """The ``lakeworks`` command of the interpreter running the tests."""
    return str(Path(sys.executable).parent / "lakeworks")


def server_env(admin_password: str) -> dict[str, str]:
    """This process's environment for a test's ``lakeworks up``: the server keeps its
    store and secret key in the workspace, and ``admin`` gets ``admin_password``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("LAKEWORKS_DATABASE_URL", "LAKEWORKS_SECRET_KEY")
    }
    env["LAKEWORKS_ADMIN_PASSWORD"] = admin_password
    return env


def start_server(
    root: Path,
    env: dict[str, str],
    log: Path,
    *options: str,
    ready: str = "/api/health",
    seconds: float = 90,
) -> tuple[subprocess.Popen[bytes], str]:
    """``lakeworks up -w root`` on a free port, its output in ``log``, once ``ready``
    answers 200: the process and its base URL (the test fails with the log if not)."""
    port = free_port()
    command = [lakeworks_command(), "up", "-w", str(root), "--port", str(port), *options]
    with log.open("ab") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited:\n{log.read_text()}")
        try:
            if httpx.get(f"{base}{ready}", timeout=2).status_code == 200:
                return process, base
        except httpx.HTTPError:
            time.sleep(0.2)
    stop_server(process)
    pytest.fail(f"the server did not answer:\n{log.read_text()}")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """Ask a server to stop; kill it when it has not stopped within 20 s."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


@contextmanager
def serving(
    root: Path, env: dict[str, str], log: Path, *options: str, ready: str = "/api/health"
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``start_server`` for the length of a ``with`` block."""
    process, base = start_server(root, env, log, *options, ready=ready)
    try:
        yield process, base
    finally:
        stop_server(process)
