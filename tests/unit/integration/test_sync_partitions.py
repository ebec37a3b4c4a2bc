"""A sync node reports the date partitions it writes and reads, so that a node reading
a window of a synced table waits for the sync of every date in it (and a sync reading
a window of a warehouse table waits for that table's writer)."""

from __future__ import annotations

import json
from pathlib import Path

from lakeworks.schedule.graph import build_graph
from lakeworks.spec.loader import load_workspace
from lakeworks.sql.partitions import Window


def _workspace(root: Path, sync: str) -> Path:
    folder = root / "workflows" / "web"
    folder.mkdir(parents=True)
    config = {"name": "web", "data_sources": {"drop": {"type": "files", "root": "landing"}}}
    (root / "lakeworks.yml").write_text(json.dumps(config))
    flow = {"schedule": {"cycle": "day", "at": "02:00", "start": "2027-01-01"}}
    (folder / "workflow.yml").write_text(json.dumps(flow))
    (folder / "ods_visits.sync.yml").write_text(sync)
    (folder / "dws_visits_week.sql").write_text(
        "CREATE TABLE IF NOT EXISTS dws_visits_week (n BIGINT) PARTITIONED BY (ds STRING);\n"
        "INSERT OVERWRITE TABLE dws_visits_week PARTITION (ds='${bizdate}')\n"
        "SELECT COUNT(*) AS n FROM ods_visits\n"
        "WHERE ds BETWEEN '${yyyymmdd-6}' AND '${bizdate}';\n"
    )
    return root


def test_a_rolling_read_of_a_synced_table_waits_for_each_dates_sync(tmp_path: Path) -> None:
    root = _workspace(
        tmp_path / "ws",
        "source: {data_source: drop, path: 'visits/${bizdate}.csv'}\n"
        "target: {table: ods_visits, mode: overwrite_partition, partition: {ds: '${bizdate}'}}\n",
    )
    graph = build_graph(load_workspace(root))
    assert graph.io["web.ods_visits"].partitions.writes == {"ods_visits": ("ds", 0)}
    assert graph.windows[("web.ods_visits", "web.dws_visits_week")] == Window(-6, 0)
    assert graph.describe_windows("web.dws_visits_week") == [
        "waits for web.ods_visits at bizdate-6..bizdate"
    ]


def test_a_sync_that_writes_the_day_before_shifts_the_window(tmp_path: Path) -> None:
    root = _workspace(
        tmp_path / "ws",
        "source: {data_source: drop, path: 'visits/${bizdate}.csv'}\n"
        "target: {table: ods_visits, mode: overwrite_partition,"
        " partition: {ds: '${yyyymmdd-1}'}}\n",
    )
    graph = build_graph(load_workspace(root))
    assert graph.io["web.ods_visits"].partitions.writes == {"ods_visits": ("ds", -1)}
    # ods_visits of date D is written by the sync of D+1
    assert graph.windows[("web.ods_visits", "web.dws_visits_week")] == Window(-5, 1)


def test_a_fixed_partition_is_not_a_date_window(tmp_path: Path) -> None:
    root = _workspace(
        tmp_path / "ws",
        "source: {data_source: drop, path: 'visits/all.csv'}\n"
        "target: {table: ods_visits, mode: overwrite_partition, partition: {ds: '20200101'}}\n",
    )
    graph = build_graph(load_workspace(root))
    assert graph.io["web.ods_visits"].partitions.writes == {}


def test_a_sync_from_the_warehouse_reads_the_window_of_its_where(tmp_path: Path) -> None:
    root = _workspace(
        tmp_path / "ws",
        "source: {data_source: drop, path: 'visits/${bizdate}.csv'}\n"
        "target: {table: ods_visits, mode: overwrite_partition, partition: {ds: '${bizdate}'}}\n",
    )
    (root / "lakeworks.yml").write_text(
        json.dumps(
            {
                "name": "web",
                "data_sources": {
                    "drop": {"type": "files", "root": "landing"},
                    "out": {"type": "files", "root": "export"},
                },
            }
        )
    )
    (root / "workflows/web/export_week.sync.yml").write_text(
        "source: {data_source: warehouse, table: dws_visits_week,"
        " where: \"ds BETWEEN '${yyyymmdd-2}' AND '${bizdate}'\"}\n"
        "target: {data_source: out, table: week}\n"
    )
    graph = build_graph(load_workspace(root))
    assert graph.windows[("web.dws_visits_week", "web.export_week")] == Window(-2, 0)
