"""Partition windows read from SQL, as offsets in days from the business date."""

from __future__ import annotations

from datetime import datetime

from lakeworks.sql.params import ParamContext, business_date, render
from lakeworks.sql.partitions import PartitionUse, Window, partition_use

FIRST = datetime(2000, 1, 2)
SECOND = datetime(2001, 7, 19)


def use(sql: str) -> PartitionUse:
    renders = tuple(
        (render(sql, ParamContext(cycle_time=moment)), business_date(moment))
        for moment in (FIRST, SECOND)
    )
    return partition_use(renders, "maxcompute")  # type: ignore[arg-type]


def test_a_rolling_week_between_two_parameters() -> None:
    found = use(
        "INSERT OVERWRITE TABLE ads PARTITION (ds='${bizdate}')\n"
        "SELECT sum(v) FROM dws WHERE ds BETWEEN '${yyyymmdd-6}' AND '${bizdate}'"
    )
    assert found.window("dws", "ds") == Window(-6, 0)
    assert found.writes == {"ads": ("ds", 0)}


def test_equal_open_ranges_in_lists_and_aliases() -> None:
    assert use("SELECT * FROM t WHERE ds = '${yyyymmdd-1}'").window("t", "ds") == Window(-1, -1)
    assert use("SELECT * FROM t WHERE ds >= '${yyyymmdd-30}'").window("t", "ds") == Window(-30, 0)
    assert use("SELECT * FROM t WHERE ds > '${yyyymmdd-3}' AND ds < '${bizdate}'").window(
        "t", "ds"
    ) == Window(-2, -1)
    assert use("SELECT * FROM t WHERE ds IN ('${yyyymmdd-7}', '${bizdate}')").window(
        "t", "ds"
    ) == Window(-7, 0)
    joined = use(
        "SELECT * FROM a x JOIN b y ON x.k = y.k AND y.ds = '${yyyymmdd-2}'"
        " WHERE x.ds = '${yyyy-mm-dd}'"
    )
    assert joined.window("a", "ds") == Window(0, 0)
    assert joined.window("b", "ds") == Window(-2, -2)


def test_fixed_dates_whole_tables_and_or_give_no_window() -> None:
    assert use("SELECT * FROM t WHERE ds = '20240101'").window("t", "ds") is None
    assert use("SELECT * FROM t").window("t", "ds") is None
    assert use("SELECT * FROM t WHERE ds = '${bizdate}' OR x = 1").window("t", "ds") is None
    two_reads = use("SELECT * FROM t WHERE ds = '${bizdate}'; SELECT count(*) FROM t")
    assert two_reads.window("t", "ds") is None


def test_max_pt_reads_the_latest_partition() -> None:
    found = use("SELECT * FROM dim WHERE ds = MAX_PT('dim')")
    assert found.window("dim", "ds") == Window(0, 0)


def test_window_text() -> None:
    assert Window.parse("-6..0") == Window(-6, 0)
    assert Window.parse(" -1 ") == Window(-1, -1)
    assert str(Window(-6, 0)) == "-6..0"
    assert str(Window(-1, -1)) == "-1"
