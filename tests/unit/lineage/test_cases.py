"""Column lineage cases kept as data: ``cases/*.yml`` (SQL in, expected edges out).

Each case gives ``sql`` and the expected ``edges`` (``"src.col -> dst.col direct"``)
and optionally ``schema``, ``reads``, ``writes``, ``filters``, ``unresolved`` and
``problems`` (substrings that must appear among the reported problems).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from lakeworks.sql.lineage import script_lineage

CASES_DIR = Path(__file__).parent / "cases"


def _load_cases() -> list[Any]:
    params = []
    for path in sorted(CASES_DIR.glob("*.yml")):
        for case in yaml.safe_load(path.read_text()):
            params.append(pytest.param(case, id=f"{path.stem}:{case['name']}"))
    return params


CASES = _load_cases()


def test_enough_cases_cover_the_constructs() -> None:
    assert len(CASES) >= 40
    names = [p.values[0]["name"] for p in CASES]
    assert len(names) == len(set(names)), "case names must be unique"


@pytest.mark.parametrize("case", CASES)
def test_lineage_case(case: dict[str, Any]) -> None:
    result = script_lineage(case["sql"], case.get("schema") or {})

    edges = sorted(str(e) for e in result.column_edges)
    assert edges == sorted(case["edges"])
    if "reads" in case:
        assert sorted(result.reads) == sorted(case["reads"])
    if "writes" in case:
        assert sorted(result.writes) == sorted(case["writes"])
    if "filters" in case:
        filters = {str(f) for s in result.statements for f in s.filters}
        assert sorted(filters) == sorted(case["filters"])
    assert sorted(str(u) for u in result.unresolved) == sorted(case.get("unresolved", []))
    problems = result.problems
    for expected in case.get("problems", []):
        assert any(expected in p for p in problems), f"{expected!r} not in {problems}"
    if not case.get("unresolved") and not case.get("problems"):
        assert problems == []
