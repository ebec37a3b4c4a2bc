"""One long-lived Spark session per process and master URL (starting Spark takes seconds).

Spark is imported on first use, so that processes that never run Spark need no JVM.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from lakeworks.engines.spark.config import SparkEngineOptions
from lakeworks.errors import TransientError, UserError

_sessions: dict[str, Any] = {}
_lock = threading.Lock()


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
        os.environ.setdefault("PYSPARK_PYTHON", os.environ.get("PYSPARK_PYTHON", "python3"))
        builder = SparkSession.builder.appName("lakeworks")
        if options.master.startswith("sc://"):
            builder = builder.remote(options.master)
        else:
            builder = builder.master(options.master)
            settings = {
                "spark.ui.enabled": "false",
                "spark.ui.showConsoleProgress": "false",
                "spark.sql.shuffle.partitions": str(options.shuffle_partitions),
                "spark.sql.session.timeZone": "UTC",
                "spark.sql.ansi.enabled": "false",
                "spark.sql.sources.partitionOverwriteMode": "dynamic",
            }
            settings.update(options.conf)
            for key, value in settings.items():
                builder = builder.config(key, value)
        try:
            session = builder.getOrCreate()
        except Exception as exc:
            raise TransientError(f"cannot start Spark ({options.master}): {exc}") from None
        session.sparkContext.setLogLevel("ERROR")
        _sessions[options.master] = session
        return session


def stop_all() -> None:
    """Stop every Spark session of this process (tests and shutdown)."""
    with _lock:
        for session in _sessions.values():
            session.stop()
        _sessions.clear()
