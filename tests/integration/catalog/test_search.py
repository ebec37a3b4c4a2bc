"""Search over the Data Map: names, columns, comments, descriptions, tags and node code."""

from __future__ import annotations

from datetime import datetime

import pytest

from lakeworks.catalog.models import CatalogColumn, HarvestedTable
from lakeworks.catalog.repository import CatalogRepository
from lakeworks.catalog.service import DataMap
from lakeworks.errors import UserError
from lakeworks.spec.models import Workspace
from lakeworks.store.database import Database

NOW = datetime(2026, 4, 1, 12, 0)


@pytest.fixture
def data_map(db: Database, five_layers: Workspace) -> DataMap:
    dm = DataMap(db, five_layers, "dev")
    dm.build()
    return dm


def refs(hits: list[object]) -> list[str]:
    return [f"{h.kind}:{h.ref}" for h in hits]  # type: ignore[attr-defined]


def test_exact_name_comes_first_then_tables_named_like_it(data_map: DataMap) -> None:
    hits = data_map.search("dwd_orders")
    assert refs(hits)[0] == "table:dwd_orders"
    assert "node:shop.dwd_orders" in refs(hits)[:3]


def test_words_match_as_prefixes_and_name_matches_beat_code_matches(data_map: DataMap) -> None:
    hits = data_map.search("order")
    ranked = refs(hits)
    # tables called *orders* first; nodes that only mention orders in their code later
    assert ranked.index("table:ods_orders") < ranked.index("node:report.dws_customer_daily")
    assert ranked.index("table:dwd_orders") < ranked.index("node:report.dws_customer_daily")


def test_column_names_are_searchable_and_reported(data_map: DataMap) -> None:
    hits = [h for h in data_map.search("revenue") if h.kind == "table"]
    by_ref = {h.ref: h for h in hits}
    assert {"dws_customer_daily", "ads_city_revenue", "ads_top_customers"} <= set(by_ref)
    assert by_ref["dws_customer_daily"].columns == ("revenue",)
    assert refs(hits)[0] == "table:ads_city_revenue"  # the name beats a column


def test_tags_descriptions_and_comments_are_searchable(data_map: DataMap) -> None:
    assert refs(data_map.search("pii", kinds=["table"])) == ["table:dwd_orders"]
    assert refs(data_map.search("dashboard", kinds=["table"])) == ["table:ads_city_revenue"]
    assert "table:dwd_orders" in refs(data_map.search("yuan"))  # a column comment


def test_node_code_is_searchable(data_map: DataMap) -> None:
    hits = data_map.search("limit 10")
    assert refs(hits) == ["node:report.ads_top_customers"]
    assert "code" in hits[0].matched


def test_every_word_must_match(data_map: DataMap) -> None:
    assert refs(data_map.search("pii dashboard")) == []
    assert refs(data_map.search("orders dashboard")) == [
        "table:ads_city_revenue",  # a column named orders, a description with dashboard
        "node:report.ads_city_revenue",  # both words in its code and description
    ]


def test_empty_query_is_a_user_error(data_map: DataMap) -> None:
    with pytest.raises(UserError, match="nothing to search for"):
        data_map.search("  ;; ")


def test_reharvest_replaces_the_document(db: Database) -> None:
    repo = CatalogRepository(db, "ws", "dev")
    table = HarvestedTable("t_one", columns=(CatalogColumn("alpha", "INT"),))
    repo.save_harvest("default", [table], now=NOW)
    dm_hits = [h.ref for h in _search(db, "alpha")]
    assert dm_hits == ["t_one"]
    renamed = HarvestedTable("t_one", columns=(CatalogColumn("beta", "INT"),))
    repo.save_harvest("default", [renamed], now=NOW)
    assert _search(db, "alpha") == []
    assert [h.ref for h in _search(db, "beta")] == ["t_one"]


def test_ranking_holds_among_many_tables(db: Database) -> None:
    repo = CatalogRepository(db, "ws", "dev")
    tables = [
        HarvestedTable(f"dwd_t{i}", columns=(CatalogColumn(f"c{i}", "INT"),)) for i in range(300)
    ]
    tables += [
        HarvestedTable("ads_payment_summary", columns=(CatalogColumn("total", "INT"),)),
        HarvestedTable("dwd_refund", columns=(CatalogColumn("payment_id", "INT"),)),
        HarvestedTable("dwd_misc", comment="unrelated to payment processing"),
    ]
    repo.save_harvest("default", tables, now=NOW)
    assert [h.ref for h in _search(db, "payment")] == [
        "ads_payment_summary",
        "dwd_refund",
        "dwd_misc",
    ]


def _search(db: Database, text: str) -> list[object]:
    from lakeworks.catalog.search import search

    return list(search(db, "ws", "dev", text))
