"""Data source tables in column lineage, and tables that only a quality rule reads."""

from __future__ import annotations

from pathlib import Path

from lakeworks.catalog.impact import Direction
from lakeworks.catalog.models import CatalogColumn, HarvestedTable
from lakeworks.catalog.service import DataMap
from lakeworks.store.clock import utcnow
from lakeworks.store.database import Database
from tests.integration.catalog.conftest import write_workspace

FILES = {
    "lakeworks.yml": """
        name: src-test
        data_sources:
          shop_pg:
            type: postgres
            database: test
    """,
    "workflows/shop/workflow.yml": "{}",
    "workflows/shop/ods_orders.sync.yml": """
        source:
          data_source: shop_pg
          table: orders
        target:
          table: ods_orders
    """,
    "workflows/shop/dim_city.sql": """
        CREATE TABLE IF NOT EXISTS dim_city AS SELECT 'x' AS city;
    """,
    "quality/orders.quality.yml": """
        table: ods_orders
        rules:
          - name: city_is_known
            template: referential_integrity
            columns: [city]
            ref_table: dim_city
            ref_columns: [city]
    """,
}


def test_a_sync_without_columns_gets_lineage_from_the_catalogued_source(
    db: Database, tmp_path: Path
) -> None:
    ws = write_workspace(tmp_path / "ws", FILES)
    data_map = DataMap(db, ws, "dev")
    columns = tuple(CatalogColumn(c, "text", True, None) for c in ("id", "city", "amt"))
    data_map.catalog.save_harvest(
        "shop_pg", [HarvestedTable(name="orders", columns=columns)], now=utcnow(), complete=True
    )
    data_map.build()
    report = data_map.impact("ods_orders.amt", direction=Direction.UPSTREAM)
    assert [(c.table, c.column) for c in report.columns] == [
        ("ods_orders", "amt"),
        ("shop_pg:orders", "amt"),
    ]
    shown = data_map.table("shop_pg:orders")
    assert [c.name for c in shown.columns] == ["id", "city", "amt"]


def test_the_reference_table_of_a_rule_has_the_rule_as_dependent(
    db: Database, tmp_path: Path
) -> None:
    ws = write_workspace(tmp_path / "ws", FILES)
    data_map = DataMap(db, ws, "dev")
    data_map.build()
    data_map.build()  # a rebuild replaces the dependents
    report = data_map.impact("dim_city")
    assert [(d.kind, d.name) for d in report.dependents] == [("quality_reference", "city_is_known")]
