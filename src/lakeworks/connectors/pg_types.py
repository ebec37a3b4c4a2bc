"""PostgreSQL <-> Arrow types, and how each result column is read from binary COPY.

A column is read natively when the binary decoder knows its wire format (integers,
floats, booleans, dates, timestamps, times, text, bytea); numerics are read as text
and cast to ``decimal128`` by Arrow; anything else is cast to text by the query.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lakeworks.connectors.base import quote_ident
from lakeworks.connectors.sql_types import POSTGRES, UTC_TIMESTAMP, arrow_type_for, column_type

if TYPE_CHECKING:
    import pyarrow as pa

NUMERIC_OID = 1700
OID_OID = 26

_NATIVE: dict[int, tuple[str, str]] = {
    16: ("b", "bool"),
    21: ("h", "int16"),
    23: ("i", "int32"),
    20: ("q", "int64"),
    700: ("f", "float32"),
    701: ("d", "float64"),
    1082: ("D", "date32"),
    1114: ("T", "timestamp[us]"),
    1184: ("T", UTC_TIMESTAMP),
    1083: ("t", "time64[us]"),
    25: ("s", "string"),
    1043: ("s", "string"),
    1042: ("s", "string"),
    19: ("s", "string"),
    17: ("s", "binary"),
}
"""Type OID -> (decoder kind, Arrow type alias) for the types decoded natively."""

PG_TYPE_NAMES: dict[str, int] = {
    "boolean": 16,
    "smallint": 21,
    "integer": 23,
    "bigint": 20,
    "real": 700,
    "double precision": 701,
    "date": 1082,
    "timestamp without time zone": 1114,
    "timestamp with time zone": 1184,
    "time without time zone": 1083,
    "numeric": NUMERIC_OID,
}
"""``information_schema`` type names -> type OIDs (anything else reads as text)."""


def arrow_type(oid: int, precision: int | None = None, scale: int | None = None) -> pa.DataType:
    """The Arrow type a PostgreSQL column of type ``oid`` is read as."""
    import pyarrow as pa

    if oid == NUMERIC_OID and precision and precision <= 38:
        return pa.decimal128(precision, scale or 0)
    if oid == OID_OID:
        return pa.int64()
    native = _NATIVE.get(oid)
    return arrow_type_for(native[1]) if native else pa.string()


@dataclass(frozen=True)
class ColumnCodec:
    """How one result column travels: the select expression, wire kind and Arrow type."""

    name: str
    expression: str
    kind: str
    """The decoder's kind byte (see ``_pgcopy.c``)."""
    wire_type: pa.DataType
    """The Arrow type the decoder produces."""
    arrow_type: pa.DataType
    """The Arrow type of the batch column (a cast follows when it differs)."""


def plan_column(name: str, oid: int, precision: int | None, scale: int | None) -> ColumnCodec:
    """The codec for a result column named ``name`` of type ``oid``."""
    import pyarrow as pa

    ident = quote_ident(name)
    target = arrow_type(oid, precision, scale)
    if oid == OID_OID:
        return ColumnCodec(name, f"{ident}::int8", "q", pa.int64(), target)
    native = _NATIVE.get(oid)
    if native is not None:
        return ColumnCodec(name, ident, native[0], arrow_type_for(native[1]), target)
    return ColumnCodec(name, f"{ident}::text", "s", pa.string(), target)


def pg_type(arrow: pa.DataType) -> str:
    """The PostgreSQL column type for an Arrow type."""
    return column_type(arrow, POSTGRES)
