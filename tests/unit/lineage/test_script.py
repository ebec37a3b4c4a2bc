"""Script-level behaviour of column lineage: lines, declarations, partitions, schemas."""

from __future__ import annotations

from lakeworks.sql.lineage import StatementKind, default_dialect, script_lineage

SCRIPT = """-- daily build
CREATE TABLE IF NOT EXISTS dws_daily (
  day     STRING COMMENT 'business day',
  revenue DOUBLE
) COMMENT 'revenue per day' PARTITIONED BY (ds STRING) LIFECYCLE 90;

INSERT OVERWRITE TABLE dws_daily PARTITION (ds='20260401')
SELECT day, SUM(amount) FROM dwd_orders GROUP BY day;

INSERT OVERWRITE TABLE ads_copy PARTITION (region)
SELECT * FROM dws_daily;
"""


def test_statements_know_their_line_and_kind() -> None:
    result = script_lineage(SCRIPT)
    assert [(s.line, s.kind) for s in result.statements] == [
        (2, StatementKind.CREATE),
        (7, StatementKind.OVERWRITE),
        (10, StatementKind.OVERWRITE),
    ]


def test_create_table_declares_columns_comments_and_partitions() -> None:
    declared = script_lineage(SCRIPT).statements[0].declared
    assert declared is not None
    assert declared.name == "dws_daily"
    assert declared.comment == "revenue per day"
    assert [(c.name, c.type, c.comment) for c in declared.columns] == [
        ("day", "STRING", "business day"),
        ("revenue", "DOUBLE", None),
    ]
    assert [c.name for c in declared.partition_columns] == ["ds"]


def test_declared_columns_map_inserts_and_expand_star_later_in_the_script() -> None:
    result = script_lineage(SCRIPT)
    insert, copy = result.statements[1], result.statements[2]
    assert insert.partition == (("ds", "20260401"),)
    assert insert.columns == ("day", "revenue", "ds")
    assert [str(e) for e in insert.edges] == [
        "dwd_orders.amount -> dws_daily.revenue transform",
        "dwd_orders.day -> dws_daily.day direct",
    ]
    # SELECT * over the declared table: day, revenue, ds; the last one feeds the
    # dynamic partition column
    assert copy.partition == (("region", None),)
    assert [str(e) for e in copy.edges] == [
        "dws_daily.day -> ads_copy.day direct",
        "dws_daily.ds -> ads_copy.region direct",
        "dws_daily.revenue -> ads_copy.revenue direct",
    ]
    assert result.schemas["ads_copy"] == ("day", "revenue", "region")


def test_a_broken_statement_is_reported_with_its_line_and_the_rest_analysed() -> None:
    result = script_lineage(
        "SELECT 1;\n\nINSERT INTO t SELECT FROM (;\nINSERT INTO u SELECT a FROM v"
    )
    assert [s.kind for s in result.statements] == [
        StatementKind.SELECT,
        StatementKind.UNPARSED,
        StatementKind.INSERT,
    ]
    assert result.problems[0].startswith("line 3: cannot parse statement")
    assert result.table_edges == {("v", "u")}


def test_unreadable_text_is_one_problem_not_an_exception() -> None:
    result = script_lineage("SELECT 'unterminated FROM t")
    assert [s.kind for s in result.statements] == [StatementKind.UNPARSED]
    assert result.problems and "cannot" in result.problems[0]


def test_node_sql_is_read_as_maxcompute() -> None:
    assert default_dialect() == "maxcompute"


def test_lineage_of_a_script_that_ran_leaves_the_shared_parse_unchanged() -> None:
    # a run's lineage copies the trees its translation parsed, then rewrites the copies
    from lakeworks.sql.lineage import parse_statements, statements_lineage
    from lakeworks.sql.script import parse_script

    dialect = default_dialect()
    before = [p.expression.sql() for p in parse_script(SCRIPT, dialect)]
    own = statements_lineage(parse_statements(SCRIPT, dialect), {}, dialect=dialect)
    for _ in range(2):
        shared = parse_statements(SCRIPT, dialect, shared=True)
        assert statements_lineage(shared, {}, dialect=dialect) == own
    assert [p.expression.sql() for p in parse_script(SCRIPT, dialect)] == before


def test_a_script_with_a_bad_statement_still_has_lineage_for_the_others() -> None:
    result = script_lineage("SELECT FROM WHERE;\nINSERT INTO t SELECT a FROM s;\n")
    assert [s.line for s in result.statements][-1] == 2
    assert result.statements[-1].target == "t"
