"""Each masking method gives the same value in DuckDB as in Python."""

from __future__ import annotations

import duckdb
import pytest

from lakeworks.security.masking import MASKING_METHODS, mask_sql

VALUES = ["13812345678", "ann@example.com", "a@b", "no-at-sign", "ab", "", "x", 12345678]


@pytest.mark.parametrize("method", sorted(MASKING_METHODS))
def test_sql_masking_matches_python(method: str) -> None:
    conn = duckdb.connect()
    for value in [*VALUES, None]:
        kind = "BIGINT" if isinstance(value, int) else "VARCHAR"
        sql = f"SELECT {mask_sql(method, 'c', kind)} FROM (SELECT CAST(? AS {kind}) AS c)"
        got = conn.execute(sql, [value]).fetchone()
        expected = None if value is None else MASKING_METHODS[method](value)
        assert got is not None and got[0] == expected, (method, value)
