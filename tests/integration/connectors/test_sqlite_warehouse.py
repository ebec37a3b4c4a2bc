"""SQLite source, and the warehouse (DuckDB) as source and sink."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from lakeworks.connectors.base import Sink, Source
from lakeworks.connectors.registry import ConnectorContext, open_sink, open_source
from lakeworks.engines.duckdb_engine import DuckDBEngine, close_all
from lakeworks.testing.connectors import ROWS, SinkContract, SourceContract


class TestSQLiteSource(SourceContract):
    @pytest.fixture(autouse=True)
    def _db(self, tmp_path: Path) -> None:
        self.path = tmp_path / "src.db"
        self.table = "items"
        conn = sqlite3.connect(self.path)
        conn.execute("CREATE TABLE items (id INTEGER, name TEXT, amount REAL, ts DATETIME)")
        conn.executemany(
            "INSERT INTO items VALUES (?, ?, ?, ?)",
            [(r["id"], r["name"], r["amount"], r["ts"].isoformat(sep=" ")) for r in ROWS],
        )
        conn.commit()
        conn.close()

    def make_source(self) -> Source:
        return open_source("lite", {"type": "sqlite", "path": str(self.path)})


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[DuckDBEngine]:
    yield DuckDBEngine(tmp_path / "wh.duckdb", "dev")
    close_all()


class TestWarehouseSource(SourceContract):
    @pytest.fixture(autouse=True)
    def _table(self, engine: DuckDBEngine) -> None:
        self.engine = engine
        self.table = "items"
        engine.write_arrow("items", pa.Table.from_pylist(ROWS).to_batches())

    def make_source(self) -> Source:
        return open_source("warehouse", {"type": "warehouse"}, ConnectorContext(self.engine))


class TestWarehouseSink(SinkContract):
    @pytest.fixture(autouse=True)
    def _engine(self, engine: DuckDBEngine) -> None:
        self.engine = engine

    def make_sink(self) -> Sink:
        return open_sink("warehouse", {"type": "warehouse"}, ConnectorContext(self.engine))

    def read_back(self, table: str) -> list[dict[str, Any]]:
        session = self.engine.session()
        try:
            return session.query_arrow(f"SELECT * FROM {table} ORDER BY id").to_pylist()
        finally:
            session.close()
