"""Translated MaxCompute SQL executed on a real in-memory DuckDB."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime

import duckdb
import pytest

from lakeworks.errors import UserError
from lakeworks.sql.translate import ExecutableStatement, translate_script
from tests.unit.sql.cases import FIXTURES

TUTORIAL = FIXTURES / "tutorial"


@pytest.fixture
def conn() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    yield connection
    connection.close()


def run(
    conn: duckdb.DuckDBPyConnection,
    sql: str,
    *,
    partitions: dict[str, list[str]] | None = None,
    dialect: str = "maxcompute",
) -> list[ExecutableStatement]:
    """Translate ``sql`` and execute it the way the runtime does (atomic = transaction)."""
    statements = translate_script(
        sql,
        source_dialect=dialect,
        target_dialect="duckdb",
        path="node.sql",
        partition_columns=lambda t: (partitions or {}).get(t, []),
    )
    for statement in statements:
        if statement.atomic:
            conn.execute("BEGIN TRANSACTION")
            try:
                for step in statement.steps:
                    conn.execute(step)
            except Exception:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        else:
            for step in statement.steps:
                conn.execute(step)
    return statements


def rows(conn: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[object, ...]]:
    return conn.execute(sql).fetchall()


def test_tutorial_runs_verbatim_and_is_repeatable(conn: duckdb.DuckDBPyConnection) -> None:
    load = (TUTORIAL / "01_create_and_load_sales_raw.sql").read_text()
    build = (TUTORIAL / "02_build_sales_daily.sql").read_text()
    expected = [
        ("2026-04-09", 2, 200.5),
        ("2026-04-10", 2, 65.25),
        ("2026-04-11", 1, 99.99),
    ]
    for _ in range(2):
        run(conn, load)
        run(conn, build)
        assert rows(conn, "SELECT COUNT(*) AS cnt FROM sales_raw") == [(5,)]
        assert rows(conn, "SELECT * FROM sales_daily ORDER BY biz_date") == expected
    run(conn, (TUTORIAL / "99_cleanup.sql").read_text())
    assert rows(conn, "SELECT COUNT(*) FROM duckdb_tables()") == [(0,)]


def test_tutorial_statements_describe_what_they_do() -> None:
    statements = translate_script(
        (TUTORIAL / "02_build_sales_daily.sql").read_text(),
        source_dialect="maxcompute",
        target_dialect="duckdb",
        first_line=11,
    )
    create, overwrite = statements
    assert (create.kind, create.line, create.writes, create.atomic) == (
        "create",
        12,
        frozenset({"sales_daily"}),
        False,
    )
    assert overwrite.kind == "insert_overwrite"
    assert overwrite.line == 19
    assert overwrite.atomic
    assert overwrite.reads == frozenset({"sales_raw"})
    assert overwrite.writes == frozenset({"sales_daily"})
    assert overwrite.steps[0] == "DELETE FROM sales_daily"
    assert not overwrite.is_query


def test_the_verification_query_returns_rows(conn: duckdb.DuckDBPyConnection) -> None:
    run(conn, (TUTORIAL / "01_create_and_load_sales_raw.sql").read_text())
    (query,) = run(conn, "SELECT COUNT(*) AS cnt FROM sales_raw;")
    assert query.is_query and query.kind == "select"
    assert rows(conn, query.steps[0]) == [(5,)]


PARTITIONED = """
CREATE TABLE IF NOT EXISTS ods_orders (id BIGINT, amount DOUBLE)
PARTITIONED BY (ds STRING) LIFECYCLE 30;
CREATE TABLE IF NOT EXISTS dws_daily (n BIGINT, total DOUBLE) PARTITIONED BY (ds STRING);
"""


def test_partitioned_table_gets_trailing_columns_and_spec(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    first, second = run(conn, PARTITIONED)
    assert first.partition_spec == ("ods_orders", ("ds",))
    assert second.partition_spec == ("dws_daily", ("ds",))
    columns = rows(conn, "SELECT column_name FROM duckdb_columns() WHERE table_name='ods_orders'")
    assert [c[0] for c in columns] == ["id", "amount", "ds"]


def test_static_partition_overwrite_replaces_only_that_partition(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    run(conn, PARTITIONED)
    run(
        conn,
        """
