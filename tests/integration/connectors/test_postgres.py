"""PostgreSQL source and sink against the real server."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import psycopg
import pyarrow as pa
import pytest

from lakeworks.connectors.base import Sink, Source
from lakeworks.connectors.registry import open_sink, open_source
from lakeworks.errors import TransientError, UserError
from lakeworks.testing.connectors import ROWS, SinkContract, SourceContract, new_name
from tests.services import require_postgres

pytestmark = pytest.mark.postgres

CONFIG: dict[str, Any] = {"type": "postgres", "database": "test"}


def _conn() -> psycopg.Connection[Any]:
    require_postgres()
    return psycopg.connect("host=127.0.0.1 user=postgres dbname=test", autocommit=True)


class TestPostgresSource(SourceContract):
    @pytest.fixture(autouse=True)
    def _table(self) -> Iterator[None]:
        self.table = new_name("lw_src")
        with _conn() as conn:
            conn.execute(
                f"CREATE TABLE {self.table} (id int PRIMARY KEY, name text, "
                "amount float8, ts timestamp)"
            )
            with conn.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO {self.table} VALUES (%(id)s, %(name)s, %(amount)s, %(ts)s)",
                    ROWS,
                )
        yield
        with _conn() as conn:
            conn.execute(f"DROP TABLE {self.table}")

    def make_source(self) -> Source:
        return open_source("pg", CONFIG)

    def test_quoting_and_special_values(self) -> None:
        with _conn() as conn:
            conn.execute(
                f"INSERT INTO {self.table} VALUES (100, %s, 'NaN', '2024-02-29 23:59:59.5')",
                ['he said "hi",\nthen left'],
            )
            conn.execute(f"INSERT INTO {self.table} VALUES (101, '', NULL, NULL)")
        rows = self.read(self.make_source(), where="id >= 100")
        assert rows[0]["name"] == 'he said "hi",\nthen left'
        assert rows[1]["name"] == ""  # an empty string is not NULL
        assert rows[1]["amount"] is None

    def test_unknown_table_is_a_user_error(self) -> None:
        from lakeworks.connectors.base import ReadRequest

        with pytest.raises(UserError, match="does not exist"):
            list(self.make_source().read(ReadRequest(table="lw_no_such_table")))

    def test_password_from_env_is_never_shown(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from lakeworks.connectors.base import ReadRequest

        monkeypatch.setenv("LW_TEST_PGPASS", "s3cr3t-value")
        source = open_source(
            "pg", {**CONFIG, "port": 1, "password_env": "LW_TEST_PGPASS", "connect_timeout": 1}
        )
        with pytest.raises(TransientError) as info:
            list(source.read(ReadRequest(table=self.table)))
        assert "s3cr3t-value" not in info.value.render()

    def test_missing_password_env_names_the_variable(self) -> None:
        with pytest.raises(UserError, match="LW_TEST_NOT_SET is not set"):
            open_source("pg", {**CONFIG, "password_env": "LW_TEST_NOT_SET"})

    def test_plain_password_key_is_rejected(self) -> None:
        with pytest.raises(UserError, match="passwords are never written in workspace") as info:
            open_source("pg", {**CONFIG, "password": "hunter2"})
        assert "hunter2" not in info.value.render()


class TestPostgresSink(SinkContract):
    def make_sink(self) -> Sink:
        require_postgres()
        return open_sink("pg", CONFIG)

    def read_back(self, table: str) -> list[dict[str, Any]]:
        with _conn() as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
            cur.execute(f"SELECT * FROM {table} ORDER BY id")  # type: ignore[arg-type]
            return list(cur.fetchall())

    def drop(self, table: str) -> None:
        with _conn() as conn:
            conn.execute(f"DROP TABLE IF EXISTS {table}")  # type: ignore[arg-type]


class TestPostgresSourcePsycopgReader(TestPostgresSource):
    """The same contract through psycopg's COPY loop (TLS connections without psql)."""

    def make_source(self) -> Source:
        return open_source("pg", {**CONFIG, "reader": "psycopg"})


