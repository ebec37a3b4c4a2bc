"""One long-lived Spark session per process and master URL (starting Spark takes seconds).

``local[*]`` and ``spark://host:7077`` (a standalone cluster) start a driver in this
process; ``sc://host:15002`` connects to a Spark Connect server, which is the driver.
Spark is imported on first use, so that processes that never run Spark need no JVM.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import threading
from typing import Any
from urllib.parse import urlsplit

from lakeworks.engines.spark.config import SparkEngineOptions
from lakeworks.errors import TransientError, UserError

_sessions: dict[str, Any] = {}
_lock = threading.Lock()

CONNECT_PORT = 15002
"""Spark Connect's default port."""
CONNECT_MODULES = ("grpc", "grpc_status", "google.rpc", "pandas", "zstandard")
"""What pyspark's Connect client imports beyond pyspark (``pyspark[connect]``)."""
CONNECT_MODE_VARIABLES = ("SPARK_CONNECT_MODE_ENABLED", "SPARK_LOCAL_REMOTE")
"""What pyspark sets in the process environment once a Connect session exists; while
set, pyspark refuses to start a driver of its own (``CONNECT_URL_NOT_SET``)."""


def session_settings(options: SparkEngineOptions) -> dict[str, str]:
    """The SQL settings every Lakeworks Spark session runs with, then ``options.conf``."""
    settings = {
        "spark.sql.shuffle.partitions": str(options.shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.ansi.enabled": "false",
        "spark.sql.sources.partitionOverwriteMode": "dynamic",
    }
    settings.update(options.conf)
    return settings


def is_connect(master: str) -> bool:
    return master.startswith("sc://")


def spark_session(options: SparkEngineOptions) -> Any:
    """The process's Spark session for ``options.master`` (created once)."""
    with _lock:
        session = _sessions.get(options.master)
        if session is not None:
            return session
        try:
            from pyspark.sql import SparkSession
        except ImportError:
            raise UserError(
                "the Spark engine needs pyspark",
                hint="pip install 'lakeworks[spark]' (and Java 17 or later)",
            ) from None
        if is_connect(options.master):
            session = _connect(SparkSession, options)
        else:
            session = _classic(SparkSession, options)
        _sessions[options.master] = session
        return session


def _classic(spark_session_type: Any, options: SparkEngineOptions) -> Any:
    """A driver in this process, on ``local[...]`` or a cluster's master."""
    connected = [master for master in _sessions if is_connect(master)]
    if connected:
        raise UserError(
            f"cannot start a Spark driver on {options.master}: this process already uses "
            f"the Spark Connect server {connected[0]}, and pyspark serves one kind per process",
            hint="give the Connect engine and the local/cluster engine their own workers "
            "(resource groups)",
        )
    # left by a parent process that used Spark Connect: not ours, and it would block a driver
    _forget_connect_mode()
    os.environ.setdefault("PYSPARK_PYTHON", os.environ.get("PYSPARK_PYTHON", "python3"))
    builder = spark_session_type.builder.appName("lakeworks").master(options.master)
    settings = {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false"}
    settings.update(session_settings(options))
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:
        raise TransientError(f"cannot start Spark ({options.master}): {exc}") from None
    session.sparkContext.setLogLevel("ERROR")
    return session


def _connect(spark_session_type: Any, options: SparkEngineOptions) -> Any:
    """A client of the Spark Connect server at ``options.master``."""
    missing = [m for m in CONNECT_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise UserError(
            f"engine master '{options.master}' is a Spark Connect URL, which needs "
            f"pyspark's Connect client (missing: {', '.join(missing)})",
            hint="pip install 'lakeworks[spark-connect]'",
        )
    host, port = connect_address(options.master)
    # the client retries an unreachable server for ten minutes; say so at once instead
    try:
        socket.create_connection((host, port), timeout=10).close()
    except OSError as exc:
        raise TransientError(
            f"cannot reach the Spark Connect server at {host}:{port} ({exc})",
            hint="start it with pyspark's sbin/start-connect-server.sh, or check the address",
        ) from None
    try:
        session = spark_session_type.builder.remote(options.master).create()
    except Exception as exc:
        raise TransientError(f"cannot connect to Spark ({options.master}): {exc}") from None
    for key, value in session_settings(options).items():
        try:
            session.conf.set(key, value)
        except Exception as exc:
            session.stop()
            raise UserError(
                f"the Spark Connect server refuses the setting {key}={value}: "
                f"{str(exc).strip().splitlines()[0]}",
                hint="settings a session cannot change (spark.executor.*, ...) are set "
                "where the Connect server is started (--conf)",
            ) from None
    return session


def connect_address(master: str) -> tuple[str, int]:
    """``(host, port)`` of a ``sc://host[:port][/;param=value...]`` URL."""
    parts = urlsplit(master.replace("sc://", "http://", 1))
    try:
        port = parts.port or CONNECT_PORT
    except ValueError:
        raise UserError(f"engine master '{master}' has an invalid port") from None
    if not parts.hostname:
        raise UserError(
            f"engine master '{master}' names no host", hint="sc://host:15002 (Spark Connect)"
        )
    return parts.hostname, port


def stop_all() -> None:
    """Stop every Spark session of this process (tests and shutdown)."""
    with _lock:
        for session in _sessions.values():
            session.stop()
        _sessions.clear()
        _forget_connect_mode()


def _forget_connect_mode() -> None:
    """Drop pyspark's process-wide Connect flags, so a later classic driver may start."""
    for name in CONNECT_MODE_VARIABLES:
        os.environ.pop(name, None)
