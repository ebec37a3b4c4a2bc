"""Arrow types -> SQL column types: one mapping, one table of type names per dialect.

A sink that creates tables or adds columns names its dialect's types in a
``ColumnTypes`` and asks ``column_type``; the dialects differ only in their tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class ColumnTypes:
    """One dialect's column type for each Arrow type family."""

    boolean: str
    int16: str
    """Integers of at most 16 bits."""
    int32: str
    int64: str
    """Integers wider than 32 bits."""
    float32: str
    float64: str
    """Every other floating-point type (half floats too)."""
    decimal: str
    """A format with ``{precision}`` and ``{scale}``."""
    decimal_max_precision: int | None
    """A larger precision is lowered to this one; ``None``: no limit."""
    date: str
    timestamp: str
    timestamptz: str
    """A timestamp with a time zone."""
    time: str
    binary: str
    """Binary and large binary."""
    text: str
    """Strings and every type without a family of its own here."""


POSTGRES = ColumnTypes(
    boolean="boolean",
    int16="smallint",
    int32="integer",
    int64="bigint",
    float32="real",
    float64="double precision",
    decimal="numeric({precision},{scale})",
    decimal_max_precision=None,
    date="date",
    timestamp="timestamp",
    timestamptz="timestamptz",
    time="time",
    binary="bytea",
    text="text",
)

MYSQL = ColumnTypes(
    boolean="BOOLEAN",
    int16="INT",
    int32="INT",
    int64="BIGINT",
    float32="FLOAT",
    float64="DOUBLE",
    decimal="DECIMAL({precision},{scale})",
    decimal_max_precision=65,
    date="DATE",
    timestamp="DATETIME(6)",
    timestamptz="DATETIME(6)",
    time="TIME(6)",
    binary="LONGBLOB",
    text="TEXT",
)
"""MySQL / MariaDB (the time zone of a timestamp is not kept)."""

WAREHOUSE = ColumnTypes(
    boolean="BOOLEAN",
    int16="INTEGER",
    int32="INTEGER",
    int64="BIGINT",
    float32="DOUBLE",
    float64="DOUBLE",
    decimal="DECIMAL({precision},{scale})",
    decimal_max_precision=None,
    date="DATE",
    timestamp="TIMESTAMP",
    timestamptz="TIMESTAMP WITH TIME ZONE",
    time="TIME",
    binary="BLOB",
    text="VARCHAR",
)
"""The warehouse engine: portable names as DuckDB spells them."""


def column_type(arrow_type: pa.DataType, names: ColumnTypes) -> str:
    """The column type ``names`` gives an Arrow type."""
    import pyarrow.types as t

    if t.is_boolean(arrow_type):
        return names.boolean
    if t.is_integer(arrow_type):
        bits = int(arrow_type.bit_width)
        if t.is_unsigned_integer(arrow_type):  # the signed type twice as wide holds it
            bits *= 2
        if bits <= 16:
            return names.int16
        return names.int32 if bits <= 32 else names.int64
    if t.is_float32(arrow_type):
        return names.float32
    if t.is_floating(arrow_type):
        return names.float64
    if t.is_decimal(arrow_type):
        precision = int(arrow_type.precision)
        if names.decimal_max_precision is not None:
            precision = min(precision, names.decimal_max_precision)
        return names.decimal.format(precision=precision, scale=arrow_type.scale)
    if t.is_date(arrow_type):
        return names.date
    if t.is_timestamp(arrow_type):
        return names.timestamptz if arrow_type.tz else names.timestamp
    if t.is_time(arrow_type):
        return names.time
    if t.is_binary(arrow_type) or t.is_large_binary(arrow_type):
        return names.binary
    return names.text


UTC_TIMESTAMP = "timestamp[us, tz=UTC]"
"""The one alias ``arrow_type_for`` adds to Arrow's own (``int64``, ``timestamp[us]``…)."""


def arrow_type_for(alias: str) -> pa.DataType:
    """The Arrow type an alias names: Arrow's own aliases, plus ``UTC_TIMESTAMP``."""
    import pyarrow as pa

    if alias == UTC_TIMESTAMP:
        return pa.timestamp("us", tz="UTC")
    return pa.type_for_alias(alias)
