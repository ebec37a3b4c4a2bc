"""Impact analysis and lineage over a five-layer workspace (source → ods → dwd → dws → ads)."""

from __future__ import annotations

import pytest

from lakeworks.catalog.impact import Direction
from lakeworks.catalog.service import DataMap
from lakeworks.errors import NotFound
from lakeworks.spec.models import Workspace
from lakeworks.store.database import Database


@pytest.fixture
def data_map(db: Database, five_layers: Workspace) -> DataMap:
    dm = DataMap(db, five_layers, "dev")
    summary = dm.build()
    assert summary.nodes == 7
    assert summary.problems == ()
    return dm


def test_table_impact_reaches_every_layer_with_depths_nodes_rules_and_owners(
    data_map: DataMap,
) -> None:
    report = data_map.impact("ods_orders")

    assert [(t.name, t.depth) for t in report.tables] == [
        ("dwd_orders", 1),
        ("dws_customer_daily", 2),
        ("ads_city_revenue", 3),
        ("ads_top_customers", 3),
    ]
    assert [(n.key, n.depth) for n in report.nodes] == [
        ("shop.dwd_orders", 1),
        ("report.dws_customer_daily", 2),
        ("report.ads_city_revenue", 3),
        ("report.ads_top_customers", 3),
    ]
    assert [(d.kind, d.name, d.owner) for d in report.dependents] == [
        ("quality_rule", "city_revenue_not_empty", "carol")
    ]
    assert report.owners == ("alice", "bob", "carol", "data-eng")


def test_depth_limits_the_walk(data_map: DataMap) -> None:
    report = data_map.impact("ods_orders", depth=1)
    assert [t.name for t in report.tables] == ["dwd_orders"]
    assert report.dependents == ()
    assert report.owners == ("alice",)


def test_column_impact_follows_values_and_tells_copies_from_transformations(
    data_map: DataMap,
) -> None:
    report = data_map.impact("ods_orders.amount")

    assert [(c.table, c.column, c.depth, c.kind) for c in report.columns] == [
        ("ods_orders", "amount", 0, "direct"),
        ("dwd_orders", "amount", 1, "direct"),
        ("dws_customer_daily", "revenue", 2, "transform"),
        ("ads_city_revenue", "revenue", 3, "transform"),
        ("ads_top_customers", "revenue", 3, "transform"),
    ]
    # amount never flows into order counts or cities
    assert ("ads_city_revenue", "orders") not in {(c.table, c.column) for c in report.columns}
    assert not any(t.rows_only for t in report.tables)


def test_a_filter_column_impacts_whole_tables_downstream(data_map: DataMap) -> None:
    report = data_map.impact("ods_orders.status")

    assert [c.column for c in report.columns] == ["status"]
    assert {t.name: t.rows_only for t in report.tables} == {
        "dwd_orders": True,
        "dws_customer_daily": True,
        "ads_city_revenue": True,
        "ads_top_customers": True,
    }
    assert "city_revenue_not_empty" in {d.name for d in report.dependents}


def test_upstream_of_a_column_goes_back_to_the_source_database(data_map: DataMap) -> None:
    report = data_map.impact("ads_city_revenue.revenue", direction=Direction.UPSTREAM)

    assert [(c.table, c.column) for c in report.columns] == [
        ("ads_city_revenue", "revenue"),
        ("dws_customer_daily", "revenue"),
        ("dwd_orders", "amount"),
        ("ods_orders", "amount"),
        ("shop_pg:orders", "amt"),
    ]
    assert report.nodes[-1].key == "shop.ods_orders"


def test_upstream_of_a_table_includes_both_join_branches(data_map: DataMap) -> None:
    report = data_map.impact("ads_city_revenue", direction=Direction.UPSTREAM)
    assert {t.name: t.depth for t in report.tables} == {
        "dws_customer_daily": 1,
        "dwd_orders": 2,
        "dwd_customers": 2,
        "ods_orders": 3,
        "ods_customers": 3,
        "shop_pg:orders": 4,
    }


def test_star_is_expanded_with_the_columns_another_node_writes(data_map: DataMap) -> None:
    report = data_map.impact("dws_customer_daily.city")
    assert ("ads_top_customers", "city", 1, "direct") in {
        (c.table, c.column, c.depth, c.kind) for c in report.columns
    }


def test_unknown_table_is_a_clear_error(data_map: DataMap) -> None:
    with pytest.raises(NotFound, match="no table 'nope'"):
        data_map.impact("nope")


def test_rebuilding_replaces_the_previous_map(data_map: DataMap) -> None:
    data_map.build()
    report = data_map.impact("ods_orders", depth=1)
    assert [t.name for t in report.tables] == ["dwd_orders"]
    assert len(report.nodes) == 1