INSERT INTO ods_orders PARTITION (ds='20260409') VALUES (1, 10.0), (2, 5.5);
INSERT INTO TABLE ods_orders PARTITION (ds='20260410') VALUES (3, 1.0);
""",
    )
    sql = """
INSERT OVERWRITE TABLE dws_daily PARTITION (ds='20260409')
SELECT COUNT(1), SUM(amount) FROM ods_orders WHERE ds = '20260409';
INSERT OVERWRITE TABLE dws_daily PARTITION (ds='20260410')
SELECT COUNT(1), SUM(amount) FROM ods_orders WHERE ds = '20260410';
"""
    run(conn, sql)
    run(conn, sql)  # a rerun replaces, never duplicates
    assert rows(conn, "SELECT ds, n, total FROM dws_daily ORDER BY ds") == [
        ("20260409", 2, 15.5),
        ("20260410", 1, 1.0),
    ]
    run(conn, "INSERT INTO ods_orders PARTITION (ds='20260410') VALUES (4, 2.0);")
    run(conn, sql.split(";")[1] + ";")
    assert rows(conn, "SELECT ds, n, total FROM dws_daily ORDER BY ds") == [
        ("20260409", 2, 15.5),
        ("20260410", 2, 3.0),
    ]


def test_dynamic_partition_overwrite_replaces_the_partitions_produced(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    run(
        conn,
        """
CREATE TABLE src (k STRING, v BIGINT, ts STRING);
INSERT INTO src VALUES ('a', 1, '2026-04-09 01:00:00'), ('b', 2, '2026-04-10 02:00:00');
CREATE TABLE dst (k STRING, v BIGINT) PARTITIONED BY (ds STRING, hh STRING);
INSERT INTO dst PARTITION (ds='2026-04-08', hh='00') VALUES ('old', 0);
INSERT INTO dst PARTITION (ds='2026-04-09', hh='01') VALUES ('stale', 0);
INSERT INTO dst PARTITION (ds='2026-04-09', hh='05') VALUES ('other hour', 0);
""",
    )
    (statement,) = run(
        conn,
        "INSERT OVERWRITE TABLE dst PARTITION (ds, hh) "
        "SELECT k, v, SUBSTR(ts, 1, 10), SUBSTR(ts, 12, 2) FROM src;",
    )
    assert statement.atomic
    assert rows(conn, "SELECT k, ds, hh FROM dst ORDER BY ds, hh") == [
        ("old", "2026-04-08", "00"),
        ("a", "2026-04-09", "01"),
        ("other hour", "2026-04-09", "05"),
        ("b", "2026-04-10", "02"),
    ]
    run(
        conn,
        "INSERT OVERWRITE TABLE dst PARTITION (ds='2026-04-09', hh) "
        "SELECT k, v, '05' FROM src WHERE k = 'b';",
    )
    assert rows(conn, "SELECT k, hh FROM dst WHERE ds = '2026-04-09' ORDER BY hh") == [
        ("a", "01"),
        ("b", "05"),
    ]


def test_overwrite_reading_its_own_table_keeps_the_data(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    run(
        conn,
        """
CREATE TABLE t (k STRING);
INSERT INTO t VALUES ('a'), ('a'), ('b');
INSERT OVERWRITE TABLE t SELECT DISTINCT k FROM t;
""",
    )
    assert rows(conn, "SELECT k FROM t ORDER BY k") == [("a",), ("b",)]


def test_failed_overwrite_leaves_the_table_as_it_was(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    run(conn, "CREATE TABLE t (n BIGINT); INSERT INTO t VALUES (1), (2);")
    with pytest.raises(duckdb.Error):
        run(conn, "INSERT OVERWRITE TABLE t SELECT 'not a number';")
    assert rows(conn, "SELECT n FROM t ORDER BY n") == [(1,), (2,)]


def test_truncate_and_drop_partition(conn: duckdb.DuckDBPyConnection) -> None:
    run(conn, PARTITIONED)
    run(
        conn,
        """
