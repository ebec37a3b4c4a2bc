"""MySQL/MariaDB source (ConnectorX and PyMySQL) and sink against the real server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pymysql
import pymysql.cursors
import pytest

from lakeworks.connectors.base import ReadRequest, Sink, Source
from lakeworks.connectors.registry import open_sink, open_source
from lakeworks.errors import TransientError
from lakeworks.testing.connectors import ROWS, SinkContract, SourceContract, new_name
from tests.services import require_mysql

pytestmark = pytest.mark.mysql

CONFIG: dict[str, Any] = {"type": "mysql", "database": "test"}


def _conn() -> Any:
    host, port = require_mysql()
    return pymysql.connect(host=host, port=port, user="root", database="test", autocommit=True)


class _MySQLSourceBase(SourceContract):
    driver = "auto"

    @pytest.fixture(autouse=True)
    def _table(self) -> Iterator[None]:
        self.table = new_name("lw_src")
        conn = _conn()
        with conn.cursor() as cur:
            cur.execute(
                f"CREATE TABLE {self.table} (id int PRIMARY KEY, name text, amount double, "
                "ts datetime(6))"
            )
            cur.executemany(
                f"INSERT INTO {self.table} VALUES (%(id)s, %(name)s, %(amount)s, %(ts)s)", ROWS
            )
        yield
        with conn.cursor() as cur:
            cur.execute(f"DROP TABLE {self.table}")
        conn.close()

    def make_source(self) -> Source:
        return open_source("my", {**CONFIG, "driver": self.driver})


class TestMySQLSourceConnectorX(_MySQLSourceBase):
    driver = "connectorx"


class TestMySQLSourcePyMySQL(_MySQLSourceBase):
    driver = "pymysql"


def test_unreachable_server_is_transient() -> None:
    require_mysql()
    for driver in ("connectorx", "pymysql"):
        source = open_source("my", {**CONFIG, "port": 1, "driver": driver, "connect_timeout": 1})
        with pytest.raises(TransientError):
            list(source.read(ReadRequest(table="whatever")))


class TestMySQLSink(SinkContract):
    def make_sink(self) -> Sink:
        require_mysql()
        return open_sink("my", CONFIG)

    def read_back(self, table: str) -> list[dict[str, Any]]:
        conn = _conn()
        try:
            with conn.cursor(pymysql.cursors.DictCursor) as cur:
                cur.execute(f"SELECT * FROM {table} ORDER BY id")
                return list(cur.fetchall())
        finally:
            conn.close()

    def drop(self, table: str) -> None:
        conn = _conn()
        with conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
        conn.close()


def test_sink_creates_time_and_large_binary_columns() -> None:
    import datetime

    import pyarrow as pa

    from lakeworks.connectors.base import WriteRequest

    require_mysql()
    table = new_name("lw_types")
    sink = open_sink("my", CONFIG)
    batch = pa.RecordBatch.from_pydict(
        {
            "id": pa.array([1], pa.int32()),
            "clock": pa.array([datetime.time(13, 0, 5, 250000)], pa.time64("us")),
            "blob": pa.array([b"\x00\xff"], pa.large_binary()),
        }
    )
    write = sink.begin(WriteRequest(table=table))
    try:
        write.write([batch])
    except BaseException:
        write.rollback()
        raise
    write.commit()
    conn = _conn()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT column_name, column_type FROM information_schema.columns "
                "WHERE table_schema = database() AND table_name = %s ORDER BY ordinal_position",
                (table,),
            )
            assert [tuple(r) for r in cur.fetchall()][1:] == [
                ("clock", "time(6)"),
                ("blob", "longblob"),
            ]
            cur.execute(f"SELECT clock, `blob` FROM {table}")
            assert cur.fetchone() == (datetime.timedelta(hours=13, seconds=5.25), b"\x00\xff")
        schema = sink.table_schema(table)
        assert schema is not None and schema.field("clock").type == pa.time64("us")
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
        conn.close()


@pytest.mark.parametrize("driver", ["connectorx", "pymysql"])
def test_numeric_columns_keep_their_declared_types(driver: str) -> None:
    """DECIMAL(12,2) stays decimal(12,2) in every batch, however the first batch looks."""
    from decimal import Decimal

    import pyarrow as pa

    require_mysql()
    table = new_name("lw_num")
    conn = _conn()
    try:
        with conn.cursor() as cur:
            cur.execute(
                f"CREATE TABLE {table} (id int PRIMARY KEY, price decimal(12,2), "
                "qty int unsigned, big bigint, flag tinyint, day date)"
            )
            cur.executemany(
                f"INSERT INTO {table} VALUES (%s, %s, %s, %s, %s, %s)",
                [(1, None, None, None, None, None), (2, Decimal("1.5"), 7, -3, 1, "2024-01-02")]
                + [(i, Decimal("9999999999.99"), 4000000000, 2**62, -1, None) for i in (3, 4)],
            )
        source = open_source("my", {**CONFIG, "driver": driver})
        items = list(source.read(ReadRequest(table=table, batch_rows=1)))
        schemas = {item.batch.schema for item in items}
        assert len(schemas) == 1
        (schema,) = schemas
        assert schema.field("price").type == pa.decimal128(12, 2)
        assert schema.field("qty").type == pa.uint32()
        assert schema.field("big").type == pa.int64()
        assert schema.field("flag").type == pa.int8()
        assert schema.field("day").type == pa.date32()
        rows = sorted((r for item in items for r in item.batch.to_pylist()), key=lambda r: r["id"])
        assert rows[3]["price"] == Decimal("9999999999.99") and rows[3]["qty"] == 4000000000
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
        conn.close()