class TestPostgresSourcePsqlReader(TestPostgresSource):
    """The same contract through the psql client (TLS connections)."""

    def make_source(self) -> Source:
        if shutil.which("psql") is None:
            pytest.skip("psql is not installed")
        return open_source("pg", {**CONFIG, "reader": "psql"})


READERS = ["direct", "psql", "psycopg"]

TYPED_COLUMNS = {
    "flag": "boolean",
    "small": "smallint",
    "num": "integer",
    "big": "bigint",
    "ratio": "real",
    "amount": "double precision",
    "day": "date",
    "at": "timestamp",
    "at_utc": "timestamptz",
    "clock": "time",
    "name": "text",
    "code": "varchar(8)",
    "fixed": "char(4)",
    "blob": "bytea",
    "price": "numeric(12,2)",
    "loose": "numeric",
    "uid": "uuid",
    "doc": "jsonb",
    "span": "interval",
    "tags": "text[]",
    "oid_col": "oid",
}


@pytest.fixture
def typed() -> Iterator[str]:
    table = new_name("lw_typed")
    columns = ", ".join(f"{name} {kind}" for name, kind in TYPED_COLUMNS.items())
    with _conn() as conn:
        conn.execute(f"CREATE TABLE {table} (id int, {columns})")  # type: ignore[arg-type]
        conn.execute(
            f"INSERT INTO {table} VALUES (1, true, -7, 42, 9000000000, 0.5, 2.25, "  # type: ignore[arg-type]
            "'2024-02-29', '2024-02-29 23:59:59.123456', '2024-01-01 12:00:00+02', "
            "'13:00:05', 'név \"quoted\",\n line', 'ab', 'xy', '\\x00ff10', 1234.5, "
            "0.000001, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"k\": [1, 2]}', "
            "'1 day 02:00', '{a,b}', 12345)"
        )
        conn.execute(f"INSERT INTO {table} (id) VALUES (2)")  # type: ignore[arg-type]
    yield table
    with _conn() as conn:
        conn.execute(f"DROP TABLE {table}")  # type: ignore[arg-type]


@pytest.mark.parametrize("reader", READERS)
def test_every_type_reads_as_psycopg_sees_it(typed: str, reader: str) -> None:
    from lakeworks.connectors.base import ReadRequest

    if reader == "psql" and shutil.which("psql") is None:
        pytest.skip("psql is not installed")
    source = open_source("pg", {**CONFIG, "reader": reader})
    items = list(source.read(ReadRequest(table=typed)))
    rows = sorted((r for item in items for r in item.batch.to_pylist()), key=lambda r: r["id"])
    full, empty = rows
    assert full == {
        "id": 1,
        "flag": True,
        "small": -7,
        "num": 42,
        "big": 9000000000,
        "ratio": 0.5,
        "amount": 2.25,
        "day": date(2024, 2, 29),
        "at": datetime(2024, 2, 29, 23, 59, 59, 123456),
        "at_utc": datetime(2024, 1, 1, 10, 0, tzinfo=UTC),
        "clock": time(13, 0, 5),
        "name": 'név "quoted",\n line',
        "code": "ab",
        "fixed": "xy  ",
        "blob": b"\x00\xff\x10",
        "price": Decimal("1234.50"),
        "loose": "0.000001",
        "uid": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "doc": '{"k": [1, 2]}',
        "span": "1 day 02:00:00",
        "tags": "{a,b}",
        "oid_col": 12345,
    }
    assert all(value is None for key, value in empty.items() if key != "id")
    schema = items[0].batch.schema
    assert schema.field("price").type == pa.decimal128(12, 2)
    assert schema.field("at_utc").type == pa.timestamp("us", tz="UTC")