INSERT INTO ods_orders PARTITION (ds='1') VALUES (1, 1.0);
INSERT INTO ods_orders PARTITION (ds='2') VALUES (2, 2.0);
INSERT INTO ods_orders PARTITION (ds='3') VALUES (3, 3.0);
TRUNCATE TABLE ods_orders PARTITION (ds='1');
ALTER TABLE ods_orders DROP IF EXISTS PARTITION (ds='2');
ALTER TABLE ods_orders ADD IF NOT EXISTS PARTITION (ds='4');
""",
    )
    assert rows(conn, "SELECT id, ds FROM ods_orders") == [(3, "3")]
    run(conn, "TRUNCATE TABLE ods_orders;")
    assert rows(conn, "SELECT COUNT(*) FROM ods_orders") == [(0,)]


def test_max_pt_reads_the_latest_partition(conn: duckdb.DuckDBPyConnection) -> None:
    run(conn, PARTITIONED)
    run(
        conn,
        """
INSERT INTO ods_orders PARTITION (ds='20260409') VALUES (1, 1.0);
INSERT INTO ods_orders PARTITION (ds='20260411') VALUES (2, 2.0), (3, 3.0);
INSERT INTO ods_orders PARTITION (ds='20260410') VALUES (4, 4.0);
""",
    )
    (query,) = translate_script(
        "SELECT COUNT(*), MAX_PT('ods_orders') FROM ods_orders WHERE ds = MAX_PT('ods_orders');",
        source_dialect="maxcompute",
        target_dialect="duckdb",
        partition_columns=lambda t: ["ds"] if t == "ods_orders" else [],
    )
    assert rows(conn, query.steps[0]) == [(2, "20260411")]


def test_max_pt_without_known_partitions_names_the_table() -> None:
    with pytest.raises(UserError) as info:
        translate_script(
            "\n\nSELECT * FROM x WHERE ds = MAX_PT('dw.events');",
            source_dialect="maxcompute",
            target_dialect="duckdb",
            path="wf/n.sql",
            first_line=4,
        )
    assert str(info.value).startswith("wf/n.sql:6:28: MAX_PT('dw.events')")
    assert "PARTITIONED BY" in (info.value.hint or "")


FUNCTIONS = """
SELECT
  TO_CHAR(DATEADD(TO_DATE('20260131', 'yyyymmdd'), 1, 'mm'), 'yyyy-mm-dd'),
  TO_CHAR(DATEADD(CAST('2026-04-09 23:30:00' AS DATETIME), 45, 'mi'), 'yyyy-mm-dd hh:mi:ss'),
  DATEADD('2026-04-09 10:00:00', -1, 'dd'),
  DATEDIFF('2026-04-10 01:00:00', '2026-04-09 23:59:00', 'hh'),
  DATEDIFF('2026-05-01 00:00:00', '2026-04-30 23:00:00', 'mm'),
  DATEDIFF('2026-04-10', '2026-04-01'),
  TO_CHAR(DATETRUNC(CAST('2026-04-09 10:11:12' AS DATETIME), 'mm'), 'yyyymmdd hh:mi:ss'),
  DATEPART('2026-04-09 10:11:12', 'hh'),
  NVL(NULL, 'x'),
  COALESCE(NULL, NULL, 3),
  CONCAT('a', '-', 'b'),
  SUBSTR('2026-04-09 10:00:00', 1, 10),
  CAST(12 AS STRING),
  TO_CHAR(GETDATE(), 'yyyy') >= '2026';
