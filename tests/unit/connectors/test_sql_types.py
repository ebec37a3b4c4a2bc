"""Arrow -> SQL column types for PostgreSQL, MySQL and the warehouse, every type family."""

from __future__ import annotations

import pyarrow as pa
import pytest

from lakeworks.connectors.mysql import mysql_type
from lakeworks.connectors.pg_types import pg_type
from lakeworks.connectors.warehouse import sql_type

# Arrow type -> (PostgreSQL, MySQL, warehouse)
CASES: list[tuple[pa.DataType, str, str, str]] = [
    (pa.bool_(), "boolean", "BOOLEAN", "BOOLEAN"),
    (pa.int8(), "smallint", "INT", "INTEGER"),
    (pa.int16(), "smallint", "INT", "INTEGER"),
    (pa.int32(), "integer", "INT", "INTEGER"),
    (pa.int64(), "bigint", "BIGINT", "BIGINT"),
    (pa.uint8(), "smallint", "INT", "INTEGER"),
    (pa.uint16(), "integer", "INT", "INTEGER"),
    (pa.uint32(), "bigint", "BIGINT", "BIGINT"),
    (pa.uint64(), "bigint", "BIGINT", "BIGINT"),
    (pa.float16(), "double precision", "DOUBLE", "DOUBLE"),
    (pa.float32(), "real", "FLOAT", "DOUBLE"),
    (pa.float64(), "double precision", "DOUBLE", "DOUBLE"),
    (pa.decimal128(10, 2), "numeric(10,2)", "DECIMAL(10,2)", "DECIMAL(10,2)"),
    (pa.decimal128(38, 0), "numeric(38,0)", "DECIMAL(38,0)", "DECIMAL(38,0)"),
    (pa.decimal256(65, 3), "numeric(65,3)", "DECIMAL(65,3)", "DECIMAL(65,3)"),
    (pa.decimal256(70, 4), "numeric(70,4)", "DECIMAL(65,4)", "DECIMAL(70,4)"),
    (pa.date32(), "date", "DATE", "DATE"),
    (pa.date64(), "date", "DATE", "DATE"),
    (pa.timestamp("us"), "timestamp", "DATETIME(6)", "TIMESTAMP"),
    (pa.timestamp("s"), "timestamp", "DATETIME(6)", "TIMESTAMP"),
    (
        pa.timestamp("us", tz="UTC"),
        "timestamptz",
        "DATETIME(6)",
        "TIMESTAMP WITH TIME ZONE",
    ),
    (
        pa.timestamp("ms", tz="Europe/Berlin"),
        "timestamptz",
        "DATETIME(6)",
        "TIMESTAMP WITH TIME ZONE",
    ),
    (pa.time64("us"), "time", "TIME(6)", "TIME"),
    (pa.time32("s"), "time", "TIME(6)", "TIME"),
    (pa.binary(), "bytea", "LONGBLOB", "BLOB"),
    (pa.large_binary(), "bytea", "LONGBLOB", "BLOB"),
    (pa.string(), "text", "TEXT", "VARCHAR"),
    (pa.large_string(), "text", "TEXT", "VARCHAR"),
    (pa.list_(pa.int32()), "text", "TEXT", "VARCHAR"),
]

IDS = [str(case[0]) for case in CASES]


@pytest.mark.parametrize(("arrow", "expected"), [(c[0], c[1]) for c in CASES], ids=IDS)
def test_postgres_column_types(arrow: pa.DataType, expected: str) -> None:
    assert pg_type(arrow) == expected


@pytest.mark.parametrize(("arrow", "expected"), [(c[0], c[2]) for c in CASES], ids=IDS)
def test_mysql_column_types(arrow: pa.DataType, expected: str) -> None:
    assert mysql_type(arrow) == expected


@pytest.mark.parametrize(("arrow", "expected"), [(c[0], c[3]) for c in CASES], ids=IDS)
def test_warehouse_column_types(arrow: pa.DataType, expected: str) -> None:
    assert sql_type(arrow) == expected
