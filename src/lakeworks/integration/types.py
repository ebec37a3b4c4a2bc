"""Column type names of sync mappings (``bigint``, ``decimal(12,2)``…) as Arrow types."""

from __future__ import annotations

import re

import pyarrow as pa

_SIMPLE_TYPES: dict[str, pa.DataType] = {
    "tinyint": pa.int8(),
    "smallint": pa.int16(),
    "int": pa.int32(),
    "integer": pa.int32(),
    "bigint": pa.int64(),
    "long": pa.int64(),
    "float": pa.float32(),
    "real": pa.float32(),
    "double": pa.float64(),
    "double precision": pa.float64(),
    "string": pa.string(),
    "text": pa.string(),
    "varchar": pa.string(),
    "char": pa.string(),
    "boolean": pa.bool_(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "datetime": pa.timestamp("us"),
    "timestamp": pa.timestamp("us"),
    "timestamptz": pa.timestamp("us", tz="UTC"),
    "binary": pa.binary(),
}
_DECIMAL = re.compile(r"^(decimal|numeric)\s*\(\s*(\d+)\s*(?:,\s*(\d+))?\s*\)$")
_SIZED = re.compile(r"^(varchar|char|string)\s*\(\s*\d+\s*\)$")


def parse_type(name: str) -> pa.DataType:
    """The Arrow type for a SQL-style type name (``bigint``, ``decimal(12,2)``…)."""
    text = " ".join(name.strip().lower().split())
    if text in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[text]
    if _SIZED.match(text):
        return pa.string()
    match = _DECIMAL.match(text)
    if match:
        precision, scale = int(match.group(2)), int(match.group(3) or 0)
        if not 1 <= precision <= 38 or scale > precision:
            raise ValueError(f"decimal({precision},{scale}) is out of range")
        return pa.decimal128(precision, scale)
    raise ValueError(
        f"unknown type '{name}' (use tinyint, smallint, int, bigint, float, double, "
        "decimal(p,s), string, varchar(n), boolean, date, timestamp, timestamptz, binary)"
    )