"""


def test_functions_have_maxcompute_semantics(conn: duckdb.DuckDBPyConnection) -> None:
    (query,) = run(conn, FUNCTIONS)
    assert rows(conn, query.steps[0]) == [
        (
            "2026-02-28",  # month end is clamped
            "2026-04-10 00:15:00",
            datetime(2026, 4, 8, 10, 0),
            2,  # lower units are cut off before the difference
            1,
            9,
            "20260401 00:00:00",
            10,
            "x",
            3,
            "a-b",
            "2026-04-09",
            "12",
            True,
        )
    ]


def test_wm_concat_aggregates_with_a_separator(conn: duckdb.DuckDBPyConnection) -> None:
    run(
        conn,
        "CREATE TABLE t (k STRING, v STRING);"
        "INSERT INTO t VALUES ('a','1'), ('a','1'), ('a','2'), ('b','3');",
    )
    (query,) = run(
        conn,
        "SELECT k, WM_CONCAT(',', v), WM_CONCAT(DISTINCT '|', v) FROM t GROUP BY k ORDER BY k;",
    )
    result = rows(conn, query.steps[0])
    assert [r[0] for r in result] == ["a", "b"]
    assert sorted(str(result[0][1]).split(",")) == ["1", "1", "2"]
    assert sorted(str(result[0][2]).split("|")) == ["1", "2"]
    assert result[1][1:] == ("3", "3")


def test_duckdb_nodes_pass_through_unchanged(conn: duckdb.DuckDBPyConnection) -> None:
    sql = "CREATE TABLE t AS SELECT range AS n FROM range(3);\nSELECT list(n ORDER BY n) FROM t;"
    create, query = run(conn, sql, dialect="duckdb")
    assert create.steps == ["CREATE TABLE t AS SELECT range AS n FROM range(3)"]
    assert create.writes == frozenset({"t"})
    assert query.steps == ["SELECT list(n ORDER BY n) FROM t"]
    assert query.line == 2 and query.reads == frozenset({"t"})
    assert rows(conn, query.steps[0]) == [([0, 1, 2],)]


def test_odps_settings_produce_no_step() -> None:
    (setting,) = translate_script(
        "SET odps.sql.allow.fullscan=true;", source_dialect="maxcompute", target_dialect="duckdb"
    )
    assert setting.steps == [] and setting.kind == "other"


def test_unknown_target_dialect_is_a_user_error() -> None:
    with pytest.raises(UserError, match="unknown SQL dialect 'duckbd'"):
        translate_script("SELECT 1", source_dialect="maxcompute", target_dialect="duckbd")


def test_syntax_error_points_into_the_node_file() -> None:
    sql = "SELECT 1;\n\nSELECT order_id, amount\n      FORM sales_raw;\n"
    with pytest.raises(UserError) as info:
        translate_script(
            sql,
            source_dialect="maxcompute",
            target_dialect="duckdb",
            path="workflows/x/02.sql",
            first_line=11,
        )
    assert str(info.value) == "workflows/x/02.sql:14:7: unexpected 'FORM'"
    assert "FROM" in (info.value.hint or "")


def test_postgres_target_uses_the_same_rules() -> None:
    statements = translate_script(
        "CREATE TABLE t (a STRING) PARTITIONED BY (ds STRING);\n"
        "INSERT OVERWRITE TABLE t PARTITION (ds='1') SELECT TO_CHAR(GETDATE(), 'yyyymmdd');",
        source_dialect="maxcompute",
        target_dialect="postgres",
    )
    assert statements[0].steps == ["CREATE TABLE t (a TEXT, ds TEXT)"]
    assert statements[1].atomic
    assert statements[1].steps == [
        "DELETE FROM t WHERE ds = '1'",
        "INSERT INTO t SELECT TO_CHAR(CAST(CURRENT_TIMESTAMP AS TIMESTAMP), 'YYYYMMDD'), '1' AS ds",
    ]


def test_spark_target_keeps_native_partitions() -> None:
    create, insert = translate_script(
        "CREATE TABLE t (a STRING) PARTITIONED BY (ds STRING) LIFECYCLE 3;\n"
        "INSERT OVERWRITE TABLE t PARTITION (ds='1') SELECT 'x';",
        source_dialect="maxcompute",
        target_dialect="spark",
    )
    assert "LIFECYCLE" not in create.steps[0] and "lifecycle" not in create.steps[0]
    assert "PARTITIONED BY" in create.steps[0]
    assert create.partition_spec == ("t", ("ds",))
    assert insert.steps == ["INSERT OVERWRITE TABLE t PARTITION(ds = '1') SELECT 'x'"]
    assert not insert.atomic


def test_date_helpers_have_maxcompute_semantics(conn: duckdb.DuckDBPyConnection) -> None:
    (query,) = run(
        conn,
        "SELECT LASTDAY('2024-02-10 08:00:00'), WEEKDAY('2026-04-09 10:00:00'),"
        " WEEKDAY('2026-04-12 10:00:00'), ISNULL(NULL), ISNULL(1),"
        " FROM_UNIXTIME(UNIX_TIMESTAMP('2026-04-09 10:11:12')),"
        " TO_CHAR(FROM_UNIXTIME(0), 'yyyy') IN ('1969', '1970');",
    )
    assert rows(conn, query.steps[0]) == [
        (date(2024, 2, 29), 3, 6, True, False, datetime(2026, 4, 9, 10, 11, 12), True)
    ]