@pytest.mark.parametrize("reader", READERS)
def test_an_error_in_the_middle_of_the_stream_is_a_user_error(reader: str) -> None:
    from lakeworks.connectors.base import ReadRequest

    if reader == "psql" and shutil.which("psql") is None:
        pytest.skip("psql is not installed")
    source = open_source("pg", {**CONFIG, "reader": reader})
    query = "SELECT g, 100 / (200000 - g) AS q FROM generate_series(1, 300000) g"
    with pytest.raises(UserError, match="division by zero"):
        list(source.read(ReadRequest(query=query, batch_rows=1000)))


def test_infinite_dates_are_rejected_rows_with_positions() -> None:
    from lakeworks.connectors.base import ReadRequest

    query = (
        "SELECT g AS id, CASE WHEN g = 3 THEN 'infinity'::timestamp "
        "ELSE timestamp '2024-01-01' END AS at FROM generate_series(1, 5) g ORDER BY g"
    )
    items = list(open_source("pg", CONFIG).read(ReadRequest(query=query)))
    ids = [r["id"] for item in items for r in item.batch.to_pylist()]
    assert ids == [1, 2, 4, 5]
    rejects = [r for item in items for r in item.rejects]
    assert [r.position for r in rejects] == ["query row 3"]
    assert "'infinity'" in rejects[0].reason
    assert [item.position(0) for item in items if item.batch.num_rows] == [
        "query row 1",
        "query row 4",
    ]


def test_values_larger_than_the_buffers(typed: str) -> None:
    from lakeworks.connectors.base import ReadRequest

    query = "SELECT g AS id, repeat('x', 20000000 * (g % 2)) AS pad FROM generate_series(1, 4) g"
    items = list(open_source("pg", CONFIG).read(ReadRequest(query=query)))
    sizes = {r["id"]: len(r["pad"]) for item in items for r in item.batch.to_pylist()}
    assert sizes == {1: 20000000, 2: 0, 3: 20000000, 4: 0}


def test_direct_reader_keeps_up_with_many_batches() -> None:
    from lakeworks.connectors.base import ReadRequest

    query = "SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 300000) g"
    items = list(open_source("pg", {**CONFIG, "reader": "direct"}).read(ReadRequest(query=query)))
    ids = [i for item in items for i in item.batch.column(0).to_pylist()]
    assert ids == list(range(1, 300001))
    assert max(item.batch.num_rows for item in items) <= 122880
    assert items[-1].first_row + items[-1].batch.num_rows - 1 == 300000


@pytest.mark.parametrize("reader", READERS)
def test_sql_ascii_database_with_bytes_that_are_not_utf8(reader: str) -> None:
    """A SQL_ASCII database passes bytes unconverted; rows that are not UTF-8 are rejects."""
    from lakeworks.connectors.base import ReadRequest

    if reader == "psql" and shutil.which("psql") is None:
        pytest.skip("psql is not installed")
    database = new_name("lw_ascii")
    with _conn() as conn:
        conn.execute(
            f"CREATE DATABASE {database} ENCODING 'SQL_ASCII' LC_COLLATE 'C' "  # type: ignore[arg-type]
            "LC_CTYPE 'C' TEMPLATE template0"
        )
    try:
        dsn = f"host=127.0.0.1 user=postgres dbname={database}"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE TABLE t (id int, name text)")
            conn.execute("INSERT INTO t VALUES (1, 'plain'), (2, E'caf\\xe9'), (3, 'x')")
        source = open_source("pg", {**CONFIG, "database": database, "reader": reader})
        items = list(source.read(ReadRequest(query="SELECT * FROM t ORDER BY id")))
        assert [r["id"] for item in items for r in item.batch.to_pylist()] == [1, 3]
        (reject,) = [r for item in items for r in item.rejects]
        assert reject.position == "query row 2" and "not UTF-8" in reject.reason
    finally:
        with _conn() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {database}")  # type: ignore[arg-type]


def test_a_password_in_libpq_options_is_refused_without_showing_it() -> None:
    with pytest.raises(UserError, match="'password' is not allowed") as info:
        open_source("pg", {**CONFIG, "options": {"password": "hunter2"}})
    assert "hunter2" not in info.value.render()
