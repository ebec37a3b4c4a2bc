"""Which tables scripts read and write (``fixtures/tables/*.sql``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakeworks.errors import UserError
from lakeworks.sql.tables import table_io
from tests.unit.sql.cases import FIXTURES, Case, load_cases

KEYS = frozenset({"reads", "writes", "creates", "external"})


def _names(value: str) -> frozenset[str]:
    return frozenset(n.strip() for n in value.split(",") if n.strip())


def _params() -> list[object]:
    out = []
    for path in sorted((FIXTURES / "tables").glob("*.sql")):
        for case in load_cases(path, KEYS):
            out.append(pytest.param(path, case, id=f"{path.stem}:{case.name}"))
    return out


@pytest.mark.parametrize(("path", "case"), _params())
def test_table_io_case(path: Path, case: Case) -> None:
    io = table_io(case.source, "maxcompute")
    assert io.reads == _names(case.directives["reads"])
    assert io.writes == _names(case.directives["writes"])
    if "creates" in case.directives:
        assert io.creates == _names(case.directives["creates"])
    if "external" in case.directives:
        assert io.external_reads() == _names(case.directives["external"])


def test_statements_carry_file_lines() -> None:
    text = "-- header\nINSERT INTO a SELECT * FROM b;\n\n\nINSERT INTO c\nSELECT * FROM a;\n"
    io = table_io(text, "maxcompute", path="wf/n.sql", first_line=3)
    assert io.statements == [
        (4, frozenset({"b"}), frozenset({"a"})),
        (7, frozenset({"a"}), frozenset({"c"})),
    ]
    assert io.external_reads() == frozenset({"b"})


def test_duckdb_dialect() -> None:
    io = table_io(
        "CREATE OR REPLACE TABLE s.t AS SELECT * FROM read_parquet('x.parquet') JOIN u USING (k)",
        "duckdb",
    )
    assert io.reads == frozenset({"u"})
    assert io.writes == io.creates == frozenset({"s.t"})


def test_syntax_error_is_reported_with_location() -> None:
    with pytest.raises(UserError) as info:
        table_io("SELECT 1;\nSELECT * FROM t WHERE", "maxcompute", path="n.sql", first_line=10)
    assert (info.value.location.line, info.value.location.column) == (11, 17)
