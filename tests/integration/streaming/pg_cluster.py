"""A PostgreSQL cluster of a test's own (``initdb`` + ``pg_ctl`` on a free port,
``wal_level = logical``), so that a test may restart its server without disturbing the
shared one. Needs the server's programs and, as root, the ``postgres`` user to run them."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

_BIN_ROOT = Path("/usr/lib/postgresql")


def _programs() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    versions = sorted(_BIN_ROOT.glob("*/bin/pg_ctl"), reverse=True)
    return versions[0].parent if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """A running cluster in a temporary folder; ``restart`` as an operator would."""

    def __init__(self) -> None:
        programs = _programs()
        if programs is None:
            pytest.skip("the PostgreSQL server programs (initdb, pg_ctl) are not installed")
        self.bin = programs
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                pytest.skip("initdb refuses root and runuser is not installed")
            self.as_user = [runuser, "-u", "postgres", "--"]
        self.dir = Path(tempfile.mkdtemp(prefix="lw_pg_"))
        self.data = self.dir / "data"
        self.port = _free_port()
        if self.as_user:
            shutil.chown(self.dir, "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8")
        self.start()

    def _run(self, program: str, *args: str) -> None:
        # no pipes: the server started by pg_ctl would hold them open
        subprocess.run(
            [*self.as_user, str(self.bin / program), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            cwd=self.dir,
            timeout=120,
        )

    def _options(self) -> str:
        return (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.dir} "
            "-c wal_level=logical -c max_wal_senders=10 -c max_replication_slots=10 "
            "-c fsync=off"
        )

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} dbname=postgres user=postgres"

    def start(self) -> None:
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.dir / "log"), "-o", self._options(),
            "-w", "start",
        )  # fmt: skip

    def restart(self) -> None:
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.dir / "log"), "-m", "fast",
            "-o", self._options(), "-w", "restart",
        )  # fmt: skip

    def connect(self) -> psycopg.Connection[tuple[object, ...]]:
        deadline = time.monotonic() + 30
        while True:
            try:
                return psycopg.connect(self.dsn, autocommit=True)
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    """A cluster of the test's own, stopped and removed afterwards."""
    found = Cluster()
    try:
        yield found
    finally:
        found.stop()
