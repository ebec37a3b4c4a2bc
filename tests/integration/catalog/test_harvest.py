"""Harvest from the DuckDB warehouse and from a PostgreSQL data source, then refresh."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from lakeworks.catalog.harvest import harvest_engine, layer_of
from lakeworks.catalog.harvest_sources import harvest_data_source, harvest_postgres
from lakeworks.catalog.repository import CatalogRepository
from lakeworks.catalog.service import DataMap
from lakeworks.engines.duckdb_engine import DuckDBEngine
from lakeworks.errors import TransientError, UserError
from lakeworks.spec.models import LayerRule, Workspace
from lakeworks.store.database import Database
from tests.services import free_port

T0 = datetime(2026, 4, 1, 2, 0)
T1 = datetime(2026, 4, 2, 2, 0)


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[DuckDBEngine]:
    engine = DuckDBEngine(tmp_path / "dev.duckdb", "dev")
    s = engine.session()
    s.execute("CREATE TABLE dwd_orders (order_id BIGINT NOT NULL, amount DOUBLE, ds VARCHAR)")
    s.execute("COMMENT ON TABLE dwd_orders IS 'paid orders'")
    s.execute("COMMENT ON COLUMN dwd_orders.amount IS 'in yuan'")
    s.execute(
        "INSERT INTO dwd_orders SELECT range, range * 1.5, "
        "CASE WHEN range < 70 THEN '20260330' ELSE '20260331' END FROM range(100)"
    )
    s.execute("CREATE TABLE ods_log (line VARCHAR)")
    s.execute("INSERT INTO ods_log VALUES ('a'), ('b')")
    s.execute("CREATE VIEW v_big AS SELECT * FROM dwd_orders WHERE amount > 100")
    s.execute("CHECKPOINT")
    s.close()
    engine.register_partitions("dwd_orders", ["ds"])
    yield engine
    engine.close()


def test_duckdb_harvest_reads_columns_types_comments_partitions_and_sizes(
    warehouse: DuckDBEngine,
) -> None:
    tables = {t.name: t for t in harvest_engine(warehouse)}

    assert set(tables) >= {"dwd_orders", "ods_log"}
    orders = tables["dwd_orders"]
    assert orders.comment == "paid orders"
    assert [(c.name, c.type, c.nullable, c.is_partition) for c in orders.columns] == [
        ("order_id", "BIGINT", False, False),
        ("amount", "DOUBLE", True, False),
        ("ds", "VARCHAR", True, True),
    ]
    assert orders.columns[1].comment == "in yuan"
    assert orders.partition_columns == ("ds",)
    assert orders.row_count == 100
    assert orders.partitions is not None
    assert [(p.spec, p.row_count) for p in orders.partitions] == [
        ("ds=20260330", 70),
        ("ds=20260331", 30),
    ]
    assert orders.size_bytes is not None and orders.size_bytes > 0
    assert tables["ods_log"].partitions is None and tables["ods_log"].row_count == 2


def test_catalog_keeps_harvest_and_refreshes_incrementally(
    warehouse: DuckDBEngine, sqlite_db: Database
) -> None:
    repo = CatalogRepository(sqlite_db, "ws", "dev")
    repo.save_harvest("default", harvest_engine(warehouse), now=T0, complete=True)
    first = repo.get("dwd_orders")
    assert first is not None and first.present and first.row_count == 100
    assert first.last_modified == T0 and first.harvested_at == T0
    assert [p.spec for p in first.partitions] == ["ds=20260331", "ds=20260330"]

    # nothing changed: the last change stays; a write shows up after a refresh
    repo.save_harvest("default", harvest_engine(warehouse, names=["dwd_orders"]), now=T1)
    again = repo.get("dwd_orders")
    assert again is not None and again.last_modified == T0 and again.harvested_at == T1
    s = warehouse.session()
    s.execute("INSERT INTO dwd_orders VALUES (1000, 1.0, '20260401')")
    s.close()
    repo.save_harvest("default", harvest_engine(warehouse, names=["dwd_orders"]), now=T1)
    refreshed = repo.get("dwd_orders")
    assert refreshed is not None and refreshed.row_count == 101
    assert refreshed.last_modified == T1
    assert "ds=20260401" in {p.spec for p in refreshed.partitions}

    # a table dropped from the engine stays known but absent after a full harvest
    s = warehouse.session()
    s.execute("DROP TABLE ods_log")
    s.close()
    repo.save_harvest("default", harvest_engine(warehouse), now=T1, complete=True)
    gone = repo.get("ods_log")
    assert gone is not None and not gone.present and gone.row_count is None


def test_build_annotates_harvested_tables_from_the_workspace(
    warehouse: DuckDBEngine, sqlite_db: Database, five_layers: Workspace
) -> None:
    dm = DataMap(sqlite_db, five_layers, "dev")
    summary = dm.build(warehouse)
    assert summary.sources == {"default": 3}  # two tables and the view v_big
    view = dm.table("v_big")
    assert view.present and [c.name for c in view.columns][:1] == ["order_id"]

    orders = dm.table("dwd_orders")
    assert orders.present and orders.row_count == 100
    assert orders.owner == "alice"
    assert orders.layer == "dwd"
    assert orders.tags == ("orders", "pii", "shop")
    assert orders.description == "Cleaned paid orders, one row per order."
    assert orders.writer_node == "shop.dwd_orders"
    order_id = orders.column("order_id")
    assert order_id is not None and order_id.description == "order id from the shop"
    assert orders.column("amount") is not None
    assert orders.column("amount").comment == "in yuan"  # type: ignore[union-attr]

    # a table no run has created yet is still in the catalog, with its columns
    daily = dm.table("dws_customer_daily")
    assert not daily.present and daily.layer == "dws" and daily.owner == "alice"
    assert [c.name for c in daily.columns] == ["customer_id", "city", "orders", "revenue", "ds"]


def test_layers_follow_the_naming_rules() -> None:
    assert layer_of("ods_orders") == "ods"
    assert layer_of("prj.dws_x") == "dws"
    assert layer_of("tmp_x") is None
    rules = {"raw": LayerRule(prefix="r_"), "mart": LayerRule(prefix="mart_")}
    assert layer_of("mart_sales", rules) == "mart"
    assert layer_of("ods_orders", rules) is None


@pytest.fixture
def pg_source(pg_schema: tuple[str, str]) -> Iterator[tuple[str, str]]:
    url, schema = pg_schema
    with psycopg.connect(
        "host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True
    ) as conn:
        conn.execute(
            f'CREATE TABLE "{schema}".orders (id bigint PRIMARY KEY, amt numeric(12,2), '
            "status text NOT NULL)"
        )
        conn.execute(f"COMMENT ON TABLE \"{schema}\".orders IS 'shop orders'")
        conn.execute(f"COMMENT ON COLUMN \"{schema}\".orders.amt IS 'amount with tax'")
        conn.execute(
            f'INSERT INTO "{schema}".orders '
            "SELECT g, g * 2.5, 'paid' FROM generate_series(1, 500) g"
        )
        conn.execute(f'CREATE TABLE "{schema}".events (id bigint, ds text) PARTITION BY LIST (ds)')
        conn.execute(
            f'CREATE TABLE "{schema}".events_0401 PARTITION OF "{schema}".events '
            "FOR VALUES IN ('20260401')"
        )
        conn.execute(
            f'CREATE TABLE "{schema}".events_0402 PARTITION OF "{schema}".events '
            "FOR VALUES IN ('20260402')"
        )
        conn.execute(
            f"INSERT INTO \"{schema}\".events SELECT g, CASE WHEN g <= 30 THEN '20260401' "
            "ELSE '20260402' END FROM generate_series(1, 100) g"
        )
        conn.execute(f'CREATE VIEW "{schema}".paid AS SELECT id FROM "{schema}".orders')
        conn.execute(f'ANALYZE "{schema}".orders')
        conn.execute(f'ANALYZE "{schema}".events')
    yield url, schema


def test_postgres_harvest_reads_catalog_partitions_and_sizes(
    pg_source: tuple[str, str],
) -> None:
    url, schema = pg_source
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        tables = {t.name: t for t in harvest_postgres(conn, schemas=[schema])}
    engine.dispose()

    assert set(tables) == {f"{schema}.orders", f"{schema}.events", f"{schema}.paid"}
    orders = tables[f"{schema}.orders"]
    assert orders.comment == "shop orders"
    assert [(c.name, c.type, c.nullable) for c in orders.columns] == [
        ("id", "bigint", False),
        ("amt", "numeric(12,2)", True),
        ("status", "text", False),
    ]
    assert orders.columns[1].comment == "amount with tax"
    assert orders.row_count == 500
    assert orders.size_bytes is not None and orders.size_bytes > 8192
    events = tables[f"{schema}.events"]
    assert events.partition_columns == ("ds",)
    assert events.partitions is not None
    assert [(p.spec, p.row_count) for p in events.partitions] == [
        ("ds=20260401", 30),
        ("ds=20260402", 70),
    ]
    assert events.row_count == 100
    assert tables[f"{schema}.paid"].kind == "view"


def test_postgres_data_source_is_harvested_by_its_config(
    pg_source: tuple[str, str],
) -> None:
    _, schema = pg_source
    config = {"type": "postgres", "database": "test", "schema": schema}
    tables = harvest_data_source("shop_pg", config)
    assert tables is not None
    assert {t.name for t in tables} == {"orders", "events", "paid"}  # its schema is the default
    assert harvest_data_source("files", {"type": "files", "path": "/tmp"}) is None


def test_an_unreachable_data_source_is_a_transient_error() -> None:
    config = {"type": "postgres", "database": "test", "port": free_port(), "connect_timeout": 2}
    with pytest.raises(TransientError, match="data source 'down_pg': cannot read its catalog"):
        harvest_data_source("down_pg", config)


def test_a_bad_data_source_config_names_the_key() -> None:
    with pytest.raises(UserError, match="unknown key 'colour'"):
        harvest_data_source("bad_pg", {"type": "postgres", "database": "x", "colour": "red"})
