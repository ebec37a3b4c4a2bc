"""Analysing a workspace in worker processes gives the same lineage as in one process."""

from __future__ import annotations

from pathlib import Path

from lakeworks.catalog.lineage_index import PARALLEL_MIN_NODES, analyse_workspace
from tests.integration.catalog.conftest import write_workspace


def _chain_workspace(root: Path, length: int) -> dict[str, str]:
    """A chain where later nodes need earlier nodes' output columns: ``SELECT *`` and a
    table declared by one node and filled by another."""
    files = {"lakeworks.yml": "name: chain\n"}
    files["workflows/w/n000.sql"] = "INSERT INTO t000 SELECT id, a, b FROM src;\n"
    for i in range(1, length):
        if i % 10 == 0:
            body = f"INSERT INTO t{i:03d} SELECT * FROM t{i - 1:03d};\n"
        elif i % 10 == 5:
            files[f"workflows/w/ddl{i:03d}.sql"] = (
                f"CREATE TABLE IF NOT EXISTS t{i:03d} (id BIGINT, x DOUBLE, y DOUBLE);\n"
            )
            body = f"INSERT INTO t{i:03d} SELECT id, a + 1, b FROM t{i - 1:03d};\n"
        else:
            body = f"INSERT INTO t{i:03d} SELECT id, a * 2 AS a, b FROM t{i - 1:03d} WHERE b > 0;\n"
        files[f"workflows/w/n{i:03d}.sql"] = body
    return files


def test_parallel_and_sequential_analysis_agree(tmp_path: Path) -> None:
    workspace = write_workspace(tmp_path, _chain_workspace(tmp_path, PARALLEL_MIN_NODES + 6))
    schema = {"src": ["id", "a", "b"]}

    one = analyse_workspace(workspace, schema)
    two = analyse_workspace(workspace, schema, workers=2)

    assert [i.node_key for i in two] == [i.node_key for i in one]
    for a, b in zip(one, two, strict=True):
        assert (b.edges, b.unresolved, b.problems, b.table_edges) == (
            a.edges,
            a.unresolved,
            a.problems,
            a.table_edges,
        ), a.node_key
    star = next(i for i in two if i.node_key == "w.n010")
    assert {str(e) for e in star.edges} == {
        "t009.id -> t010.id direct",
        "t009.a -> t010.a direct",
        "t009.b -> t010.b direct",
    }
    declared = next(i for i in two if i.node_key == "w.n015")
    assert "t014.a -> t015.x transform" in {str(e) for e in declared.edges}
