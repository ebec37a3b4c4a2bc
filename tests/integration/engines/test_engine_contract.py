"""The engine contract (``lakeworks.testing.engines``) on DuckDB and on DuckDB over the
lakehouse; Spark runs it in ``test_spark_engine``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from lakeworks.engines.base import Engine, WriteMode
from lakeworks.engines.duckdb_engine import DuckDBEngine, close_all
from lakeworks.engines.lakehouse import duckdb_engine as lakehouse_duckdb
from lakeworks.engines.lakehouse.catalog import Lakehouse
from lakeworks.engines.lakehouse.duckdb_engine import LakehouseDuckDBEngine
from lakeworks.engines.lakehouse.storage import open_storage
from lakeworks.errors import UserCodeError
from lakeworks.store.database import Database
from lakeworks.testing.engines import EngineContract, batches


class TestDuckDBEngine(EngineContract):
    sizes_after_write = False  # DuckDB counts checkpointed blocks only

    @pytest.fixture
    def engine(self, tmp_path: Path) -> Iterator[Engine]:
        yield DuckDBEngine(tmp_path / "w.duckdb", "dev")
        close_all()

    def test_partition_registry(self, tmp_path: Path) -> None:
        engine = DuckDBEngine(tmp_path / "p.duckdb", "dev")
        engine.register_partitions("Sales", ["ds", "hh"])
        assert engine.partition_columns("sales") == ["ds", "hh"]
        assert engine.partition_columns("other") == []
        assert all(t.schema != "lakeworks_meta" for t in engine.list_tables())
        close_all()

    def test_options_set_duckdb_settings(self, tmp_path: Path) -> None:
        engine = DuckDBEngine(tmp_path / "o.duckdb", "dev", settings={"threads": "1"})
        session = engine.session()
        try:
            assert session.execute("SELECT current_setting('threads')").rows == [(1,)]
        finally:
            session.close()
        close_all()


class TestLakehouseDuckDBEngine(EngineContract):
    @pytest.fixture
    def engine(self, tmp_path: Path) -> Iterator[Engine]:
        with Database.open(f"sqlite:///{tmp_path / 'meta.db'}") as db:
            lake = Lakehouse(db, open_storage(str(tmp_path / "lake")), "ws/dev")
            yield LakehouseDuckDBEngine(lake, "dev", "default")
            lakehouse_duckdb.close_all()

    def test_partitioned_sql_writes_are_lakehouse_commits(self, engine: Engine) -> None:
        session = engine.session()
        try:
            session.execute("CREATE TABLE d (v BIGINT, ds VARCHAR) PARTITIONED BY (ds)")
            session.execute("INSERT INTO d SELECT range AS v, '2026' || (range % 2) FROM range(6)")
            assert engine.partition_columns("d") == ["ds"]
            assert session.execute("SELECT ds, count(*) FROM d GROUP BY ds ORDER BY ds").rows == [
                ("20260", 3),
                ("20261", 3),
            ]
            with pytest.raises(UserCodeError, match="whole partitions"):
                session.execute("DELETE FROM d WHERE v = 1")
            session.execute("TRUNCATE TABLE d")
            assert session.execute("SELECT count(*) FROM d").rows == [(0,)]
            session.execute("DROP TABLE d")
            assert not engine.table_exists("d")
        finally:
            session.close()


class TestDuckDBWriteEdges:
    def test_empty_overwrite_clears_and_stream_error_surfaces(self, tmp_path: Path) -> None:
        engine = DuckDBEngine(tmp_path / "e.duckdb", "dev")
        engine.write_arrow("w", batches([1, 2], ["a", "b"]))
        assert engine.write_arrow("w", [], WriteMode.OVERWRITE) == 0
        assert engine.describe("w").row_count == 0

        def failing() -> Iterator[pa.RecordBatch]:
            yield from batches([5], ["e"])
            raise ConnectionError("source went away")

        with pytest.raises(ConnectionError, match="source went away"):
            engine.write_arrow("w", failing(), WriteMode.APPEND)
        assert engine.describe("w").row_count == 0
        close_all()
