"""The MaxCompute dialect: registration, DDL/DML forms and portable functions."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from lakeworks.sql import dialect
from lakeworks.sql.dialect import LIFECYCLE_PROPERTY, to_strftime
from tests.unit.sql.cases import FIXTURES


def test_registered_under_its_name() -> None:
    (tree,) = sqlglot.parse("SELECT 1", read="maxcompute")
    assert isinstance(tree, exp.Select)
    assert isinstance(sqlglot.Dialect.get_or_raise("maxcompute"), dialect.MaxCompute)


def test_parses_the_tutorial() -> None:
    for path in sorted((FIXTURES / "tutorial").glob("*.sql")):
        trees = sqlglot.parse(path.read_text(), read="maxcompute")
        assert trees and all(t is not None and not isinstance(t, exp.Command) for t in trees)


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        (
            "CREATE TABLE IF NOT EXISTS t (a STRING, b DATETIME, c BIGINT, d DOUBLE, "
            "e DECIMAL(10,2)) COMMENT 'x' PARTITIONED BY (ds STRING) LIFECYCLE 30",
            exp.Create,
        ),
        ("CREATE TABLE t LIFECYCLE 7 AS SELECT 1 AS a", exp.Create),
        ("INSERT OVERWRITE TABLE t PARTITION (ds='x') SELECT a FROM s", exp.Insert),
        ("INSERT OVERWRITE TABLE t PARTITION (ds) SELECT a, ds FROM s", exp.Insert),
        ("INSERT INTO TABLE t PARTITION (ds='x') SELECT a FROM s", exp.Insert),
        ("INSERT INTO t PARTITION (ds='x') SELECT a FROM s", exp.Insert),
        ("INSERT INTO t VALUES (1, 'a')", exp.Insert),
        ("TRUNCATE TABLE t", exp.TruncateTable),
        ("DROP TABLE IF EXISTS t", exp.Drop),
        (
            "SELECT CAST(x AS STRING), SUBSTR(x, 1, 2), CONCAT(a, b), COALESCE(a, b) FROM t",
            exp.Select,
        ),
    ],
)
def test_statement_forms(sql: str, kind: type[exp.Expr]) -> None:
    assert isinstance(sqlglot.parse_one(sql, read="maxcompute"), kind)


def test_types() -> None:
    create = sqlglot.parse_one(
        "CREATE TABLE t (a STRING, b DATETIME, c BIGINT, d DOUBLE, e DECIMAL(10,2))",
        read="maxcompute",
    )
    types = [c.args["kind"].this for c in create.this.expressions]
    assert types == [
        exp.DType.TEXT,
        exp.DType.DATETIME,
        exp.DType.BIGINT,
        exp.DType.DOUBLE,
        exp.DType.DECIMAL,
    ]


def test_lifecycle_becomes_a_table_property() -> None:
    create = sqlglot.parse_one(
        "CREATE TABLE t (a STRING) PARTITIONED BY (ds STRING) LIFECYCLE 30", read="maxcompute"
    )
    props = create.args["properties"].expressions
    assert any(isinstance(p, exp.PartitionedByProperty) for p in props)
    lifecycle = [p for p in props if isinstance(p, exp.Property) and p.name == LIFECYCLE_PROPERTY]
    assert lifecycle and lifecycle[0].args["value"].name == "30"


def test_lifecycle_is_still_a_usable_column_name() -> None:
    select = sqlglot.parse_one("SELECT lifecycle FROM t WHERE lifecycle > 1", read="maxcompute")
    assert select.selects[0].name == "lifecycle"


@pytest.mark.parametrize(
    ("call", "kind"),
    [
        ("GETDATE()", exp.Cast),
        ("DATEADD(d, 1, 'dd')", exp.DateAdd),
        ("DATEDIFF(a, b, 'hh')", exp.DateDiff),
        ("DATEDIFF(a, b)", exp.DateDiff),
        ("TO_CHAR(d, 'yyyy-mm-dd hh:mi:ss')", exp.TimeToStr),
        ("TO_CHAR(42)", exp.Cast),
        ("TO_DATE(s, 'yyyymmdd')", exp.StrToTime),
        ("TO_DATE(s)", exp.TsOrDsToDate),
        ("WM_CONCAT(',', c)", exp.GroupConcat),
        ("NVL(a, b)", exp.Coalesce),
        ("DATETRUNC(d, 'mm')", exp.TimestampTrunc),
        ("DATEPART(d, 'yyyy')", exp.Extract),
        ("MAX_PT('t')", exp.Anonymous),
    ],
)
def test_functions_become_portable_expressions(call: str, kind: type[exp.Expr]) -> None:
    select = sqlglot.parse_one(f"SELECT {call}", read="maxcompute")
    assert isinstance(select.selects[0], kind)


def test_datediff_keeps_its_unit() -> None:
    node = sqlglot.parse_one("SELECT DATEDIFF(a, b, 'mm')", read="maxcompute").selects[0]
    assert node.args["unit"].name == "MONTH"


def test_calls_that_do_not_fit_stay_visible() -> None:
    node = sqlglot.parse_one("SELECT DATEADD(d, 1, 'fortnight')", read="maxcompute").selects[0]
    assert isinstance(node, exp.Anonymous) and node.name == "DATEADD"


def test_hive_is_not_changed_by_the_dialect() -> None:
    node = sqlglot.parse_one("SELECT DATEDIFF(a, b)", read="hive").selects[0]
    assert isinstance(node, exp.DateDiff)
    create = sqlglot.parse_one("CREATE TABLE t LIFECYCLE 30 AS SELECT 1", read="hive")
    assert isinstance(create, exp.Command)  # Hive itself does not know LIFECYCLE


@pytest.mark.parametrize(
    ("fmt", "strftime"),
    [
        ("yyyy-mm-dd hh:mi:ss", "%Y-%m-%d %H:%M:%S"),
        ("yyyymmdd", "%Y%m%d"),
        ("YYYY/MM/DD", "%Y/%m/%d"),
        ("hh:mi:ss.ff3", "%H:%M:%S.%g"),
        ("100% yyyy", "100%% %Y"),
    ],
)
def test_date_formats(fmt: str, strftime: str) -> None:
    assert to_strftime(fmt) == strftime
