"""The workspace dependency graph: inferred edges, explicit edges, and what validate reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakeworks.errors import ValidationFailed
from lakeworks.schedule.graph import build_graph
from lakeworks.spec.loader import load_workspace


def make(root: Path, files: dict[str, str]) -> Path:
    (root / "lakeworks.yml").write_text("name: g\n", encoding="utf-8")
    for rel, text in files.items():
        path = root / "workflows" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_edges_inferred_from_tables_across_workflows(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            "ingest/ods_orders.sql": "CREATE TABLE IF NOT EXISTS ods_orders (id BIGINT);\n",
            "marts/dws_orders.sql": (
                "INSERT OVERWRITE TABLE dws_orders SELECT id FROM ods_orders;\n"
            ),
            "marts/ads_orders.sql": "INSERT INTO ads_orders SELECT count(1) FROM dws_orders;\n",
        },
    )
    graph = build_graph(load_workspace(tmp_path))
    assert graph.upstream("marts.dws_orders") == ["ingest.ods_orders"]
    assert graph.upstream("marts.ads_orders") == ["marts.dws_orders"]
    assert graph.topological_order() == [
        "ingest.ods_orders",
        "marts.dws_orders",
        "marts.ads_orders",
    ]
    assert graph.descendants("ingest.ods_orders") == {"marts.dws_orders", "marts.ads_orders"}


def test_explicit_dependency_and_parameters(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            "wf/a.sql": "SELECT 1;\n",
            "wf/b.sql": (
                "-- ---\n-- depends_on: [a]\n-- ---\n"
                "INSERT OVERWRITE TABLE b PARTITION (ds='${bizdate}') SELECT 1 AS x;\n"
            ),
        },
    )
    graph = build_graph(load_workspace(tmp_path))
    assert graph.upstream("wf.b") == ["wf.a"]
    assert graph.edges[0].reason == "explicit"


def test_validate_reports_every_problem_with_file_and_line(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            "wf/x.sql": "INSERT INTO x SELECT * FROM y;\n",
            "wf/y.sql": "INSERT INTO y SELECT * FROM x;\n",
            "wf/w1.sql": "INSERT INTO shared SELECT 1;\n",
            "wf/w2.sql": "\nINSERT INTO shared SELECT 2;\n",
            "wf/dep.sql": "-- ---\n-- depends_on: [nope]\n-- ---\nSELECT 1;\n",
            "wf/bad.sql": "SELECT 1;\nSELECT a FORM t;\n",
            "wf/param.sql": "SELECT '${undefined_param}';\n",
        },
    )
    with pytest.raises(ValidationFailed) as caught:
        build_graph(load_workspace(tmp_path))
    rendered = [e.render() for e in caught.value.errors]
    text = "\n".join(rendered)
    assert "dependency cycle" in text
    assert "written by two nodes" in text and "w2.sql:2" in text
    assert "unknown node 'nope'" in text and "dep.sql:2" in text
    assert "bad.sql:2" in text
    assert "undefined_param" in text and "param.sql:1" in text


def test_read_of_missing_table_reported_when_catalog_known(tmp_path: Path) -> None:
    make(tmp_path, {"wf/a.sql": "INSERT INTO a SELECT * FROM ghost;\n"})
    ws = load_workspace(tmp_path)
    build_graph(ws)  # without a catalog, nothing to check against
    with pytest.raises(ValidationFailed) as caught:
        build_graph(ws, existing_tables={"other"})
    assert "ghost" in caught.value.errors[0].message
    assert caught.value.errors[0].location.line == 1
