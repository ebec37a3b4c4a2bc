"""Sync nodes take part in the dependency graph through the tables they write and read."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakeworks.errors import ValidationFailed
from lakeworks.schedule.graph import build_graph
from lakeworks.spec.loader import load_workspace


def test_sql_node_reading_a_synced_table_depends_on_the_sync(tmp_path: Path) -> None:
    (tmp_path / "lakeworks.yml").write_text(
        "name: g\ndata_sources:\n  src: {type: sqlite, path: src.db}\n"
        "  out: {type: files, root: out, format: parquet}\n"
    )
    flow = tmp_path / "workflows" / "wf"
    flow.mkdir(parents=True)
    (flow / "ods_t.sync.yml").write_text(
        "source: {data_source: src, table: t}\n"
        "target:\n  table: ods_t\n  mode: overwrite_partition\n"
        "  partition: {ds: '${bizdate}'}\n"
    )
    (flow / "copy_back.sync.yml").write_text(
        "source: {data_source: warehouse, table: dws_t}\ntarget: {data_source: out, table: r}\n"
    )
    (flow / "dws_t.sql").write_text("INSERT OVERWRITE TABLE dws_t SELECT count(*) FROM ods_t;\n")
    graph = build_graph(load_workspace(tmp_path))
    assert graph.io["wf.ods_t"].writes == frozenset({"ods_t"})
    assert graph.io["wf.ods_t"].write_lines == {"ods_t": 3}
    assert graph.io["wf.copy_back"].reads == frozenset({"dws_t"})
    assert graph.io["wf.copy_back"].writes == frozenset()
    assert graph.upstream("wf.dws_t") == ["wf.ods_t"]
    assert graph.upstream("wf.copy_back") == ["wf.dws_t"]


def test_undeclared_data_sources_are_graph_problems_at_their_lines(tmp_path: Path) -> None:
    (tmp_path / "lakeworks.yml").write_text(
        "name: g\ndata_sources:\n  src: {type: sqlite, path: src.db}\n"
    )
    flow = tmp_path / "workflows" / "wf"
    flow.mkdir(parents=True)
    (flow / "a.sync.yml").write_text(
        "source:\n  data_source: srcc\n  table: t\ntarget: {table: a}\n"
    )
    (flow / "b.sync.yml").write_text(
        "source: {data_source: nowhere, table: t}\ntarget:\n  data_source: lake\n  table: b\n"
    )
    (flow / "c.sql").write_text("-- ---\n-- depends_on: [missing]\n-- ---\nSELECT 1;\n")
    with pytest.raises(ValidationFailed) as info:
        build_graph(load_workspace(tmp_path))
    found = {
        (Path(str(e.location.file)).name, e.location.line, e.message) for e in info.value.errors
    }
    assert ("a.sync.yml", 2, "unknown data source 'srcc'") in found
    assert ("b.sync.yml", 1, "unknown data source 'nowhere'") in found
    assert ("b.sync.yml", 3, "unknown data source 'lake'") in found
    assert any("unknown node 'missing'" in message for _, _, message in found)
    hints = {e.hint for e in info.value.errors if "data source" in e.message}
    assert hints == {"declare it under data_sources: in lakeworks.yml (known: warehouse, src)"}


def test_a_read_only_data_source_as_target_is_a_graph_problem(tmp_path: Path) -> None:
    (tmp_path / "lakeworks.yml").write_text(
        "name: g\ndata_sources:\n  src: {type: sqlite, path: src.db}\n"
        "  events: {type: kafka, bootstrap_servers: 'localhost:1'}\n"
    )
    flow = tmp_path / "workflows" / "wf"
    flow.mkdir(parents=True)
    (flow / "back.sync.yml").write_text(
        "source: {data_source: warehouse, table: t}\ntarget:\n  data_source: src\n  table: r\n"
    )
    (flow / "fine.sync.yml").write_text(
        "source: {data_source: events, topic: clicks}\ntarget: {table: clicks}\n"
    )
    with pytest.raises(ValidationFailed) as info:
        build_graph(load_workspace(tmp_path))
    (problem,) = info.value.errors
    assert problem.message == "data source 'src' (sqlite) cannot be written to"
    assert problem.location is not None and problem.location.line == 3
