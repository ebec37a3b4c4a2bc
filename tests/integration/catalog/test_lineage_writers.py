"""Two processes' workers recording the same node's lineage at once both succeed and
leave one copy of it (no duplicate-key failure, no lost or doubled edges)."""

from __future__ import annotations

import threading
from datetime import datetime

import sqlalchemy as sa

from lakeworks.catalog.lineage_index import NodeLineage
from lakeworks.catalog.lineage_store import save_lineage
from lakeworks.catalog.tables import lineage_nodes, lineage_table_edges
from lakeworks.store.database import Database


def test_concurrent_writers_of_one_nodes_lineage_take_turns(pg_db: Database) -> None:
    item = NodeLineage(
        node_key="shop.dwd_orders",
        kind="sql",
        code_hash="abc",
        reads=frozenset({"ods_orders"}),
        writes=frozenset({"dwd_orders"}),
        table_edges=frozenset({("ods_orders", "dwd_orders")}),
    )
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def write() -> None:
        try:
            start.wait(timeout=30)
            for _ in range(5):
                save_lineage(pg_db, "map-test", "prod", [item], now=datetime(2026, 4, 11))
        except BaseException as exc:  # reported below, on the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    with pg_db.read() as conn:
        nodes = conn.execute(sa.select(sa.func.count()).select_from(lineage_nodes)).scalar()
        edges = conn.execute(sa.select(sa.func.count()).select_from(lineage_table_edges)).scalar()
    assert (nodes, edges) == (1, 1)
