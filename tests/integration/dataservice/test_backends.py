"""Backends run read-only sessions with the API's timeout, on real PostgreSQL and MariaDB
(and the warehouse): even SQL that got past the checks cannot write, and a slow query
ends as a 504."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from lakeworks.dataservice.backends import (
    Backend,
    MySQLBackend,
    PostgresBackend,
    QueryFailed,
    WarehouseBackend,
)
from lakeworks.dataservice.template import RenderedSql
from lakeworks.engines.duckdb_engine import DuckDBEngine
from tests.services import require_mysql, require_postgres


def _sql(text: str, *values: object) -> RenderedSql:
    return RenderedSql(tuple(text.split("?")), values)


@pytest.fixture
def pg() -> Iterator[tuple[Backend, str]]:
    url = make_url(require_postgres())
    table = f"issue15_ro_{uuid.uuid4().hex[:8]}"
    connect = {
        "host": url.host,
        "port": url.port or 5432,
        "user": url.username,
        "dbname": url.database,
        "autocommit": True,
    }
    with psycopg.connect(**connect) as conn:  # type: ignore[arg-type]
        conn.execute(f"CREATE TABLE {table} (id int)")
    backend = PostgresBackend(
        "pg", {"type": "postgres", "host": url.host, "database": url.database, "user": url.username}
    )
    try:
        yield backend, table
    finally:
        backend.close()
        with psycopg.connect(**connect) as conn:  # type: ignore[arg-type]
            conn.execute(f"DROP TABLE {table}")


@pytest.fixture
def maria() -> Iterator[tuple[Backend, str]]:
    import pymysql

    host, port = require_mysql()
    table = f"issue15_ro_{uuid.uuid4().hex[:8]}"
    conn = pymysql.connect(host=host, port=port, user="root", database="test", autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int)")
    backend = MySQLBackend(
        "maria", {"type": "mariadb", "host": host, "port": port, "database": "test"}
    )
    try:
        yield backend, table
    finally:
        backend.close()
        with conn.cursor() as cur:
            cur.execute(f"DROP TABLE {table}")
        conn.close()


def test_postgres_sessions_are_read_only_and_time_out(pg: tuple[Backend, str]) -> None:
    backend, table = pg
    assert backend.query(_sql(f"SELECT count(*) FROM {table} WHERE id > ?", 0), 5).rows == [(0,)]
    with pytest.raises(QueryFailed, match="read-only") as wrote:
        backend.query(_sql(f"INSERT INTO {table} VALUES (?)", 1), 5)
    assert wrote.value.status == 502
    with pytest.raises(QueryFailed) as slow:
        backend.query(_sql("SELECT 1 FROM pg_sleep(?)", 3), 0.3)
    assert slow.value.status == 504
    with pytest.raises(QueryFailed) as bad:
        backend.query(_sql("SELECT CAST(? AS int)", "x"), 5)
    assert bad.value.status == 400
    assert backend.query(_sql(f"SELECT count(*) FROM {table}"), 5).rows == [(0,)]


def test_mariadb_sessions_are_read_only_and_time_out(maria: tuple[Backend, str]) -> None:
    backend, table = maria
    with pytest.raises(QueryFailed, match=r"(?i)read.only"):
        backend.query(_sql(f"INSERT INTO {table} VALUES (?)", 1), 5)
    with pytest.raises(QueryFailed) as slow:
        backend.query(_sql("SELECT SLEEP(?)", 3), 0.3)
    assert slow.value.status == 504
    assert backend.query(_sql(f"SELECT count(*) FROM {table}"), 5).rows == [(0,)]


def test_the_warehouse_runs_read_only(tmp_path: Path) -> None:
    engine = DuckDBEngine(tmp_path / "w.duckdb", "prod")
    try:
        session = engine.session()
        session.execute("CREATE TABLE t (id INTEGER)")
        session.close()
        backend = WarehouseBackend(engine)
        with pytest.raises(QueryFailed, match="read-only"):
            backend.query(_sql("INSERT INTO t VALUES (?)", 1), 5)
        assert backend.query(_sql("SELECT count(*) FROM t"), 5).rows == [(0,)]
        with pytest.raises(QueryFailed) as slow:
            backend.query(
                _sql("SELECT sum(a.range * b.range) FROM range(?) a, range(?) b", 100_000, 100_000),
                0.3,
            )
        assert slow.value.status == 504
    finally:
        engine.close()


def test_duckdb_over_the_lakehouse_runs_read_only_and_masks(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    import pyarrow as pa

    from lakeworks.engines.lakehouse import duckdb_engine as lakehouse_duckdb
    from lakeworks.engines.lakehouse.catalog import Lakehouse
    from lakeworks.engines.lakehouse.duckdb_engine import LakehouseDuckDBEngine
    from lakeworks.engines.lakehouse.storage import open_storage
    from lakeworks.security.models import MaskingRule
    from lakeworks.store.database import Database

    with Database.open(f"sqlite:///{tmp_path / 'meta.db'}") as db:
        lake = Lakehouse(db, open_storage(str(tmp_path / "lake")), "ws/prod")
        lake.write("customers", pa.table({"id": [1, 2], "phone": ["13812345678", "13900001111"]}))
        backend = WarehouseBackend(LakehouseDuckDBEngine(lake, "prod"))
        try:
            with pytest.raises(QueryFailed, match="read-only"):
                backend.query(_sql("INSERT INTO customers VALUES (?, ?)", 3, "x"), 5)
            assert lake.snapshot("customers").rows == 2
            rule = MaskingRule(
                1, "ws", "customers", "phone", "phone", (), datetime.now(UTC), "admin"
            )
            rows = backend.query(_sql("SELECT phone FROM customers ORDER BY id"), 5, [rule]).rows
            assert rows and all(r[0] not in ("13812345678", "13900001111") for r in rows)
            assert backend.query(_sql("SELECT count(*) FROM customers"), 5).rows == [(2,)]
        finally:
            lakehouse_duckdb.close_all()
