"""'Did you mean': the closest existing names, qualified ones by their last part too."""

from __future__ import annotations

from lakeworks.spec.suggest import closest, did_you_mean


def test_the_closest_names_come_first_and_the_name_itself_is_left_out() -> None:
    tables = ["dws_daily", "dwd_orders", "ods_orders", "DWS_DAILY_X"]
    assert closest("dws_dialy", tables) == ["dws_daily", "DWS_DAILY_X"]
    assert closest("dwd_orders", tables) == ["ods_orders"]
    assert did_you_mean("shop_ordres", ["shop_orders"]) == "did you mean 'shop_orders'?"


def test_a_qualified_name_is_found_by_its_table() -> None:
    assert closest("dws_dialy", ["dw.dws_daily", "dw.ods_orders"]) == ["dw.dws_daily"]


def test_nothing_close_gives_no_suggestion() -> None:
    assert did_you_mean("zzz", ["dws_daily"]) is None
