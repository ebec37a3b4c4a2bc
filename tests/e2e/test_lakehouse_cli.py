"""A Spark workspace's tables, read by the CLI through DuckDB: no Spark (not even Java)
is needed to query them, build the Data Map or vacuum the lakehouse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from lakeworks.engines.base import WriteMode
from lakeworks.engines.registry import lakehouse_for
from lakeworks.spec.loader import load_workspace

LAKEWORKS = str(Path(sys.executable).with_name("lakeworks"))


def lw(*args: str) -> subprocess.CompletedProcess[str]:
    """``lakeworks`` with no Java on the path: starting Spark would fail."""
    env = {k: v for k, v in os.environ.items() if k not in {"JAVA_HOME", "SPARK_HOME"}}
    env["PATH"] = str(Path(sys.executable).parent) + ":/usr/local/bin:/bin"
    return subprocess.run(
        [LAKEWORKS, *args], capture_output=True, text=True, timeout=120, check=False, env=env
    )


@pytest.fixture(scope="module")
def spark_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lakehouse") / "ws"
    made = lw("init", str(root), "--example", "sales", "--engine", "spark")
    assert made.returncode == 0, made.stderr
    lake = lakehouse_for(load_workspace(root), "dev")
    assert lake is not None
    for ds, amounts in (("20260410", [1.0, 2.5]), ("20260411", [4.0])):
        lake.write(
            "dws_sales",
            pa.table({"amount": amounts, "ds": [ds] * len(amounts)}),
            WriteMode.OVERWRITE_PARTITION,
            partition_by=["ds"],
        )
    lake.write(
        "dws_sales",
        pa.table({"amount": [5.0], "ds": ["20260411"]}),
        WriteMode.OVERWRITE_PARTITION,
    )
    lake.db.close()
    return root


def test_query_reads_the_lakehouse_without_spark(spark_ws: Path) -> None:
    result = lw(
        "query",
        "-w",
        str(spark_ws),
        "--format",
        "json",
        "SELECT ds, SUM(amount) AS total FROM dws_sales GROUP BY ds ORDER BY ds",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        {"ds": "20260410", "total": 3.5},
        {"ds": "20260411", "total": 5.0},
    ]


def test_map_build_harvests_lakehouse_tables(spark_ws: Path) -> None:
    built = lw("map", "build", "-w", str(spark_ws))
    assert built.returncode == 0, built.stdout + built.stderr
    shown = lw("map", "show", "dws_sales", "-w", str(spark_ws), "--json")
    assert shown.returncode == 0, shown.stderr
    table = json.loads(shown.stdout)
    assert table["row_count"] == 3
    assert table["partition_columns"] == ["ds"]
    assert table["size_bytes"] > 0


def test_lakehouse_tables_and_vacuum(spark_ws: Path) -> None:
    listed = lw("lakehouse", "tables", "-w", str(spark_ws))
    assert listed.returncode == 0, listed.stderr
    assert "dws_sales" in listed.stdout
    kept = lw("lakehouse", "vacuum", "-w", str(spark_ws))
    assert "0 retired and 0 orphaned files deleted" in kept.stdout
    cleaned = lw("lakehouse", "vacuum", "-w", str(spark_ws), "--retain-hours", "0")
    assert cleaned.returncode == 0, cleaned.stderr
    assert "1 retired and 0 orphaned files deleted" in cleaned.stdout


def test_vacuum_of_a_duckdb_workspace_says_why_not(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    assert lw("init", str(root)).returncode == 0
    result = lw("lakehouse", "vacuum", "-w", str(root))
    assert result.returncode != 0
    assert "keeps its tables in DuckDB, not in a lakehouse" in result.stderr
    assert "Traceback" not in result.stderr
