"""Shared service fixtures: a Kafka-compatible broker (noida-db) and an S3 server (moto).

Each is started once per test session on a free port and stopped afterwards; when the
program is missing, tests that need it skip (and fail under ``CI=true``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services import _missing, free_port


def _wait_port(port: int, process: subprocess.Popen[bytes], seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def _program(name: str) -> str | None:
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else shutil.which(name)


def start_service(argv: list[str]) -> subprocess.Popen[bytes]:
    """``argv`` in a process group of its own, so that stopping it stops its children
    too (``noida-db`` is a launcher that runs the broker as a child process)."""
    return subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def stop_service(process: subprocess.Popen[bytes]) -> None:
    """Stop the process group of ``process`` (see ``start_service``): TERM, then KILL."""
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        with contextlib.suppress(ProcessLookupError):  # the launcher's children too
            os.killpg(process.pid, signal.SIGKILL)
        break
    if process.poll() is None:
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``host:port`` of a Kafka-compatible broker (noida-db) running for the session."""
    program = _program("noida-db")
    if program is None:
        _missing("the noida-db broker")
    assert program is not None
    port = free_port()
    data = tmp_path_factory.mktemp("noida")
    process = start_service(
        [program, "start", "--only", "kafka", "--kafka-port", str(port), "--data-dir", str(data)]
    )
    try:
        if not _wait_port(port, process):
            _missing("the noida-db broker (it did not start)")
        yield f"127.0.0.1:{port}"
    finally:
        stop_service(process)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """The URL of an S3-compatible server (moto) running for the session."""
    program = _program("moto_server")
    if program is None:
        _missing("the moto S3 server")
    assert program is not None
    port = free_port()
    process = start_service([program, "-p", str(port)])
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    try:
        if not _wait_port(port, process):
            _missing("the moto S3 server (it did not start)")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_service(process)
