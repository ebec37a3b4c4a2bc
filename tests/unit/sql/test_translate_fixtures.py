"""MaxCompute → DuckDB translation cases kept as data (``fixtures/translate/*.sql``).

Each case checks the exact statements produced (or the error and its position) and
then runs the expected statements on a fresh in-memory DuckDB after the case's setup,
so a fixture cannot hold SQL that DuckDB rejects.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from lakeworks.errors import UserError
from lakeworks.sql.translate import translate_script
from tests.unit.sql.cases import FIXTURES, Case, load_cases

KEYS = frozenset({"setup", "error", "at"})
PARTITIONS = {"t_src": ["ds"]}


def _params() -> list[object]:
    out = []
    for path in sorted((FIXTURES / "translate").glob("*.sql")):
        for case in load_cases(path, KEYS):
            out.append(pytest.param(path, case, id=f"{path.stem}:{case.name}"))
    return out


CASES = _params()


def _translate(case: Case) -> list[str]:
    statements = translate_script(
        case.source,
        source_dialect="maxcompute",
        target_dialect="duckdb",
        path="case.sql",
        partition_columns=lambda t: PARTITIONS.get(t, []),
    )
    return [step for statement in statements for step in statement.steps]


def test_cases_are_many_and_uniquely_named() -> None:
    names = [p.values[1].name for p in CASES]  # type: ignore[attr-defined]
    assert len(names) >= 40
    assert len(names) == len(set(names))


@pytest.mark.parametrize(("path", "case"), CASES)
def test_translation_case(path: Path, case: Case) -> None:
    if "error" in case.directives:
        with pytest.raises(UserError) as info:
            _translate(case)
        assert info.value.message == case.directives["error"]
        line, column = (int(x) for x in case.directives["at"].split(":"))
        assert (info.value.location.line, info.value.location.column) == (line, column)
        assert str(info.value.location.file) == "case.sql"
        return
    assert case.expect is not None, f"{path.name}: case '{case.name}' has no -- expect:"
    assert _translate(case) == case.expect
    conn = duckdb.connect()
    try:
        for statement in filter(None, case.directives.get("setup", "").split(";")):
            conn.execute(statement)
        for statement in case.expect:
            conn.execute(statement)
    finally:
        conn.close()
