"""The ad-hoc rewrite without a warehouse: name resolution, CTE renaming, view inlining,
masking projections, refusals and the row cap."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest
import sqlglot

from lakeworks.engines.base import ColumnInfo, RelationInfo
from lakeworks.errors import PermissionDenied, UserCodeError, UserError
from lakeworks.security.models import MaskingRule
from lakeworks.security.rewrite import Relations, Rewriter, cap_rows

COLUMNS = [ColumnInfo("id", "INTEGER"), ColumnInfo("phone", "VARCHAR")]
RELATIONS = Relations(
    "wh",
    [
        RelationInfo("wh", "main", "people", "table", columns=COLUMNS),
        RelationInfo("wh", "main", "notes", "table", columns=[ColumnInfo("body", "VARCHAR")]),
        RelationInfo("temp", "main", "notes", "table", columns=[ColumnInfo("body", "VARCHAR")]),
        RelationInfo(
            "wh",
            "main",
            "v_people",
            "view",
            sql="CREATE VIEW v_people AS SELECT * FROM people;",
            columns=COLUMNS,
        ),
        RelationInfo(
            "wh",
            "main",
            "v_notes",
            "view",
            sql="CREATE VIEW v_notes (text) AS SELECT body FROM notes;",
            columns=[ColumnInfo("text", "VARCHAR")],
        ),
        RelationInfo("system", "main", "duckdb_views", "view", internal=True),
    ],
)
RULE = MaskingRule(
    id=1,
    workspace="w",
    table_pattern="people",
    column_pattern="phone",
    method="phone",
    exempt=(),
    created_at=datetime(2026, 1, 1),
    created_by="sam",
)


def rewrite(sql: str, rules: list[MaskingRule] | None = None) -> tuple[str, set[str], set[str]]:
    tree = sqlglot.parse_one(sql, read="duckdb")
    guarded = Rewriter(RELATIONS, [RULE] if rules is None else rules).statement(tree)
    return guarded.tree.sql(dialect="duckdb"), guarded.reads, guarded.masked


def test_names_resolve_like_the_engine() -> None:
    assert RELATIONS.resolve(["notes"], None) == RelationInfo(
        "temp", "main", "notes", "table", columns=[ColumnInfo("body", "VARCHAR")]
    )
    resolved = RELATIONS.resolve(["main", "notes"], None)
    assert resolved is not None and resolved.database == "wh"
    assert RELATIONS.resolve(["WH", "Main", "PEOPLE"], None) is not None
    assert RELATIONS.resolve(["nowhere"], None) is None


def test_a_masked_table_becomes_a_masking_projection_under_its_alias() -> None:
    sql, reads, masked = rewrite("SELECT t FROM people t")
    assert sql.startswith('SELECT t FROM (SELECT "id", CASE WHEN "phone" IS NULL')
    assert sql.endswith('FROM "wh"."main"."people") AS t')
    assert reads == {"people"} and masked == {"people"}


def test_ctes_are_renamed_and_a_cte_named_like_a_table_hides_only_its_scope() -> None:
    sql, reads, _ = rewrite(
        "SELECT b.* FROM (WITH notes AS (SELECT 1 AS x) SELECT * FROM notes) a, notes b"
    )
    assert "WITH _lw_cte_1 AS (SELECT 1 AS x) SELECT * FROM _lw_cte_1 AS notes" in sql
    assert '"temp"."main"."notes" AS b' in sql
    assert reads == {"notes"}


def test_views_are_inlined_and_what_they_read_is_reported() -> None:
    sql, reads, masked = rewrite("SELECT * FROM v_people")
    assert "FROM v_people" not in sql and '"wh"."main"."people"' in sql
    assert sql.endswith(") AS v_people")
    assert reads == {"v_people", "people"} and masked == {"people"}


def test_a_masking_rule_on_a_view_masks_its_columns() -> None:
    rule = replace(RULE, table_pattern="v_notes", column_pattern="text")
    sql, reads, masked = rewrite("SELECT text FROM v_notes", [rule])
    assert reads == {"v_notes", "notes"} and masked == {"v_notes"}
    assert 'AS _lw_cte_view("text")' in sql
    assert sql.startswith('SELECT text FROM (SELECT CASE WHEN "text" IS NULL')


@pytest.mark.parametrize(
    ("sql", "error", "message"),
    [
        ("SELECT * FROM duckdb_views", UserError, "warehouse's own catalog"),
        ("SELECT * FROM nowhere", UserCodeError, "nowhere does not exist"),
        ("UPDATE people SET id = 1", PermissionDenied, "'people' has masked columns"),
        ("DELETE FROM people", PermissionDenied, "'people' has masked columns"),
    ],
)
def test_what_cannot_be_rewritten_is_refused(
    sql: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        rewrite(sql)


def test_changes_to_tables_without_masking_are_allowed() -> None:
    sql, _, _ = rewrite("UPDATE notes SET body = 'x'")
    assert sql == """UPDATE "temp"."main".notes SET body = 'x'"""
    sql, _, _ = rewrite("CREATE TABLE copied AS SELECT id FROM people")
    assert sql.startswith('CREATE TABLE "wh"."main".copied AS SELECT id FROM (SELECT "id"')


def test_the_row_cap_keeps_a_smaller_limit() -> None:
    def capped(sql: str) -> str:
        return cap_rows(sqlglot.parse_one(sql, read="duckdb"), 11).sql(dialect="duckdb")

    assert capped("SELECT 1") == "SELECT 1 LIMIT 11"
    assert capped("SELECT 1 LIMIT 5") == "SELECT 1 LIMIT 5"
    assert (
        capped("SELECT 1 LIMIT 50")
        == "SELECT * FROM (SELECT 1 LIMIT 50) AS _lw_cte_capped LIMIT 11"
    )
    assert capped("SELECT 1 UNION ALL SELECT 2") == "SELECT 1 UNION ALL SELECT 2 LIMIT 11"
    assert capped("INSERT INTO t SELECT 1") == "INSERT INTO t SELECT 1"
